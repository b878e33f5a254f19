from fastapi import APIRouter, Request

from app.auth.deps import ActorDep
from app.providers.registry import ProviderRegistry
from app.providers.schemas import EmbeddingModel, LLMModel, is_embedding_model

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("/", response_model=list[LLMModel])
async def list_models(request: Request, actor: ActorDep) -> list[LLMModel]:
    registry: ProviderRegistry = request.app.state.providers
    return [LLMModel.of(info) for info in await registry.list_models()]


@router.get("/embedding", response_model=list[EmbeddingModel])
async def list_embedding_models(request: Request, actor: ActorDep) -> list[EmbeddingModel]:
    """The embedding models the configured providers offer (none, unless a provider lists
    one). This server computes no embeddings itself; an agent's ``embedding`` is stored."""
    registry: ProviderRegistry = request.app.state.providers
    models = await registry.list_models()
    return [EmbeddingModel.of(info) for info in models if is_embedding_model(info.model)]
