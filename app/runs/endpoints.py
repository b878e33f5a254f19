from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from app.auth.deps import ActorDep
from app.kit.deps import DatabaseDep, SessionDep
from app.kit.ids import RunIdPath
from app.kit.pagination import Order, PageParams, page_params
from app.runs import service
from app.runs.deps import ControlDep
from app.runs.schemas import RunResponse, RunUsage, StepResponse

router = APIRouter(prefix="/v1/runs", tags=["runs"])

RunPage = Annotated[PageParams, Depends(page_params(100, Order.desc))]
StepPage = Annotated[PageParams, Depends(page_params(100, Order.desc))]
# ``app.runs.states.RunStatus``'s values, spelt out so the OpenAPI document lists them inline.
StatusFilter = Literal["created", "running", "completed", "failed", "cancelled"]


@router.get("/", response_model=list[RunResponse])
async def list_runs(
    session: SessionDep,
    actor: ActorDep,
    page: RunPage,
    agent_id: str | None = None,
    agent_ids: Annotated[list[str] | None, Query()] = None,
    statuses: Annotated[list[StatusFilter] | None, Query()] = None,
    active: bool = False,
    background: bool | None = None,
    stop_reason: str | None = None,
    conversation_id: Annotated[
        str | None, Query(description="Only the runs of this conversation.")
    ] = None,
) -> list[RunResponse]:
    ids = [*([agent_id] if agent_id else []), *(agent_ids or [])]
    runs = await service.list_runs(
        session,
        actor,
        page,
        agent_ids=ids,
        statuses=list(statuses or []),
        active=active,
        background=background,
        stop_reason=stop_reason,
        conversation_id=conversation_id,
    )
    return [RunResponse.model_validate(r) for r in runs]


@router.get("/{run_id}", response_model=RunResponse)
async def retrieve_run(
    run_id: RunIdPath,
    actor: ActorDep,
    db: DatabaseDep,
    control: ControlDep,
    wait: Annotated[
        float, Query(ge=0, le=60, description="Extension: wait up to this long for it to end.")
    ] = 0,
) -> RunResponse:
    run = await service.wait_for_end(db, control, actor, run_id, wait)
    return RunResponse.model_validate(run)


@router.delete("/{run_id}", response_model=None)
async def delete_run(run_id: RunIdPath, session: SessionDep, actor: ActorDep) -> None:
    await service.delete(session, actor, run_id)


@router.get("/{run_id}/steps", response_model=list[StepResponse])
async def list_run_steps(
    run_id: RunIdPath, session: SessionDep, actor: ActorDep, page: StepPage
) -> list[StepResponse]:
    return [
        StepResponse.model_validate(s) for s in await service.steps(session, actor, run_id, page)
    ]


@router.get("/{run_id}/usage", response_model=RunUsage)
async def retrieve_run_usage(run_id: RunIdPath, session: SessionDep, actor: ActorDep) -> RunUsage:
    completion, prompt, total = await service.usage(session, actor, run_id)
    return RunUsage(completion_tokens=completion, prompt_tokens=prompt, total_tokens=total)
