"""``/v1/tags/``: the tags of an organization's agents and blocks, as Letta lists them:
plain strings, in alphabetical order, paged by the tags themselves as cursors."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from app.auth.deps import ActorDep
from app.kit.deps import SessionDep
from app.kit.pagination import Order, PageParams, page_params, page_sorted
from app.tags.repository import TagRepository

router = APIRouter(prefix="/v1/tags", tags=["tags"])

TagPage = Annotated[PageParams, Depends(page_params(50, Order.asc))]


def _tag(value: str, name: str) -> str:
    return value  # a tag cursor need not be a listed tag: it is compared, as in Letta


@router.get("/", response_model=list[str])
async def list_tags(
    session: SessionDep,
    actor: ActorDep,
    page: TagPage,
    name: Annotated[str | None, Query(description="Only tags containing this text.")] = None,
    query_text: Annotated[str | None, Query(deprecated=True)] = None,
    order_by: Literal["name"] = "name",
) -> list[str]:
    tags = await TagRepository(session, actor.organization_id).all(name or query_text)
    return page_sorted(tags, page, key=lambda tag: tag, cursor=_tag)
