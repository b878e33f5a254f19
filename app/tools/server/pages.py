"""A fetched page as text a model can read: HTML becomes markdown without its scripts,
styles and page furniture; text is passed through; anything else is refused by type."""

from __future__ import annotations

import re
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on the first page converted: a third of a second at startup
    from bs4 import BeautifulSoup, Tag

# Elements that never hold the page's readable content.
_DROPPED = (
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "canvas",
    "iframe",
    "object",
    "embed",
    "form",
    "button",
    "input",
    "select",
    "textarea",
    "nav",
    "footer",
    "aside",
)
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset(
    {"application/json", "application/ld+json", "application/xml", "application/javascript"}
)


class Kind(Enum):
    html = "html"
    text = "text"


def kind_of(media_type: str, head: bytes) -> Kind | None:
    """How to read a body of ``media_type`` (None: not at all). With no type given, the first
    bytes decide."""
    if media_type in HTML_TYPES:
        return Kind.html
    if media_type.startswith("text/") or media_type in TEXT_TYPES or media_type.endswith("+json"):
        return Kind.text
    if not media_type:
        start = head.lstrip()[:15].lower()
        if start.startswith((b"<!doctype html", b"<html")):
            return Kind.html
        if b"\x00" not in head:
            return Kind.text
    return None


def decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


def _main_content(soup: BeautifulSoup) -> Tag:
    """The page's main content when it marks it (``<main>``, ``<article>``), else its body."""
    from bs4 import Tag  # noqa: PLC0415 (loaded with the first page)

    for name in ("main", "article"):
        found = soup.find(name)
        if isinstance(found, Tag):
            return found
    body = soup.find("body")
    return body if isinstance(body, Tag) else soup


def html_to_markdown(body: bytes, charset: str | None) -> str:
    """Markdown of the page's readable content, its title as a heading. CPU-bound on a large
    page: callers run it in a thread."""
    from bs4 import BeautifulSoup  # noqa: PLC0415 (loaded with the first page)
    from markdownify import MarkdownConverter  # noqa: PLC0415 (loaded with the first page)

    soup = BeautifulSoup(body, "html.parser", from_encoding=charset)
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for element in soup.find_all(_DROPPED):
        element.decompose()
    converter = MarkdownConverter(heading_style="ATX", bullets="-", strip=["img"])
    text = converter.convert_soup(_main_content(soup))
    text = _BLANK_LINES.sub("\n\n", _TRAILING_SPACE.sub("\n", text)).strip()
    heading = f"# {title}"
    if title and text.split("\n", 1)[0] != heading:
        text = f"{heading}\n\n{text}" if text else heading
    return text


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with a note saying how much was left out."""
    if len(text) <= limit:
        return text
    return (
        text[:limit] + f"\n\n[... truncated: the page has {len(text)} characters of text; "
        f"only the first {limit} are shown.]"
    )
