"""``model_settings`` in Letta's provider-typed shape: filled from the model's defaults, merged
with what the client sends, and what each step sends to the provider."""

from typing import Any

import httpx

from tests.conftest import AppFactory
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok


async def _turn_body(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer, agent_id: str
) -> dict[str, Any]:
    fake_llm.state.add(Reply(text="ok"))
    await ok(client.post(f"/v1/agents/{agent_id}/messages", json={"input": "hi"}))
    return fake_llm.state.chat_requests[-1]


async def test_defaults_are_sent(client: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent = await create_agent(client)
    sent = await _turn_body(client, fake_llm, agent["id"])
    assert (sent["temperature"], sent["parallel_tool_calls"]) == (0.7, False)
    assert "max_tokens" not in sent  # unset: the provider's own limit


async def test_sent_settings_are_merged_over_the_defaults(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(
        client,
        model_settings={"provider_type": "openai", "temperature": 0.2, "max_output_tokens": 512},
        parallel_tool_calls=True,
    )
    settings = agent["model_settings"]
    assert (settings["temperature"], settings["max_output_tokens"]) == (0.2, 512)
    assert settings["parallel_tool_calls"] is True and settings["strict"] is False
    assert agent["llm_config"]["max_tokens"] == 512
    sent = await _turn_body(client, fake_llm, agent["id"])
    assert (sent["temperature"], sent["max_tokens"], sent["parallel_tool_calls"]) == (
        0.2,
        512,
        True,
    )

    path = f"/v1/agents/{agent['id']}"
    patched = await ok(client.patch(path, json={"model_settings": {"temperature": 0.1}}))
    assert patched["model_settings"]["temperature"] == 0.1
    assert patched["model_settings"]["max_output_tokens"] == 512  # kept
    switched = await ok(client.patch(path, json={"model": "openai/gpt-4.1"}))
    assert switched["model_settings"]["temperature"] == 0.7  # a new model: its defaults
    assert switched["model_settings"]["max_output_tokens"] == 512  # the agent's max_tokens
    capped = await ok(client.patch(path, json={"max_tokens": 256}))
    assert capped["model_settings"]["max_output_tokens"] == 256
    assert capped["llm_config"]["max_tokens"] == 256


async def test_reasoning_models_keep_their_only_temperature(make_client: AppFactory) -> None:
    client = await make_client(openai_models=["gpt-4o-mini", "o3-mini"])
    agent = await create_agent(client, model="openai/o3-mini")
    assert agent["model_settings"]["temperature"] == 1.0
    assert agent["model_settings"]["reasoning"] == {"reasoning_effort": "medium"}


async def test_anthropic_models_get_anthropic_settings(make_client: AppFactory) -> None:
    client = await make_client(
        anthropic_api_key="sk-ant-test",
        anthropic_base_url="http://127.0.0.1:9",
        anthropic_models=["claude-test"],
    )
    agent = await create_agent(client, model="anthropic/claude-test", max_tokens=2048)
    assert agent["model_settings"] == {
        "provider_type": "anthropic",
        "max_output_tokens": 2048,
        "parallel_tool_calls": False,
        "temperature": 1.0,
        "thinking": {"type": "disabled", "budget_tokens": 1024},
        "response_format": None,
        "verbosity": None,
        "effort": None,
        "strict": False,
    }
    # Settings written for another provider type are not applied to this model.
    other = await create_agent(
        client, model="anthropic/claude-test", model_settings={"provider_type": "openai"}
    )
    assert other["model_settings"]["provider_type"] == "anthropic"
