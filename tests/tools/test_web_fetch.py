"""``fetch_webpage``: pages from a loopback server, every guard (addresses, redirects, size,
time, content types) and the HTML conversion."""

import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from app.config import Settings
from app.tools.result import ToolResult
from app.tools.server import web as web_module
from app.tools.server.addresses import AddressRefused, Resolved, resolve, why_refused
from app.tools.server.pages import html_to_markdown
from app.tools.server.web_tools import web_handlers
from tests.fakes.web_server import FakeWeb, serve_fake_web
from tests.tools.conftest import CTX


@pytest.fixture
async def fetch() -> AsyncIterator[Any]:
    """``fetch(url, **settings)``: the tool as the server builds it, with these settings."""
    async with AsyncExitStack() as stack, httpx.AsyncClient() as http:

        async def run(url: str, **overrides: Any) -> ToolResult:
            settings = Settings(**{"fetch_allow_private": True, **overrides})
            handler = web_handlers(settings, http, stack)["fetch_webpage"]
            return await handler(CTX, {"url": url})

        yield run


async def test_an_html_page_becomes_markdown_of_its_content(fetch: Any, site: FakeWeb) -> None:
    result = await fetch(site.url("/page.html"))
    assert result.status == "success", result.text
    text = result.text
    assert text.startswith("# The Test Page\n")
    assert "# Welcome" in text
    assert "This is **bold** and a [link](https://example.org/doc)." in text
    assert "- first item\n- second item" in text
    for gone in ("script text", "color: red", "Navigation link", "Footer text", "x.png"):
        assert gone not in text


async def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(
    site: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that is in no DNS is fetched: the request went to the address the check
    resolved it to, with the name in the Host header."""
    seen: list[str] = []

    async def fake_resolve(host: str, port: int, *, allow_private: bool) -> Resolved:
        seen.append(host)
        return Resolved(host, ipaddress.ip_address("127.0.0.1"))

    monkeypatch.setattr(web_module, "resolve", fake_resolve)
    async with AsyncExitStack() as stack, httpx.AsyncClient() as http:
        handler = web_handlers(Settings(), http, stack)["fetch_webpage"]
        url = f"http://pages.invalid:{site.port}/plain.txt"
        result = await handler(CTX, {"url": url})
    assert result.status == "success", result.text
    assert seen == ["pages.invalid"]
    assert site.state.host_headers == [f"pages.invalid:{site.port}"]


async def test_plain_text_is_passed_through_and_a_charset_is_honoured(
    fetch: Any, site: FakeWeb
) -> None:
    result = await fetch(site.url("/plain.txt"))
    assert (result.status, result.text) == ("success", "line one\nline two <b>not html</b>\n")
    latin = await fetch(site.url("/latin1.html"))
    assert latin.text == "Caf\u00e9 cr\u00e8me"


async def test_other_content_types_are_refused_by_type(fetch: Any, site: FakeWeb) -> None:
    result = await fetch(site.url("/doc.pdf"))
    assert result.status == "error"
    assert "application/pdf" in result.text
    assert "HTML and text" in result.text


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/file", "file:///etc/passwd", "not a url", "http://", "", 42],
)
async def test_only_http_and_https_urls(fetch: Any, url: object) -> None:
    result = await fetch(url)
    assert result.status == "error"
    assert result.text.startswith("Error")


async def test_private_and_loopback_addresses_are_refused(fetch: Any, site: FakeWeb) -> None:
    for url in (site.url("/page.html"), f"http://localhost:{site.port}/page.html"):
        result = await fetch(url, fetch_allow_private=False)
        assert result.status == "error"
        assert "loopback address" in result.text
        assert "SLEEPTIME_FETCH_ALLOW_PRIVATE" in result.text
    assert site.state.requests == []  # refused before any connection


async def test_a_redirect_to_a_private_address_is_refused(
    site: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``public.invalid`` stands for a public host (it resolves, allowed, to the loopback
    server); it redirects to 127.0.0.1, which the real check refuses."""

    async def resolve_public(host: str, port: int, *, allow_private: bool) -> Resolved:
        if host == "public.invalid":
            return Resolved(host, ipaddress.ip_address("127.0.0.1"))
        return await resolve(host, port, allow_private=allow_private)

    monkeypatch.setattr(web_module, "resolve", resolve_public)
    target = site.url("/page.html")
    async with AsyncExitStack() as stack, httpx.AsyncClient() as http:
        handler = web_handlers(Settings(fetch_allow_private=False), http, stack)["fetch_webpage"]
        url = f"http://public.invalid:{site.port}/redirect?to={target}"
        result = await handler(CTX, {"url": url})
    assert result.status == "error"
    assert "127.0.0.1, a loopback address" in result.text
    assert [path for _, path in site.state.requests] == [f"/redirect?to={target}"]


async def test_redirects_are_followed_each_hop_checked_and_bounded(
    fetch: Any, site: FakeWeb
) -> None:
    result = await fetch(site.url("/redirect?status=301&to=/plain.txt"))
    assert (result.status, result.text.splitlines()[0]) == ("success", "line one")
    away = await fetch(site.url("/redirect?to=ftp://example.com/x"))
    assert away.status == "error"
    assert "only http and https" in away.text
    looping = await fetch(site.url("/loop"), fetch_max_redirects=3)
    assert looping.status == "error"
    assert "more than 3 redirects" in looping.text
    assert len([p for _, p in site.state.requests if p == "/loop"]) == 4


async def test_http_errors_are_error_results(fetch: Any, site: FakeWeb) -> None:
    result = await fetch(site.url("/status/404"))
    assert result.status == "error"
    assert "HTTP 404 Not Found" in result.text
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        refused = await fetch(f"http://127.0.0.1:{bound.getsockname()[1]}/")
    assert refused.status == "error"
    assert "ConnectError" in refused.text


async def test_a_page_over_the_byte_cap_is_refused(fetch: Any, site: FakeWeb) -> None:
    declared = await fetch(site.url("/sized/5000"), fetch_max_bytes=4000)
    assert declared.status == "error"
    assert "5000 bytes, more than the 4000 allowed" in declared.text
    streamed = await fetch(site.url("/streamed/100000"), fetch_max_bytes=4000)
    assert streamed.status == "error"
    assert "larger than the 4000 bytes allowed" in streamed.text
    bomb = await fetch(site.url("/bomb"), fetch_max_bytes=4000)  # small compressed, huge plain
    assert bomb.status == "error"
    assert "larger than the 4000 bytes allowed" in bomb.text
    within = await fetch(site.url("/sized/4000"), fetch_max_bytes=4000)
    assert (within.status, within.text) == ("success", "a" * 4000)


async def test_long_text_is_truncated_with_a_note(fetch: Any, site: FakeWeb) -> None:
    result = await fetch(site.url("/sized/3000"), fetch_max_chars=1000)
    assert result.status == "success"
    assert result.text.startswith("a" * 1000 + "\n\n[... truncated")
    assert "3000 characters" in result.text
    assert "a" * 1001 not in result.text


@pytest.mark.parametrize("path", ["/stall", "/stall-body"])
async def test_a_server_that_stalls_times_out(fetch: Any, site: FakeWeb, path: str) -> None:
    """The server never finishes (it waits on an event only the fixture's end sets)."""
    result = await fetch(site.url(path), fetch_timeout_seconds=0.5)
    assert result.status == "error"
    assert "in time" in result.text or "within 0.5 seconds" in result.text
    assert not site.state.release.is_set()


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",
        "224.0.0.1",
        "0.0.0.0",  # noqa: S104 (an address refused, not bound)
        "240.0.0.1",
        "100.64.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert why_refused(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert why_refused(ipaddress.ip_address(address)) is None


async def test_resolution_checks_every_address() -> None:
    with pytest.raises(AddressRefused, match="loopback"):
        await resolve("localhost", 80, allow_private=False)
    allowed = await resolve("localhost", 80, allow_private=True)
    assert allowed.address.is_loopback
    with pytest.raises(AddressRefused, match="could not be resolved"):
        await resolve("no-such-host.invalid", 80, allow_private=True)


def test_html_conversion_without_main_uses_the_body() -> None:
    html = b"<html><body><h2>Title</h2><p>One<br>two</p><table><tr><td>x</td></tr></table>"
    text = html_to_markdown(html + b"</body></html>", None)
    assert text.startswith("## Title")
    assert "One\ntwo" in text
    assert "x" in text
    titled = b"<html><head><title>Same</title></head><body><h1>Same</h1><p>x</p></body></html>"
    assert html_to_markdown(titled, "utf-8") == "# Same\n\nx"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@asynccontextmanager
async def tls_site(ca: trustme.CA, name: str, tmp_path: Path) -> AsyncIterator[FakeWeb]:
    """The fake served over https with a certificate for ``name`` only."""
    cert = ca.issue_cert(name)
    certfile, keyfile = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    async with serve_fake_web(tls=(str(certfile), str(keyfile))) as web:
        yield web


@pytest.mark.parametrize(
    ("served_as", "status"), [("pages.test", "success"), ("other.test", "error")]
)
async def test_https_to_the_checked_address_verifies_the_certificate_for_the_name(
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    served_as: str,
    status: str,
) -> None:
    """The connection goes to the pinned address, yet TLS is checked against the URL's name:
    a certificate for that name passes, one for another name fails."""

    async def to_loopback(host: str, port: int, *, allow_private: bool) -> Resolved:
        return Resolved(host, ipaddress.ip_address("127.0.0.1"))

    monkeypatch.setattr(web_module, "resolve", to_loopback)
    verify = ssl.create_default_context()
    ca.configure_trust(verify)
    settings = Settings()
    async with tls_site(ca, served_as, tmp_path) as site:
        client = web_module.fetch_client(settings, verify=verify)
        async with client:
            fetcher = web_module.PageFetcher(settings, client)
            result = await fetcher(CTX, {"url": f"https://pages.test:{site.port}/plain.txt"})
    assert result.status == status, result.text
    if status == "success":
        assert result.text.startswith("line one")
        assert site.state.host_headers == [f"pages.test:{site.port}"]
    else:
        assert "CERTIFICATE_VERIFY_FAILED" in result.text
