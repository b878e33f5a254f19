"""``web_search``: Letta's parameters and result shape over a search backend chosen by
settings: Exa (what Letta uses; its key from the server's settings or the agent's
``EXA_API_KEY`` secret) or a SearXNG instance's JSON API.

The result is Letta's: ``{"query": ..., "results": [{title, url, published_date, author,
highlights?, summary?, text?}]}``. A failure is an error result in the same shape with an
``error`` instead of ``results``; without a backend it says which settings to set.
"""

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from app.config import SearchBackend, Settings
from app.tools.builtin import SEARCH_CATEGORIES
from app.tools.result import ToolResult, failed, ok
from app.tools.toolset import ExternalContext

CATEGORIES = frozenset(SEARCH_CATEGORIES)
NOT_CONFIGURED = (
    "web_search is not configured on this server. The operator can set "
    "SLEEPTIME_WEB_SEARCH_BACKEND=exa with SLEEPTIME_EXA_API_KEY (or EXA_API_KEY; an agent "
    "may also carry EXA_API_KEY in its tool secrets), or SLEEPTIME_WEB_SEARCH_BACKEND=searxng "
    "with SLEEPTIME_SEARXNG_URL set to a SearXNG instance whose JSON format is enabled."
)
NO_EXA_KEY = (
    "web_search uses Exa on this server but no Exa API key is set: the operator can set "
    "SLEEPTIME_EXA_API_KEY (or EXA_API_KEY), or the agent can carry EXA_API_KEY in its tool "
    "secrets."
)
NO_SEARXNG_URL = (
    "web_search uses SearXNG on this server but SLEEPTIME_SEARXNG_URL is not set: the "
    "operator can set it to the instance's base URL."
)


class SearchFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class SearchQuery:
    query: str
    num_results: int = 10
    category: str | None = None
    include_text: bool = False
    include_domains: tuple[str, ...] = ()
    exclude_domains: tuple[str, ...] = ()
    start_published_date: str | None = None
    end_published_date: str | None = None
    user_location: str | None = None


class Backend(Protocol):
    async def search(self, q: SearchQuery) -> list[dict[str, Any]]: ...


def _text(args: dict[str, Any], name: str) -> str | None:
    value = args.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SearchFailed(f"`{name}` must be a string.")
    return value


def _domains(args: dict[str, Any], name: str) -> tuple[str, ...]:
    value = args.get(name) or []
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        raise SearchFailed(f"`{name}` must be a list of domain names.")
    return tuple(d.strip().lower() for d in value if d.strip())


def _count(value: object) -> int:
    """``num_results`` as an integer; models sometimes send ``5.0`` or ``"5"``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if value is None:
        return 10
    if not isinstance(value, int) or isinstance(value, bool):
        raise SearchFailed("`num_results` must be an integer.")
    return value


def parse(args: dict[str, Any]) -> SearchQuery:
    query = args.get("query")
    if not isinstance(query, str) or not query.strip():
        raise SearchFailed("Query cannot be empty")
    count = _count(args.get("num_results", 10))
    category = _text(args, "category")
    if category is not None and category not in CATEGORIES:
        raise SearchFailed(f"`category` must be one of {', '.join(sorted(CATEGORIES))}.")
    include_text = args.get("include_text", False)
    if not isinstance(include_text, bool):
        raise SearchFailed("`include_text` must be true or false.")
    return SearchQuery(
        query=query,
        num_results=min(max(count, 1), 100),
        category=category,
        include_text=include_text,
        include_domains=_domains(args, "include_domains"),
        exclude_domains=_domains(args, "exclude_domains"),
        start_published_date=_text(args, "start_published_date"),
        end_published_date=_text(args, "end_published_date"),
        user_location=_text(args, "user_location"),
    )


def _json(response: httpx.Response, backend: str) -> dict[str, Any]:
    if response.status_code >= 400:
        detail = response.text[:300].strip()
        raise SearchFailed(f"{backend} answered HTTP {response.status_code}: {detail}")
    try:
        data = response.json()
    except ValueError:
        raise SearchFailed(f"{backend} answered something that is not JSON.") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise SearchFailed(f"{backend} answered JSON without a list of results.")
    return data


class Exa:
    """Exa's search API, asked for highlights and a summary of each result (and the text
    when asked), as Letta asks it."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, key: str, timeout: float) -> None:
        self.http, self.base_url, self.key, self.timeout = http, base_url, key, timeout

    def body(self, q: SearchQuery) -> dict[str, Any]:
        optional = {
            "category": q.category,
            "includeDomains": list(q.include_domains),
            "excludeDomains": list(q.exclude_domains),
            "startPublishedDate": q.start_published_date,
            "endPublishedDate": q.end_published_date,
            "userLocation": q.user_location,
        }
        contents = {
            "text": q.include_text,
            "highlights": {"numSentences": 2, "highlightsPerUrl": 3, "query": q.query},
            "summary": {"query": f"The key information in this content about: {q.query}"},
        }
        return {
            "query": q.query,
            "numResults": q.num_results,
            "type": "auto",
            **{k: v for k, v in optional.items() if v},
            "contents": contents,
        }

    async def search(self, q: SearchQuery) -> list[dict[str, Any]]:
        response = await self.http.post(
            self.base_url.rstrip("/") + "/search",
            json=self.body(q),
            headers={"x-api-key": self.key},
            timeout=self.timeout,
        )
        return [_exa_result(r, q.include_text) for r in _json(response, "Exa")["results"]]


def _exa_result(raw: Any, include_text: bool) -> dict[str, Any]:
    raw = raw if isinstance(raw, dict) else {}
    result = {
        "title": raw.get("title"),
        "url": raw.get("url"),
        "published_date": raw.get("publishedDate"),
        "author": raw.get("author"),
    }
    if include_text and raw.get("text"):
        result["text"] = raw["text"]
    for name in ("highlights", "summary"):
        if raw.get(name):
            result[name] = raw[name]
    return result


# Letta's categories SearXNG has a category of its own for; the rest search `general`.
_SEARXNG_CATEGORIES = {"news": "news", "research paper": "science", "github": "it"}
_SEARXNG_PAGES = 5


class SearXNG:
    """A SearXNG instance's JSON API. It has no domain or date filters of its own: a single
    included domain becomes a ``site:`` term, and every domain and date filter is applied to
    the results returned (a result without a date passes the date filters). Results carry
    the engine's snippet as a highlight; SearXNG has no page text or summary."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, timeout: float) -> None:
        self.http, self.base_url, self.timeout = http, base_url, timeout

    def params(self, q: SearchQuery, page: int) -> dict[str, str]:
        query = q.query
        if len(q.include_domains) == 1:
            query = f"{query} site:{q.include_domains[0]}"
        params = {"q": query, "format": "json", "pageno": str(page)}
        category = _SEARXNG_CATEGORIES.get(q.category or "")
        if category:
            params["categories"] = category
        return params

    async def search(self, q: SearchQuery) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for page in range(1, _SEARXNG_PAGES + 1):
            response = await self.http.get(
                self.base_url.rstrip("/") + "/search",
                params=self.params(q, page),
                timeout=self.timeout,
            )
            raw = _json(response, "SearXNG")["results"]
            fresh = [_searxng_result(r) for r in raw if isinstance(r, dict)]
            fresh = [r for r in fresh if r["url"] and r["url"] not in found and _wanted(q, r)]
            found.update((r["url"], r) for r in fresh)
            if not raw or len(found) >= q.num_results:
                break
        return list(found.values())[: q.num_results]


def _searxng_result(raw: dict[str, Any]) -> dict[str, Any]:
    result = {
        "title": raw.get("title"),
        "url": raw.get("url"),
        "published_date": raw.get("publishedDate"),
        "author": raw.get("author"),
    }
    if raw.get("content"):
        result["highlights"] = [raw["content"]]
    return result


def _in(host: str, domains: Sequence[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def _wanted(q: SearchQuery, result: dict[str, Any]) -> bool:
    host = (urlsplit(str(result["url"])).hostname or "").lower()
    if q.include_domains and not _in(host, q.include_domains):
        return False
    if _in(host, q.exclude_domains):
        return False
    day = str(result.get("published_date") or "")[:10]
    if not day:
        return True
    start, end = q.start_published_date, q.end_published_date
    return not ((start and day < start[:10]) or (end and day > end[:10]))


class WebSearch:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http

    def backend(self, ctx: ExternalContext) -> Backend:
        s = self.settings
        key = ctx.env.get("EXA_API_KEY") or s.exa_api_key
        choice = s.web_search_backend
        if choice is None:
            choice = SearchBackend.exa if key else SearchBackend.searxng if s.searxng_url else None
        timeout = s.web_search_timeout_seconds
        if choice is SearchBackend.exa:
            if not key:
                raise SearchFailed(NO_EXA_KEY)
            return Exa(self.http, s.exa_base_url, key, timeout)
        if choice is SearchBackend.searxng:
            if not s.searxng_url:
                raise SearchFailed(NO_SEARXNG_URL)
            return SearXNG(self.http, s.searxng_url, timeout)
        raise SearchFailed(NOT_CONFIGURED)

    async def __call__(self, ctx: ExternalContext, args: dict[str, Any]) -> ToolResult:
        query = args.get("query")
        try:
            q = parse(args)
            backend = self.backend(ctx)
            async with asyncio.timeout(self.settings.web_search_timeout_seconds):
                results = await backend.search(q)
        except SearchFailed as exc:
            return _failure(query, exc.message)
        except (TimeoutError, httpx.TimeoutException):
            seconds = self.settings.web_search_timeout_seconds
            return _failure(query, f"Search failed: no answer within {seconds:g} seconds.")
        except httpx.HTTPError as exc:
            return _failure(query, f"Search failed: {type(exc).__name__}: {exc}")
        body = {"query": q.query, "results": results}
        return ok(json.dumps(body, indent=2, ensure_ascii=False))


def _failure(query: object, message: str) -> ToolResult:
    return failed(json.dumps({"query": query, "error": message}, ensure_ascii=False))
