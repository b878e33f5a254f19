from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.auth.deps import ActorDep
from app.blocks import service
from app.blocks.schemas import BlockCreate, BlockHistoryEntry, BlockResponse, BlockUpdate
from app.kit.deps import SessionDep, SettingsDep
from app.kit.ids import BlockIdPath
from app.kit.pagination import Order, PageParams, page_params
from app.kit.schemas import INT32_MAX

router = APIRouter(prefix="/v1/blocks", tags=["blocks"])

BlockPage = Annotated[PageParams, Depends(page_params(50, Order.asc))]


@router.post("/", response_model=BlockResponse)
async def create_block(
    body: BlockCreate, session: SessionDep, actor: ActorDep, settings: SettingsDep
) -> BlockResponse:
    block = await service.create(session, actor, body, default_limit=settings.block_default_limit)
    return BlockResponse.model_validate(block)


@router.get("/", response_model=list[BlockResponse])
async def list_blocks(
    session: SessionDep,
    actor: ActorDep,
    page: BlockPage,
    label: str | None = None,
    label_search: str | None = None,
    value_search: str | None = None,
    description_search: str | None = None,
) -> list[BlockResponse]:
    blocks = await service.list_blocks(
        session,
        actor,
        page,
        label=label,
        label_search=label_search,
        value_search=value_search,
        description_search=description_search,
    )
    return [BlockResponse.model_validate(b) for b in blocks]


@router.get("/{block_id}", response_model=BlockResponse)
async def retrieve_block(
    block_id: BlockIdPath, session: SessionDep, actor: ActorDep
) -> BlockResponse:
    return BlockResponse.model_validate(await service.get(session, actor, block_id))


@router.patch("/{block_id}", response_model=BlockResponse)
async def modify_block(
    block_id: BlockIdPath, body: BlockUpdate, session: SessionDep, actor: ActorDep
) -> BlockResponse:
    return BlockResponse.model_validate(await service.update(session, actor, block_id, body))


@router.delete("/{block_id}", response_model=None)
async def delete_block(block_id: BlockIdPath, session: SessionDep, actor: ActorDep) -> None:
    await service.delete(session, actor, block_id)


@router.get("/{block_id}/history", response_model=list[BlockHistoryEntry])
async def block_history(
    block_id: BlockIdPath,
    session: SessionDep,
    actor: ActorDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order: Order = Order.desc,
    before: Annotated[
        int | None,
        Query(ge=0, le=INT32_MAX, description="The versions listed just ahead of this version."),
    ] = None,
    after: Annotated[
        int | None,
        Query(ge=0, le=INT32_MAX, description="The versions listed after this version."),
    ] = None,
) -> list[BlockHistoryEntry]:
    entries = await service.history(
        session, actor, block_id, limit=limit, order=order, before=before, after=after
    )
    return [BlockHistoryEntry.model_validate(e) for e in entries]
