"""``/v1/conversations``: an agent's conversations and their messages, as Letta serves them.

Every route that takes a conversation id also takes Letta's agent-direct forms for the
agent's main thread (see ``app.conversations.service.target``). Sending is a turn like any
other (``app.turns``), in the conversation's thread; it streams unless ``streaming`` is false
and is refused with 409 while the thread has a turn in progress.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import EventSourceResponse

from app.agents.deps import AgentDeps
from app.auth.deps import ActorDep
from app.conversations import service
from app.conversations.repository import OrderBy
from app.conversations.schemas import (
    ConversationMessageRequest,
    ConversationResponse,
    ConversationStreamRequest,
    CreateConversation,
    UpdateConversation,
)
from app.kit.deps import DatabaseDep, SessionDep, SettingsDep
from app.kit.errors import BadRequest, Unprocessable
from app.kit.pagination import Order
from app.messages.endpoints import Types, list_letta_messages
from app.messages.listing import MessagePage
from app.messages.repository import MessageRepository
from app.messages.thread import Thread
from app.runs import lifecycle
from app.runs.admission import AgentBusy, ConversationBusy
from app.runs.deps import ControlDep
from app.runs.repository import RunRepository
from app.streaming.deps import FollowerDep
from app.streaming.endpoints import RetrieveStreamRequest, resume_stream
from app.turns import cancel
from app.turns.deps import CallbacksDep, TurnsDep
from app.turns.endpoints import IdempotencyKey, check_json_request, json_response, stream_turn

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])

AgentQuery = Annotated[
    str | None, Query(description="With conversation_id 'default': the agent (agent-direct).")
]


@router.post("/", response_model=ConversationResponse)
async def create_conversation(
    session: SessionDep,
    actor: ActorDep,
    deps: AgentDeps,
    agent_id: Annotated[str, Query(description="The agent to create a conversation for.")],
    body: Annotated[CreateConversation | None, Body()] = None,
) -> ConversationResponse:
    conversation = await service.create(
        session, actor, agent_id, body or CreateConversation(), deps.registry
    )
    return await service.response(session, actor, conversation)


@router.get("/", response_model=list[ConversationResponse])
async def list_conversations(
    session: SessionDep,
    actor: ActorDep,
    agent_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    after: str | None = None,
    summary_search: Annotated[str | None, Query(max_length=1000)] = None,
    order: Order = Order.desc,
    order_by: OrderBy = "created_at",
) -> list[ConversationResponse]:
    found = await service.list_conversations(
        session,
        actor,
        agent_id=agent_id,
        limit=limit,
        after=after,
        order=order,
        order_by=order_by,
        summary_search=summary_search,
    )
    return [await service.response(session, actor, c, hydrate=False) for c in found]


@router.get("/{conversation_id}", response_model=ConversationResponse)
async def retrieve_conversation(
    conversation_id: str, session: SessionDep, actor: ActorDep
) -> ConversationResponse:
    conversation = await service.get(session, actor, conversation_id)
    return await service.response(session, actor, conversation)


@router.patch("/{conversation_id}", response_model=ConversationResponse)
async def modify_conversation(
    conversation_id: str,
    body: UpdateConversation,
    session: SessionDep,
    actor: ActorDep,
    deps: AgentDeps,
) -> ConversationResponse:
    conversation = await service.update(session, actor, conversation_id, body, deps.registry)
    return await service.response(session, actor, conversation)


@router.delete("/{conversation_id}", response_model=None)
async def delete_conversation(conversation_id: str, session: SessionDep, actor: ActorDep) -> None:
    await service.delete(session, actor, conversation_id)


@router.post("/{conversation_id}/fork", response_model=ConversationResponse)
async def fork_conversation(
    conversation_id: str,
    session: SessionDep,
    actor: ActorDep,
    agent_id: AgentQuery = None,
    hidden: Annotated[bool, Query(description="Leave the fork out of listings.")] = False,
    message_id: str | None = None,
) -> ConversationResponse:
    source = await service.target(session, actor, conversation_id, agent_id)
    forked = await service.fork(session, actor, source, message_id=message_id, hidden=hidden)
    return await service.response(session, actor, forked)


@router.get("/{conversation_id}/messages", response_model=list[dict[str, Any]])
async def list_conversation_messages(
    conversation_id: str,
    session: SessionDep,
    actor: ActorDep,
    agent_id: AgentQuery = None,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order: Order = Order.desc,
    order_by: Literal["created_at"] = "created_at",
    group_id: str | None = None,
    include_err: bool | None = None,
    include_return_message_types: Types = None,
) -> list[dict[str, Any]]:
    thread = await service.target(session, actor, conversation_id, agent_id)
    page = MessagePage(
        limit,
        order,
        after=after,
        before=before,
        group_id=group_id,
        conversation_id=thread.conversation_id,
    )
    return await list_letta_messages(
        session, actor, thread.agent_id, page, include_return_message_types
    )


@asynccontextmanager
async def _as_conversation_busy(conversation_id: str) -> AsyncIterator[None]:
    """An agent's main thread addressed as a conversation answers busy as one (Letta locks
    the agent-direct mode with the same conversation lock)."""
    try:
        yield
    except ConversationBusy:
        raise
    except AgentBusy as exc:
        raise ConversationBusy(conversation_id) from exc


@router.post("/{conversation_id}/messages", response_model=None)
async def send_conversation_message(
    conversation_id: str,
    body: ConversationMessageRequest,
    db: DatabaseDep,
    actor: ActorDep,
    turns: TurnsDep,
    follower: FollowerDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A turn in the conversation: SSE by default, the JSON response with
    ``streaming: false``."""
    if not body.messages and body.input is None:
        raise Unprocessable("messages: must not be empty")
    agent_id, conv = await service.send_target(db, actor, conversation_id, body.agent_id)
    async with _as_conversation_busy(conversation_id):
        if body.streaming:
            return await stream_turn(
                turns,
                follower,
                settings,
                actor,
                agent_id,
                body,
                key=idempotency_key,
                conversation_id=conv,
            )
        check_json_request(body)
        sent = await turns.send(
            actor, agent_id, body, idempotency_key=idempotency_key, conversation_id=conv
        )
        return json_response(sent)


@router.post("/{conversation_id}/stream", response_model=None)
async def retrieve_conversation_stream(
    conversation_id: str,
    session: SessionDep,
    actor: ActorDep,
    follower: FollowerDep,
    settings: SettingsDep,
    body: ConversationStreamRequest | None = None,
) -> EventSourceResponse:
    """Re-attach to a turn of the conversation: the run named by ``run_id``, the one that
    took the message sent with ``otid``, or else its newest active run."""
    body = body or ConversationStreamRequest()
    thread = await service.target(session, actor, conversation_id, body.agent_id)
    run_id = await _stream_run(session, actor.organization_id, thread, body)
    request = RetrieveStreamRequest(
        starting_after=body.starting_after, include_pings=body.include_pings
    )
    return await resume_stream(run_id, actor, follower, settings, request)


async def _stream_run(
    session: AsyncSession, org: str, thread: service.Target, body: ConversationStreamRequest
) -> str:
    runs = RunRepository(session, org)
    if body.run_id is not None:
        run = await runs.get(body.run_id)
        if run is None or (run.agent_id, run.conversation_id) != (
            thread.agent_id,
            thread.conversation_id,
        ):
            raise BadRequest(f"run_id: {body.run_id!r} is not a run of this conversation")
        return run.id
    if body.otid is not None:
        messages = MessageRepository(session, org)
        sent = await messages.by_otid(thread.agent_id, body.otid, thread.conversation_id)
        if sent is None or sent.run_id is None:
            raise BadRequest(f"otid: no message of this conversation was sent with {body.otid!r}")
        return sent.run_id
    active = await lifecycle.active_turns(session, org, thread.agent_id, thread.conversation_id)
    if not active:
        raise BadRequest("No active runs found for this conversation.")
    return active[0].id


@router.post("/{conversation_id}/cancel", response_model=dict[str, str])
async def cancel_conversation(
    conversation_id: str,
    session: SessionDep,
    actor: ActorDep,
    control: ControlDep,
    callbacks: CallbacksDep,
    agent_id: AgentQuery = None,
) -> dict[str, str]:
    thread = await service.target(session, actor, conversation_id, agent_id)
    if thread.conversation is None:
        result = await cancel.cancel_agent_runs(session, actor, thread.agent_id, None)
    else:
        conversation = Thread.of(thread.conversation)
        result = await cancel.cancel_conversation_runs(session, actor, conversation)
    for run_id in result:
        control.cancel(run_id)
    callbacks.after_commit(session, actor.organization_id, result)
    return result
