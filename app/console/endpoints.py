"""Serves the console: one HTML page and its static modules, read once at import.

The console is a client of the public API like any other, so these routes need no key and
show no data; the page's scripts call ``/v1`` with the key typed into it. Every response
carries a strict Content-Security-Policy (scripts, styles and requests from this origin only,
no inline code) and ``Cache-Control: no-cache`` with an ETag, so a browser revalidates on
every load and never runs a stale console against a newer server.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Response
from fastapi import Path as PathParam

from app.console import lag
from app.kit.errors import NotFound

STATIC = Path(__file__).resolve().parent / "static"

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def _load(root: Path) -> dict[str, Asset]:
    """Every servable file under ``root`` by its relative path; nothing else is reachable."""
    assets = {}
    for path in sorted(root.rglob("*")):
        media_type = MEDIA_TYPES.get(path.suffix)
        if path.is_file() and media_type is not None:
            body = path.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            assets[path.relative_to(root).as_posix()] = Asset(body, media_type, etag)
    return assets


ASSETS = _load(STATIC)

router = APIRouter(prefix="/console", include_in_schema=False)

IfNoneMatch = Annotated[str | None, Header()]


def _serve(asset: Asset, if_none_match: str | None) -> Response:
    headers = {**HEADERS, "ETag": asset.etag}
    if if_none_match is not None and asset.etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("")
@router.get("/")
async def console(if_none_match: IfNoneMatch = None) -> Response:
    return _serve(ASSETS["index.html"], if_none_match)


@router.get("/static/{name:path}")
async def static(
    name: Annotated[str, PathParam(max_length=200)], if_none_match: IfNoneMatch = None
) -> Response:
    asset = ASSETS.get(name)
    if asset is None:
        raise NotFound(f"console file {name!r} not found")
    return _serve(asset, if_none_match)


router.include_router(lag.router)
