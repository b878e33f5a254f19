from typing import Annotated

from fastapi import APIRouter, Depends

from app.auth.deps import ActorDep
from app.groups import service
from app.groups.schemas import GroupCreate, GroupResponse, GroupUpdate
from app.kit.deps import SessionDep
from app.kit.ids import GroupIdPath
from app.kit.pagination import Order, PageParams, page_params
from app.kit.schemas import DeleteResult

router = APIRouter(prefix="/v1/groups", tags=["groups"])

GroupPage = Annotated[PageParams, Depends(page_params(50, Order.asc))]


@router.post("/", response_model=GroupResponse)
async def create_group(body: GroupCreate, session: SessionDep, actor: ActorDep) -> GroupResponse:
    return (await service.create(session, actor, body)).response()


@router.get("/", response_model=list[GroupResponse])
async def list_groups(
    session: SessionDep, actor: ActorDep, page: GroupPage, manager_type: str | None = None
) -> list[GroupResponse]:
    views = await service.list_groups(session, actor, page, manager_type=manager_type)
    return [view.response() for view in views]


@router.get("/count", response_model=int)
async def count_groups(session: SessionDep, actor: ActorDep) -> int:
    return await service.count(session, actor)


@router.get("/{group_id}", response_model=GroupResponse)
async def retrieve_group(
    group_id: GroupIdPath, session: SessionDep, actor: ActorDep
) -> GroupResponse:
    return (await service.get(session, actor, group_id)).response()


@router.patch("/{group_id}", response_model=GroupResponse)
async def modify_group(
    group_id: GroupIdPath, body: GroupUpdate, session: SessionDep, actor: ActorDep
) -> GroupResponse:
    return (await service.update(session, actor, group_id, body)).response()


@router.delete("/{group_id}", response_model=DeleteResult)
async def delete_group(group_id: GroupIdPath, session: SessionDep, actor: ActorDep) -> DeleteResult:
    await service.delete(session, actor, group_id)
    return DeleteResult(message=f"Group id={group_id} successfully deleted")
