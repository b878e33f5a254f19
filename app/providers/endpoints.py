from fastapi import APIRouter, Request, Response

from app.auth.deps import ActorDep
from app.kit.errors import BadGateway
from app.providers.registry import ProviderRegistry
from app.providers.schemas import LLMModel

router = APIRouter(prefix="/v1/models", tags=["models"])

# Names the providers left out of a partial list (the body stays Letta's bare array).
UNLISTED_HEADER = "X-Unlisted-Providers"


@router.get("/", response_model=list[LLMModel])
async def list_models(request: Request, response: Response, actor: ActorDep) -> list[LLMModel]:
    """The models of every configured provider. When no provider could be asked, that is a
    502 naming them; when some could, their models are listed and the others named in a
    header, so an empty or short list is never a failure in disguise."""
    registry: ProviderRegistry = request.app.state.providers
    listing = await registry.list_models()
    if listing.unlisted and not listing.models:
        raise BadGateway("No model could be listed: " + "; ".join(str(u) for u in listing.unlisted))
    if listing.unlisted:
        response.headers[UNLISTED_HEADER] = ", ".join(u.provider for u in listing.unlisted)
    return [LLMModel.of(info) for info in listing.models]


@router.get("/embedding", response_model=list[dict[str, object]])
async def list_embedding_models(actor: ActorDep) -> list[dict[str, object]]:
    # No embedding provider is needed for anything this server does.
    return []
