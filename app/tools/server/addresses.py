"""Which addresses a server-side fetch may connect to.

A model can be talked into fetching any URL (a page it read may ask it to), so a fetch from
inside the server must not reach what only the server can reach: its own loopback, the private
network around it, a cloud's metadata service on a link-local address. The host is resolved
here, every address it resolves to is checked, and the caller connects to the checked address
itself, so a DNS answer that changes between the check and the connection (DNS rebinding)
cannot send the request elsewhere.
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 ranges that carry an IPv4 address: the embedded one is what is really reached.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AddressRefused(Exception):
    """The host resolves to an address a fetch may not reach, or does not resolve."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Resolved:
    host: str
    address: IPAddress  # the one to connect to


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def why_refused(ip: IPAddress) -> str | None:
    """Why a fetch may not connect to ``ip`` (None: it may): anything that is not a public,
    globally routable unicast address is refused."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return why_refused(inner)
    checks = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


async def resolve(host: str, port: int, *, allow_private: bool) -> Resolved:
    """``host``'s address to connect to, with the event loop's resolver. Every address the
    name resolves to must be allowed, so which one a client would pick never matters."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(f"the host {host!r} could not be resolved ({exc}).") from None
    addresses = list(
        dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos)
    )
    if not addresses:
        raise AddressRefused(f"the host {host!r} has no address.")
    if not allow_private:
        for ip in addresses:
            reason = why_refused(ip)
            if reason is not None:
                raise AddressRefused(
                    f"the host {host!r} resolves to {ip}, {reason}; fetching from it is not "
                    "allowed on this server (the operator can allow it with "
                    "SLEEPTIME_FETCH_ALLOW_PRIVATE=true)."
                )
    return Resolved(host, addresses[0])
