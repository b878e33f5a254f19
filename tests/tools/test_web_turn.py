"""The web tools in an agent's turn: the model calls them, their results (or their errors)
reach the model, and the turn goes on."""

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import AppFactory
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.fakes.web_server import FakeWeb, serve_fake_web
from tests.helpers import create_agent, ok


@pytest.fixture
async def site() -> AsyncIterator[FakeWeb]:
    async with serve_fake_web() as web:
        yield web


def returned(request: dict[str, Any]) -> list[str]:
    """The tool results a model request carries, unpacked from Letta's package."""
    tools = [m for m in request["messages"] if m.get("role") == "tool"]
    return [json.loads(m["content"])["message"] for m in tools]


async def test_the_model_fetches_and_searches_in_one_step(
    make_client: AppFactory, fake_llm: FakeLLMServer, site: FakeWeb
) -> None:
    site.state.searxng_pages = [[{"url": "https://python.org/a", "title": "A", "content": "s"}]]
    client = await make_client(fetch_allow_private=True, searxng_url=site.url("/searxng"))
    agent = await create_agent(client, tools=["web_search", "fetch_webpage", "run_code"])
    fake_llm.state.add(
        Reply(
            tool_calls=[
                ("fetch_webpage", {"url": site.url("/page.html")}),
                ("web_search", {"query": "asyncio", "num_results": 1}),
            ]
        ),
        Reply(text="Read and searched."),
    )
    response = await ok(
        client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "look it up"})
    )
    returns = [m for m in response["messages"] if m["message_type"] == "tool_return_message"]
    assert [r["status"] for r in returns] == ["success", "success"]
    assert response["stop_reason"]["stop_reason"] == "end_turn"
    page, found = returned(fake_llm.state.chat_requests[1])
    assert page.startswith("# The Test Page\n\n# Welcome")
    assert "This is **bold**" in page
    assert json.loads(found)["results"][0]["url"] == "https://python.org/a"
    offered = {t["function"]["name"] for t in fake_llm.state.chat_requests[0]["tools"]}
    assert {"web_search", "fetch_webpage", "run_code"} <= offered


async def test_a_refused_fetch_and_an_unconfigured_search_are_errors_the_model_sees(
    make_client: AppFactory, fake_llm: FakeLLMServer, site: FakeWeb
) -> None:
    client = await make_client()  # no private addresses, no search backend
    agent = await create_agent(client, tools=["web_search", "fetch_webpage"])
    fake_llm.state.add(
        Reply(
            tool_calls=[
                ("fetch_webpage", {"url": site.url("/page.html")}),
                ("web_search", {"query": "anything"}),
            ]
        ),
        Reply(text="I could not."),
    )
    response = await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "go"}))
    returns = [m for m in response["messages"] if m["message_type"] == "tool_return_message"]
    assert [r["status"] for r in returns] == ["error", "error"]
    assert response["stop_reason"]["stop_reason"] == "end_turn"
    refused, unconfigured = returned(fake_llm.state.chat_requests[1])
    assert "loopback address" in refused
    assert "SLEEPTIME_WEB_SEARCH_BACKEND" in unconfigured
    assert site.state.requests == []
