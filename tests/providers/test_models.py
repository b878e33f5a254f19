import httpx

from tests.conftest import AppFactory
from tests.fakes.llm_server import FakeLLMServer
from tests.helpers import ok


async def test_configured_list(client: httpx.AsyncClient) -> None:
    models = await ok(client.get("/v1/models/"))
    assert [m["handle"] for m in models] == ["openai/gpt-4o-mini", "openai/gpt-4.1"]
    first = models[0]
    assert first["model_endpoint_type"] == "openai"
    assert first["model"] == "gpt-4o-mini" and first["name"] == "gpt-4o-mini"
    assert first["context_window"] > 0 and first["max_context_window"] >= first["context_window"]
    assert first["provider_type"] == "openai"
    assert await ok(client.get("/v1/models/embedding")) == []
    assert await ok(client.get("/v1/models")) == models


async def test_listed_from_the_provider_models_endpoint(
    make_client: AppFactory, fake_llm: FakeLLMServer
) -> None:
    client = await make_client(openai_models=[])
    handles = [m["handle"] for m in await ok(client.get("/v1/models/"))]
    assert handles == [f"openai/{name}" for name in sorted(fake_llm.state.models)]
    # With the listing coming from the provider, any model name of that provider is accepted.
    agent = await ok(client.post("/v1/agents/", json={"model": "openai/some-local-model"}))
    assert agent["llm_config"]["model_endpoint"] == fake_llm.base_url


async def test_a_provider_that_cannot_be_listed_is_a_502_naming_it(
    make_client: AppFactory,
) -> None:
    client = await make_client(openai_models=[], openai_base_url="http://127.0.0.1:9/v1")
    response = await client.get("/v1/models/")
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert "provider 'openai' at http://127.0.0.1:9/v1 not reachable" in detail
    assert response.headers["x-request-id"]


async def test_what_can_be_listed_is_listed_and_the_rest_named(make_client: AppFactory) -> None:
    client = await make_client(
        openai_models=[],
        openai_base_url="http://127.0.0.1:9/v1",
        anthropic_api_key="test-key",
        anthropic_models=["claude-x"],
    )
    response = await client.get("/v1/models/")
    assert response.status_code == 200
    assert [m["handle"] for m in response.json()] == ["anthropic/claude-x"]
    assert response.headers["x-unlisted-providers"] == "openai"


async def test_no_provider_configured(make_client: AppFactory) -> None:
    client = await make_client(openai_base_url=None, openai_api_key=None, openai_models=[])
    assert await ok(client.get("/v1/models/")) == []
    response = await client.post("/v1/agents/", json={"model": "openai/gpt-4o-mini"})
    assert response.status_code == 400
    assert "SLEEPTIME_OPENAI_BASE_URL" in response.json()["detail"]


async def test_anthropic_handles(make_client: AppFactory) -> None:
    client = await make_client(anthropic_api_key="test-key", anthropic_models=["claude-x"])
    handles = [m["handle"] for m in await ok(client.get("/v1/models/"))]
    assert "anthropic/claude-x" in handles
    agent = await ok(client.post("/v1/agents/", json={"model": "anthropic/claude-x"}))
    assert agent["llm_config"]["model_endpoint_type"] == "anthropic"


async def test_embedding_models_are_those_a_provider_lists(
    make_client: AppFactory, fake_llm: FakeLLMServer
) -> None:
    models = fake_llm.state.models
    fake_llm.state.models = [*models, "text-embedding-3-small", "nomic-embed-text"]
    try:
        client = await make_client(openai_models=[])
        embedding = await ok(client.get("/v1/models/embedding"))
    finally:
        fake_llm.state.models = models
    assert [(m["handle"], m["embedding_dim"]) for m in embedding] == [
        ("openai/nomic-embed-text", None),
        ("openai/text-embedding-3-small", 1536),
    ]
    first = embedding[1]
    assert first["model_type"] == "embedding" and first["embedding_endpoint_type"] == "openai"
    assert (
        first["embedding_endpoint"] == fake_llm.base_url
        and first["name"] == first["embedding_model"]
    )
    # none of the configured ones is an embedding model, and Anthropic offers none
    client = await make_client(anthropic_api_key="k", anthropic_models=["claude-x"])
    assert await ok(client.get("/v1/models/embedding")) == []
