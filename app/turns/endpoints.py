"""The turn's routes: send (JSON or SSE), stream, async, and cancel, for agents and groups."""

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Response
from sse_starlette import EventSourceResponse

from app.auth.deps import Actor, ActorDep
from app.config import Settings
from app.kit.deps import SessionDep, SettingsDep
from app.kit.errors import AppError, Unprocessable
from app.kit.ids import AgentIdPath, GroupIdPath, RunIdPath
from app.messages.schemas import CancelRequest, LettaAsyncRequest, LettaRequest, LettaResponse
from app.runs.deps import ControlDep
from app.runs.schemas import RunResponse
from app.streaming.deps import FollowerDep
from app.streaming.follow import Follower
from app.streaming.sse import refusal, stream_response
from app.turns import cancel
from app.turns.deps import CallbacksDep, TurnRouteDep, TurnsDep
from app.turns.service import TurnService

router = APIRouter(prefix="/v1", tags=["messages"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


def check_json_request(body: LettaRequest) -> None:
    for name, value, default in (
        ("stream_tokens", body.stream_tokens, False),
        ("include_pings", body.include_pings, True),
        ("background", body.background, False),
    ):
        if value != default:
            raise Unprocessable(f"{name}: applies only to streaming requests (streaming=true)")


def json_response(response: LettaResponse) -> Response:
    """A JSON turn's body, encoded by pydantic in one pass: FastAPI's default for a returned
    model walks it with ``jsonable_encoder`` and then encodes the copy with ``json.dumps``,
    both in Python, which shows in a turn's profile. The same JSON (a float may be written
    in another notation of the same number)."""
    return Response(response.model_dump_json(), media_type="application/json")


async def stream_turn(
    turns: TurnService,
    follower: Follower,
    settings: Settings,
    actor: Actor,
    agent_id: str,
    body: LettaRequest,
    *,
    group_id: str | None = None,
    key: str | None = None,
    conversation_id: str | None = None,
) -> EventSourceResponse:
    plan = await turns.open_stream(
        actor,
        agent_id,
        body,
        group_id=group_id,
        idempotency_key=key,
        conversation_id=conversation_id,
    )
    # The turn begins on its own (tracked) task: a client leaving early must not stop it.
    beginning = turns.begin(plan)

    async def events() -> AsyncIterator[tuple[int | None, str]]:
        if beginning is not None:
            try:
                await asyncio.shield(beginning)
            except AppError as exc:  # the turn could not start: say so in the stream
                for text in refusal(plan.run_id, exc):
                    yield None, text
                return
        async for event in follower.events(actor.organization_id, plan.run_id, 0):
            yield event

    return stream_response(
        events(),
        run_id=plan.run_id,
        include_pings=body.include_pings,
        keepalive=settings.stream_keepalive_seconds,
        send_timeout=settings.stream_send_timeout_seconds,
        types=body.include_return_message_types,
    )


@router.post("/agents/{agent_id}/messages", response_model=None)
async def send_message(
    agent_id: AgentIdPath,
    body: LettaRequest,
    actor: ActorDep,
    route: TurnRouteDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A turn: the JSON response, or with ``streaming: true`` the same turn as SSE."""
    turns = route.turns
    if body.streaming:
        return await stream_turn(
            turns, route.follower, route.settings, actor, agent_id, body, key=idempotency_key
        )
    check_json_request(body)
    return json_response(await turns.send(actor, agent_id, body, idempotency_key=idempotency_key))


@router.post("/agents/{agent_id}/messages/stream", response_model=None)
async def stream_message(
    agent_id: AgentIdPath,
    body: LettaRequest,
    actor: ActorDep,
    route: TurnRouteDep,
    idempotency_key: IdempotencyKey = None,
) -> EventSourceResponse:
    return await stream_turn(
        route.turns, route.follower, route.settings, actor, agent_id, body, key=idempotency_key
    )


@router.post("/agents/{agent_id}/messages/async", response_model=RunResponse)
async def send_message_async(
    agent_id: AgentIdPath,
    body: LettaAsyncRequest,
    actor: ActorDep,
    turns: TurnsDep,
    idempotency_key: IdempotencyKey = None,
) -> RunResponse:
    run = await turns.send_async(
        actor, agent_id, body, idempotency_key=idempotency_key, callback_url=body.callback_url
    )
    return RunResponse.model_validate(run)


@router.post("/agents/{agent_id}/messages/cancel", response_model=dict[str, str])
async def cancel_agent_runs(
    agent_id: AgentIdPath,
    session: SessionDep,
    actor: ActorDep,
    control: ControlDep,
    callbacks: CallbacksDep,
    body: CancelRequest | None = None,
) -> dict[str, str]:
    result = await cancel.cancel_agent_runs(
        session, actor, agent_id, body.run_ids if body else None
    )
    for run_id in result:
        control.cancel(run_id)
    callbacks.after_commit(session, actor.organization_id, result)
    return result


@router.post("/groups/{group_id}/messages/stream", response_model=None)
async def stream_group_message(
    group_id: GroupIdPath,
    body: LettaRequest,
    actor: ActorDep,
    turns: TurnsDep,
    follower: FollowerDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> EventSourceResponse:
    manager = await turns.group_manager(actor, group_id)
    return await stream_turn(
        turns, follower, settings, actor, manager, body, group_id=group_id, key=idempotency_key
    )


@router.post("/groups/{group_id}/messages", response_model=None)
async def send_group_message(
    group_id: GroupIdPath,
    body: LettaRequest,
    actor: ActorDep,
    turns: TurnsDep,
    follower: FollowerDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    manager = await turns.group_manager(actor, group_id)
    if body.streaming:
        return await stream_turn(
            turns,
            follower,
            settings,
            actor,
            manager,
            body,
            group_id=group_id,
            key=idempotency_key,
        )
    check_json_request(body)
    return json_response(
        await turns.send(actor, manager, body, group_id=group_id, idempotency_key=idempotency_key)
    )


run_router = APIRouter(prefix="/v1/runs", tags=["runs"])


@run_router.post("/{run_id}/cancel", response_model=dict[str, str])
async def cancel_run(
    run_id: RunIdPath,
    session: SessionDep,
    actor: ActorDep,
    control: ControlDep,
    callbacks: CallbacksDep,
) -> dict[str, str]:
    result = await cancel.cancel_runs(session, actor, [run_id])
    control.cancel(run_id)
    callbacks.after_commit(session, actor.organization_id, result)
    return result
