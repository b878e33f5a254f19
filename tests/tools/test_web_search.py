"""``web_search`` over its backends (Exa and SearXNG, both faked on loopback), and without
one: an error result naming the settings to set."""

import json
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from app.config import SearchBackend, Settings
from app.tools.result import ToolResult
from app.tools.server.web_tools import web_handlers
from app.tools.toolset import ExternalContext
from tests.fakes.web_server import FakeWeb
from tests.tools.conftest import CTX


@pytest.fixture
async def search() -> AsyncIterator[Any]:
    """``search(args, ctx=CTX, **settings)``: the tool as the server builds it."""
    async with AsyncExitStack() as stack, httpx.AsyncClient() as http:

        async def run(args: dict[str, Any], ctx: ExternalContext = CTX, **kw: Any) -> ToolResult:
            settings = Settings(exa_api_key=None, searxng_url=None, web_search_backend=None)
            handler = web_handlers(settings.model_copy(update=kw), http, stack)["web_search"]
            return await handler(ctx, args)

        yield run


def exa(site: FakeWeb) -> dict[str, Any]:
    return {"exa_base_url": site.url("/exa"), "exa_api_key": "exa-test-key"}


async def test_exa_gets_letta_parameters_and_results_come_back_in_letta_shape(
    search: Any, site: FakeWeb
) -> None:
    args = {
        "query": "sleep-time compute",
        "num_results": 2,
        "category": "research paper",
        "include_domains": ["arxiv.org"],
        "exclude_domains": ["example.net"],
        "start_published_date": "2025-01-01",
        "end_published_date": "2025-12-31",
        "user_location": "US",
    }
    result = await search(args, **exa(site))
    assert result.status == "success", result.text
    headers, body = site.state.exa_requests[0]
    assert headers["x-api-key"] == "exa-test-key"
    assert body["query"] == "sleep-time compute"
    assert body["numResults"] == 2
    assert body["type"] == "auto"
    assert body["category"] == "research paper"
    assert body["includeDomains"] == ["arxiv.org"]
    assert body["excludeDomains"] == ["example.net"]
    assert (body["startPublishedDate"], body["endPublishedDate"]) == ("2025-01-01", "2025-12-31")
    assert body["userLocation"] == "US"
    assert body["contents"]["text"] is False
    assert body["contents"]["highlights"]["query"] == "sleep-time compute"
    found = json.loads(result.text)
    assert found["query"] == "sleep-time compute"
    assert found["results"] == [
        {
            "title": f"Result {i} for sleep-time compute",
            "url": f"https://example.com/{i}",
            "published_date": f"2025-01-0{i + 1}T00:00:00.000Z",
            "author": "A. Writer",
            "highlights": [f"highlight {i}"],
            "summary": f"summary {i}",
        }
        for i in range(2)
    ]


async def test_exa_text_on_request_and_num_results_clamped(search: Any, site: FakeWeb) -> None:
    result = await search({"query": "q", "num_results": 500, "include_text": True}, **exa(site))
    _, body = site.state.exa_requests[0]
    assert body["numResults"] == 100
    assert body["contents"]["text"] is True
    assert "category" not in body
    assert "includeDomains" not in body
    assert json.loads(result.text)["results"][0]["text"] == "full text 0"


@pytest.mark.parametrize(("given", "sent"), [(5.0, 5), ("7", 7), (None, 10), (0, 1)])
async def test_num_results_as_models_send_it(
    search: Any, site: FakeWeb, given: object, sent: int
) -> None:
    result = await search({"query": "q", "num_results": given}, **exa(site))
    assert result.status == "success", result.text
    assert site.state.exa_requests[0][1]["numResults"] == sent


async def test_the_agents_exa_key_is_used_and_exa_is_chosen_by_it(
    search: Any, site: FakeWeb
) -> None:
    ctx = ExternalContext("org-test", "agent-1", None, env={"EXA_API_KEY": "agent-key"})
    result = await search({"query": "q"}, ctx=ctx, exa_base_url=site.url("/exa"))
    assert result.status == "success", result.text
    assert site.state.exa_requests[0][0]["x-api-key"] == "agent-key"


async def test_exa_errors_are_error_results(search: Any, site: FakeWeb) -> None:
    site.state.exa_status = 401
    result = await search({"query": "q"}, **exa(site))
    assert result.status == "error"
    error = json.loads(result.text)
    assert error["query"] == "q"
    assert "Exa answered HTTP 401" in error["error"]
    assert "Invalid API key" in error["error"]


async def test_searxng_results_filtered_and_paged(search: Any, site: FakeWeb) -> None:
    site.state.searxng_pages = [
        [
            {"url": "https://docs.python.org/a", "title": "A", "content": "snippet a"},
            {"url": "https://blog.example.net/b", "title": "B", "content": "snippet b"},
            {
                "url": "https://www.python.org/old",
                "title": "Old",
                "publishedDate": "2019-05-01T00:00:00",
            },
        ],
        [
            {"url": "https://docs.python.org/a", "title": "A again"},
            {"url": "https://python.org/c", "title": "C", "publishedDate": "2025-03-01"},
        ],
        [{"url": "https://python.org/d", "title": "D"}],
    ]
    args = {
        "query": "asyncio",
        "num_results": 2,
        "category": "news",
        "include_domains": ["python.org"],
        "start_published_date": "2024-01-01",
    }
    settings = {"web_search_backend": SearchBackend.searxng, "searxng_url": site.url("/searxng")}
    result = await search(args, **settings)
    assert result.status == "success", result.text
    found = json.loads(result.text)
    assert [r["url"] for r in found["results"]] == [
        "https://docs.python.org/a",
        "https://python.org/c",
    ]
    assert found["results"][0] == {
        "title": "A",
        "url": "https://docs.python.org/a",
        "published_date": None,
        "author": None,
        "highlights": ["snippet a"],
    }
    sent = site.state.searxng_requests
    assert [r["pageno"] for r in sent] == ["1", "2"]
    assert sent[0]["q"] == "asyncio site:python.org"
    assert (sent[0]["format"], sent[0]["categories"]) == ("json", "news")


async def test_searxng_exclusions_and_an_empty_answer(search: Any, site: FakeWeb) -> None:
    site.state.searxng_pages = [
        [
            {"url": "https://a.example.com/1", "title": "1"},
            {"url": "https://example.com/2", "title": "2"},
            {"url": "https://other.org/3", "title": "3"},
        ]
    ]
    settings = {"searxng_url": site.url("/searxng")}  # chosen: the only backend configured
    args = {"query": "x", "exclude_domains": ["example.com"]}
    found = json.loads((await search(args, **settings)).text)
    assert [r["url"] for r in found["results"]] == ["https://other.org/3"]
    assert len(site.state.searxng_requests) == 2  # the second page was empty
    assert "categories" not in site.state.searxng_requests[0]


async def test_searxng_without_its_json_format_is_an_error_result(
    search: Any, site: FakeWeb
) -> None:
    result = await search({"query": "x"}, searxng_url=site.url("/nowhere"))
    assert result.status == "error"
    assert "SearXNG answered HTTP 404" in json.loads(result.text)["error"]


async def test_without_a_backend_the_result_says_what_to_set(search: Any) -> None:
    result = await search({"query": "anything"})
    assert result.status == "error"
    error = json.loads(result.text)["error"]
    for setting in (
        "SLEEPTIME_WEB_SEARCH_BACKEND",
        "SLEEPTIME_EXA_API_KEY",
        "EXA_API_KEY",
        "SLEEPTIME_SEARXNG_URL",
    ):
        assert setting in error
    no_key = await search({"query": "q"}, web_search_backend=SearchBackend.exa)
    assert "no Exa API key" in json.loads(no_key.text)["error"]
    no_url = await search({"query": "q"}, web_search_backend=SearchBackend.searxng)
    assert "SLEEPTIME_SEARXNG_URL is not set" in json.loads(no_url.text)["error"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"query": "  "}, "Query cannot be empty"),
        ({}, "Query cannot be empty"),
        ({"query": "q", "num_results": "five"}, "`num_results` must be an integer"),
        ({"query": "q", "num_results": 2.5}, "`num_results` must be an integer"),
        ({"query": "q", "num_results": True}, "`num_results` must be an integer"),
        ({"query": "q", "category": "videos"}, "`category` must be one of"),
        ({"query": "q", "include_domains": "python.org"}, "`include_domains` must be a list"),
        ({"query": "q", "include_text": "yes"}, "`include_text` must be true or false"),
    ],
)
async def test_bad_arguments_are_error_results(
    search: Any, site: FakeWeb, args: dict[str, Any], message: str
) -> None:
    result = await search(args, **exa(site))
    assert result.status == "error"
    assert message in json.loads(result.text)["error"]
    assert site.state.exa_requests == []


async def test_an_unreachable_backend_is_an_error_result(search: Any) -> None:
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}"
        result = await search({"query": "q"}, exa_api_key="k", exa_base_url=url)
    assert result.status == "error"
    assert json.loads(result.text)["error"].startswith("Search failed: ConnectError")
