from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import Field
from sse_starlette import EventSourceResponse

from app.agents import service as agents_service
from app.auth.deps import Actor, ActorDep
from app.config import Settings
from app.kit.deps import DatabaseDep, SessionDep, SettingsDep
from app.kit.ids import RunIdPath
from app.kit.pagination import Order, PageParams, page_params
from app.kit.schemas import INT64_MAX, RequestModel
from app.messages.convert import to_letta_many
from app.messages.listing import MessagePage, letta_page
from app.messages.models import Message
from app.messages.repository import MessageRepository
from app.runs import service
from app.runs.schemas import RunResponse, RunUsage, StepResponse
from app.streaming.follow import Follower
from app.streaming.sse import stream_response
from app.turns.deps import ControlDep, FollowerDep

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


class RetrieveStreamRequest(RequestModel):
    starting_after: int = Field(default=0, ge=0, le=INT64_MAX)
    include_pings: bool = True


async def _resume(
    run_id: str,
    actor: Actor,
    follower: Follower,
    settings: Settings,
    request: RetrieveStreamRequest,
) -> EventSourceResponse:
    run = await follower.check(actor.organization_id, run_id)
    return stream_response(
        follower.events(run_id, request.starting_after),
        run_id=run_id,
        include_pings=request.include_pings,
        keepalive=settings.stream_keepalive_seconds,
        send_timeout=settings.stream_send_timeout_seconds,
        types=(run.request_config or {}).get("include_return_message_types"),
    )


@router.get("/{run_id}/stream", response_model=None)
async def stream_run(
    run_id: RunIdPath,
    actor: ActorDep,
    follower: FollowerDep,
    settings: SettingsDep,
    starting_after: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    include_pings: bool = True,
) -> EventSourceResponse:
    """Replay the run's kept events after ``starting_after``, then follow it live."""
    request = RetrieveStreamRequest(starting_after=starting_after, include_pings=include_pings)
    return await _resume(run_id, actor, follower, settings, request)


@router.post("/{run_id}/stream", response_model=None)
async def stream_run_post(
    run_id: RunIdPath,
    actor: ActorDep,
    follower: FollowerDep,
    settings: SettingsDep,
    body: RetrieveStreamRequest | None = None,
) -> EventSourceResponse:
    return await _resume(run_id, actor, follower, settings, body or RetrieveStreamRequest())


@router.delete("/{run_id}", response_model=None)
async def delete_run(run_id: RunIdPath, session: SessionDep, actor: ActorDep) -> None:
    await service.delete(session, actor, run_id)


@router.get("/{run_id}/messages", response_model=list[dict[str, Any]])
async def list_run_messages(
    run_id: RunIdPath,
    session: SessionDep,
    actor: ActorDep,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order: Order = Order.asc,
) -> list[dict[str, Any]]:
    run = await service.get(session, actor, run_id)
    agent = await agents_service.get(session, actor, run.agent_id)
    config = run.request_config or {}
    types = config.get("include_return_message_types")
    wanted = set(types) if types else None
    replies = config.get("use_assistant_message") is not False

    async def render(stored: list[Message]) -> list[dict[str, Any]]:
        return to_letta_many(stored, agent.agent_type, wanted, assistant_messages=replies)

    return await letta_page(
        MessageRepository(session, actor.organization_id),
        agent.id,
        MessagePage(limit, order, after=after, before=before, run_id=run.id),
        render,
    )


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
