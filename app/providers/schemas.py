from app.kit.schemas import ResponseModel
from app.providers.registry import ModelInfo


class LLMModel(ResponseModel):
    handle: str
    name: str
    display_name: str
    model: str
    model_endpoint_type: str
    model_endpoint: str
    context_window: int
    max_context_window: int
    provider_type: str
    provider_name: str
    provider_category: str = "base"

    @classmethod
    def of(cls, info: ModelInfo) -> "LLMModel":
        return cls(
            handle=info.handle,
            name=info.model,
            display_name=info.model,
            model=info.model,
            model_endpoint_type=info.provider,
            model_endpoint=info.endpoint,
            context_window=info.context_window,
            max_context_window=info.context_window,
            provider_type=info.provider,
            provider_name=info.provider,
        )


class LLMConfig(ResponseModel):
    model: str
    handle: str
    model_endpoint_type: str
    model_endpoint: str | None
    context_window: int
    provider_name: str
    provider_category: str = "base"
    max_tokens: int | None = None
    temperature: float | None = None
    parallel_tool_calls: bool | None = None

    @classmethod
    def of(cls, info: ModelInfo, *, max_tokens: int | None = None) -> "LLMConfig":
        return cls(
            model=info.model,
            handle=info.handle,
            model_endpoint_type=info.provider,
            model_endpoint=info.endpoint or None,
            context_window=info.context_window,
            provider_name=info.provider,
            max_tokens=max_tokens,
        )


# Output sizes of the embedding models whose size is published; others are reported as null.
EMBEDDING_DIMS = {
    "text-embedding-ada-002": 1536,
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
}


def is_embedding_model(name: str) -> bool:
    """Providers list embedding models among the others; their names say what they are."""
    return "embed" in name.lower()


class EmbeddingModel(ResponseModel):
    handle: str
    name: str
    display_name: str
    provider_type: str
    provider_name: str
    model_type: str = "embedding"
    embedding_model: str
    embedding_endpoint_type: str
    embedding_endpoint: str
    embedding_dim: int | None
    embedding_chunk_size: int = 300
    batch_size: int = 32

    @classmethod
    def of(cls, info: ModelInfo) -> "EmbeddingModel":
        return cls(
            handle=info.handle,
            name=info.model,
            display_name=info.model,
            provider_type=info.provider,
            provider_name=info.provider,
            embedding_model=info.model,
            embedding_endpoint_type=info.provider,
            embedding_endpoint=info.endpoint,
            embedding_dim=EMBEDDING_DIMS.get(info.model),
        )
