"""A run's stream, resumable: its kept events after a cursor, then the live ones."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field
from sse_starlette import EventSourceResponse

from app.auth.deps import Actor, ActorDep
from app.config import Settings
from app.kit.deps import SettingsDep
from app.kit.ids import RunIdPath
from app.kit.schemas import INT64_MAX, RequestModel
from app.streaming.deps import FollowerDep
from app.streaming.follow import Follower
from app.streaming.sse import stream_response

router = APIRouter(prefix="/v1/runs", tags=["runs"])


class RetrieveStreamRequest(RequestModel):
    starting_after: int = Field(default=0, ge=0, le=INT64_MAX)
    include_pings: bool = True


async def resume_stream(
    run_id: str,
    actor: Actor,
    follower: Follower,
    settings: Settings,
    request: RetrieveStreamRequest,
) -> EventSourceResponse:
    """The run's kept events after ``request.starting_after``, then the live ones."""
    run = await follower.check(actor.organization_id, run_id)
    return stream_response(
        follower.events(actor.organization_id, run_id, request.starting_after),
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
    return await resume_stream(run_id, actor, follower, settings, request)


@router.post("/{run_id}/stream", response_model=None)
async def stream_run_post(
    run_id: RunIdPath,
    actor: ActorDep,
    follower: FollowerDep,
    settings: SettingsDep,
    body: RetrieveStreamRequest | None = None,
) -> EventSourceResponse:
    return await resume_stream(run_id, actor, follower, settings, body or RetrieveStreamRequest())
