"""``fetch_webpage``: one page over http or https, as readable text.

Bounded on every side: one deadline for the whole fetch (resolution, every redirect, the
body), a byte cap on what is read (the body is streamed and dropped past the cap), a character
cap on what is returned. Each hop is resolved and checked by ``addresses`` and the request is
sent to the checked address (the name kept in the ``Host`` header and, for https, in SNI and
certificate verification), redirects are followed here one at a time so every target is
checked the same way, and the client ignores proxy variables so nothing reroutes the
connection. Every failure is an error result for the model; none ends the turn.
"""

import asyncio
import ipaddress
import ssl
from collections.abc import Mapping
from typing import Any

import httpx

from app.config import Settings
from app.tools.result import ToolResult, failed, ok
from app.tools.server import pages
from app.tools.server.addresses import AddressRefused, resolve
from app.tools.toolset import ExternalContext

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HEADERS = {
    "User-Agent": "Mozilla/5.0 (compatible; sleeptime-server fetch_webpage)",
    "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
}


class FetchError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def fetch_client(settings: Settings, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """The client fetches go through: no proxies from the environment, no redirects of its
    own, no kept-alive connections (a connection is made to one checked address for one
    request, so it is never reused for another name). ``verify``: the trusted certificates."""
    return httpx.AsyncClient(
        verify=verify,
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(settings.fetch_timeout_seconds),
        limits=httpx.Limits(max_keepalive_connections=0),
        headers=_HEADERS,
    )


def _checked_url(raw: str) -> httpx.URL:
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError) as exc:
        raise FetchError(f"{raw!r} is not a valid URL ({exc}).") from None
    if url.scheme not in {"http", "https"}:
        raise FetchError(f"only http and https URLs can be fetched, not {raw!r}.")
    if not url.host:
        raise FetchError(f"{raw!r} has no host.")
    return url


def _pinned(url: httpx.URL, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> httpx.URL:
    return url.copy_with(host=str(address))


def _host_header(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return host if url.port is None else f"{host}:{url.port}"


class PageFetcher:
    def __init__(self, settings: Settings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.client = client

    async def __call__(self, ctx: ExternalContext, args: dict[str, Any]) -> ToolResult:
        raw = args.get("url")
        if not isinstance(raw, str) or not raw.strip():
            return failed("Error: `url` must be a non-empty string.")
        seconds = self.settings.fetch_timeout_seconds
        try:
            async with asyncio.timeout(seconds):
                text = await self.fetch(raw.strip())
        except TimeoutError:
            return failed(f"Error fetching {raw}: no complete answer within {seconds:g} seconds.")
        except FetchError as exc:
            return failed(f"Error fetching {raw}: {exc.message}")
        return ok(pages.clip(text, self.settings.fetch_max_chars))

    async def fetch(self, raw: str) -> str:
        url = _checked_url(raw)
        for _ in range(self.settings.fetch_max_redirects + 1):
            location = await self._hop(url)
            if isinstance(location, str):
                return location
            url = location
        raise FetchError(f"more than {self.settings.fetch_max_redirects} redirects.")

    async def _hop(self, url: httpx.URL) -> str | httpx.URL:
        """One request: the page's text, or the URL a redirect points to."""
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            target = await resolve(url.host, port, allow_private=self.settings.fetch_allow_private)
        except AddressRefused as exc:
            raise FetchError(exc.message) from None
        request = self.client.build_request(
            "GET",
            _pinned(url, target.address),
            headers={"Host": _host_header(url)},
            extensions={"sni_hostname": url.host} if url.scheme == "https" else {},
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException:
            raise FetchError("the server did not answer in time.") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"the request failed ({type(exc).__name__}: {exc}).") from None
        try:
            return await self._read(url, response)
        finally:
            await response.aclose()

    async def _read(self, url: httpx.URL, response: httpx.Response) -> str | httpx.URL:
        if response.status_code in _REDIRECTS:
            location = response.headers.get("Location")
            if not location:
                raise FetchError(f"HTTP {response.status_code} redirect without a Location.")
            try:
                return _checked_url(str(url.join(location)))
            except httpx.InvalidURL as exc:
                raise FetchError(f"the redirect target {location!r} is invalid ({exc}).") from None
        if response.status_code >= 400:
            phrase = response.reason_phrase or ""
            raise FetchError(f"the server answered HTTP {response.status_code} {phrase}".strip())
        media_type = _media_type(response.headers)
        body = await self._body(response)
        kind = pages.kind_of(media_type, body[:512])
        if kind is None:
            raise FetchError(
                f"its content type is {media_type or 'unknown'}; fetch_webpage reads HTML and "
                "text pages only."
            )
        if kind is pages.Kind.html:
            return await asyncio.to_thread(pages.html_to_markdown, body, response.charset_encoding)
        return pages.decode(body, response.charset_encoding)

    async def _body(self, response: httpx.Response) -> bytes:
        cap = self.settings.fetch_max_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchError(f"the page is {declared} bytes, more than the {cap} allowed.")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise FetchError(f"the page is larger than the {cap} bytes allowed.")
                chunks.append(chunk)
        except httpx.TimeoutException:
            raise FetchError("the server stopped sending the page.") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"reading the page failed ({type(exc).__name__}: {exc}).") from None
        return b"".join(chunks)


def _media_type(headers: Mapping[str, str]) -> str:
    return headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
