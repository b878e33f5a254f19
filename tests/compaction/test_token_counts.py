"""``/context`` counts an Anthropic agent's tokens with Anthropic's count_tokens endpoint
(the fake's here), and falls back to estimates when it fails."""

from typing import Any

import httpx

from tests.compaction.parts import PARTS
from tests.conftest import AppFactory
from tests.fakes.llm_server import FakeLLMServer, count_words
from tests.helpers import create_agent, ok


async def _anthropic(make_client: AppFactory, fake_llm: FakeLLMServer) -> httpx.AsyncClient:
    return await make_client(
        anthropic_base_url=fake_llm.base_url.removesuffix("/v1"),
        anthropic_api_key="sk-ant-test",
        anthropic_models=["claude-test"],
    )


def _words(text: str) -> int:
    return count_words({"messages": [{"role": "user", "content": text}]})


async def test_anthropic_counts_are_exact(make_client: AppFactory, fake_llm: FakeLLMServer) -> None:
    client = await _anthropic(make_client, fake_llm)
    agent = await create_agent(
        client,
        model="anthropic/claude-test",
        memory_blocks=[{"label": "human", "value": "Ana is a pilot"}],
    )
    seen: dict[str, Any] = await ok(client.get(f"/v1/agents/{agent['id']}/context"))
    assert seen["num_tokens_core_memory"] == _words(seen["core_memory"])
    assert seen["num_tokens_system"] == _words(seen["system_prompt"])
    assert seen["num_tokens_external_memory_summary"] == _words(seen["external_memory_summary"])
    assert seen["num_tokens_functions_definitions"] == 10 * len(seen["functions_definitions"])
    assert seen["num_tokens_messages"] == 0 and seen["num_tokens_summary_memory"] == 0
    assert seen["context_window_size_current"] == sum(seen[p] for p in PARTS)
    headers, body = fake_llm.state.count_requests[0]
    assert headers["x-api-key"] == "sk-ant-test" and body["model"] == "claude-test"
    assert "max_tokens" not in body


async def test_a_failed_count_falls_back_to_estimates(
    make_client: AppFactory, fake_llm: FakeLLMServer
) -> None:
    client = await _anthropic(make_client, fake_llm)
    agent = await create_agent(client, model="anthropic/claude-test")
    fake_llm.state.count_status = 500
    seen = await ok(client.get(f"/v1/agents/{agent['id']}/context"))
    assert fake_llm.state.count_requests
    assert seen["num_tokens_core_memory"] == len(seen["core_memory"]) // 4 + 1
    assert seen["context_window_size_current"] == sum(seen[p] for p in PARTS)


async def test_openai_counts_are_estimates(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    seen = await ok(client.get(f"/v1/agents/{agent['id']}/context"))
    assert seen["num_tokens_system"] == len(seen["system_prompt"]) // 4 + 1
    assert not fake_llm.state.count_requests
