from fastapi import APIRouter, Request

from app.auth.deps import ActorDep
from app.providers.registry import ProviderRegistry
from app.providers.schemas import LLMModel

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("/", response_model=list[LLMModel])
async def list_models(request: Request, actor: ActorDep) -> list[LLMModel]:
    registry: ProviderRegistry = request.app.state.providers
    return [LLMModel.of(info) for info in await registry.list_models()]


@router.get("/embedding", response_model=list[dict[str, object]])
async def list_embedding_models(actor: ActorDep) -> list[dict[str, object]]:
    # No embedding provider is needed for anything this server does.
    return []
