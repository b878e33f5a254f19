from fastapi import APIRouter, Request, Response

from app.auth.deps import ActorDep
from app.kit.errors import BadGateway
from app.providers.registry import Listing, ProviderRegistry
from app.providers.schemas import EmbeddingModel, LLMModel, is_embedding_model

router = APIRouter(prefix="/v1/models", tags=["models"])

# Names the providers left out of a partial list (the body stays Letta's bare array).
UNLISTED_HEADER = "X-Unlisted-Providers"


async def _listing(request: Request, response: Response) -> Listing:
    """Every provider's models. When no provider could be asked, that is a 502 naming them;
    when some could, their models are listed and the others named in a header, so an empty
    or short list is never a failure in disguise."""
    registry: ProviderRegistry = request.app.state.providers
    listing = await registry.list_models()
    if listing.unlisted and not listing.models:
        raise BadGateway("No model could be listed: " + "; ".join(str(u) for u in listing.unlisted))
    if listing.unlisted:
        response.headers[UNLISTED_HEADER] = ", ".join(u.provider for u in listing.unlisted)
    return listing


@router.get("/", response_model=list[LLMModel])
async def list_models(request: Request, response: Response, actor: ActorDep) -> list[LLMModel]:
    """The chat models of every configured provider (embedding models are listed apart)."""
    listing = await _listing(request, response)
    return [LLMModel.of(info) for info in listing.models if not is_embedding_model(info.model)]


@router.get("/embedding", response_model=list[EmbeddingModel])
async def list_embedding_models(
    request: Request, response: Response, actor: ActorDep
) -> list[EmbeddingModel]:
    """The embedding models the configured providers offer (none, unless a provider lists
    one); an agent's or archive's ``embedding`` handle picks one for archival memory."""
    listing = await _listing(request, response)
    return [EmbeddingModel.of(info) for info in listing.models if is_embedding_model(info.model)]
