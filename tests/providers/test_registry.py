"""The provider registry lists models truthfully: a provider that cannot be asked is named
with the reason, a failure is not remembered, and nothing it says shows a key."""

import httpx

from app.providers.registry import ProviderRegistry, public_url
from tests.providers.wire import Wire, json_reply, settings

MODELS = {"data": [{"id": "m-2"}, {"id": "m-1"}]}


def _registry(wire: Wire, **overrides: object) -> ProviderRegistry:
    values: dict[str, object] = {"openai_base_url": "http://llm.test/v1", "anthropic_api_key": None}
    values.update(overrides)
    return ProviderRegistry(settings(**values), wire.client)


async def test_a_failed_listing_is_named_and_asked_again(wire: Wire) -> None:
    registry = _registry(wire)
    wire.reply(json_reply({"error": "down"}, status=503), json_reply(MODELS))
    failed = await registry.list_models()
    assert failed.models == []
    [unlisted] = failed.unlisted
    assert unlisted.provider == "openai"
    assert str(unlisted) == "provider 'openai' at http://llm.test/v1 answered 503 to GET " + (
        "http://llm.test/v1/models"
    )
    listed = await registry.list_models()
    assert [m.handle for m in listed.models] == ["openai/m-1", "openai/m-2"]
    assert listed.unlisted == []
    again = await registry.list_models()  # kept for a while once fetched
    assert again.models == listed.models and len(wire.requests) == 2


async def test_unreachable_and_garbled_listings(wire: Wire) -> None:
    registry = _registry(wire)
    wire.reply(httpx.ConnectError("connection refused"), json_reply({"models": []}))
    [unreachable] = (await registry.list_models()).unlisted
    assert "not reachable (ConnectError: connection refused)" in unreachable.reason
    [garbled] = (await registry.list_models()).unlisted
    assert garbled.reason == "answered GET http://llm.test/v1/models with no model list"


async def test_a_fixed_model_list_needs_no_request(wire: Wire) -> None:
    registry = _registry(wire, openai_models=["gpt-x"])
    assert [m.handle for m in (await registry.list_models()).models] == ["openai/gpt-x"]
    assert wire.requests == []


def test_nothing_said_about_a_provider_shows_a_secret(wire: Wire) -> None:
    registry = _registry(
        wire,
        openai_base_url="https://user:s3cret@llm.test:8443/v1?api-key=s3cret",
        openai_api_key="sk-s3cret",
        anthropic_api_key="ak-s3cret",
        anthropic_models=["claude-x"],
    )
    described = registry.describe()
    assert described == [
        {
            "name": "openai",
            "base_url": "https://llm.test:8443/v1",
            "models": "listed by the endpoint",
        },
        {"name": "anthropic", "base_url": "https://api.anthropic.com", "models": ["claude-x"]},
    ]
    assert "s3cret" not in repr(described)
    assert public_url("http://[::1]:9/v1") == "http://[::1]:9/v1"
