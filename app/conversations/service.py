"""Conversations of an agent: create, list, retrieve, modify, delete and fork, and which
thread a conversation route addresses.

A conversation is a thread of its agent (see ``app.messages.thread``): it shares the agent's
memory blocks, tools and sleeptime group, and keeps its own messages and context window.
Routes that take a conversation id also take Letta's agent-direct forms for the agent's main
thread: ``default`` with an ``agent_id``, or (deprecated) the agent's id itself.
"""

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import service as agents_service
from app.agents import settings as model_settings
from app.agents.models import Agent
from app.auth.deps import Actor
from app.conversations.models import Conversation
from app.conversations.repository import ConversationRepository, OrderBy
from app.conversations.schemas import (
    ConversationResponse,
    CreateConversation,
    UpdateConversation,
)
from app.kit.db import Database, utcnow
from app.kit.errors import BadRequest, NotFound, Unprocessable
from app.kit.ids import Prefix, is_valid, new_id
from app.kit.pagination import Order
from app.messages.models import Message
from app.messages.repository import MessageRepository
from app.messages.thread import Thread
from app.providers.registry import ProviderRegistry

DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Target:
    """The thread a conversation route addresses: a conversation, or an agent's main thread
    (``conversation`` None)."""

    agent_id: str
    conversation: Conversation | None

    @property
    def conversation_id(self) -> str | None:
        return None if self.conversation is None else self.conversation.id

    def thread(self, agent_thread: Thread) -> Thread:
        return agent_thread if self.conversation is None else Thread.of(self.conversation)


def _check_id(conversation_id: str) -> None:
    if not is_valid(Prefix.conversation, conversation_id):
        raise Unprocessable(
            f"conversation_id: expected 'conv-<uuid4>', 'default' (with agent_id) or an agent "
            f"id, not {conversation_id!r}"
        )


async def get(session: AsyncSession, actor: Actor, conversation_id: str) -> Conversation:
    _check_id(conversation_id)
    found = await ConversationRepository(session, actor.organization_id).get(conversation_id)
    if found is None:
        raise NotFound(f"Conversation {conversation_id} not found")
    return found


async def target(
    session: AsyncSession, actor: Actor, conversation_id: str, agent_id: str | None
) -> Target:
    """The thread ``conversation_id`` names: ``default`` with ``agent_id`` or an agent id
    (Letta's agent-direct mode) name the agent's main thread; a ``conv-`` id its
    conversation. Unknown agents and conversations are 404s."""
    if conversation_id == DEFAULT:
        if agent_id is None:
            raise Unprocessable("agent_id: required with conversation_id 'default'")
        return Target((await agents_service.get(session, actor, agent_id)).id, None)
    if is_valid(Prefix.agent, conversation_id):
        return Target((await agents_service.get(session, actor, conversation_id)).id, None)
    conversation = await get(session, actor, conversation_id)
    return Target(conversation.agent_id, conversation)


class Owners:
    """Which agent a conversation belongs to, for the conversations this process sent to
    last. A conversation never changes agents, so the send route learns it once and leaves
    every other check (the conversation still exists, is this organization's, is the
    agent's) to the turn's acceptance, which reads the conversation anyway: a send costs no
    read of its own."""

    def __init__(self, size: int = 4096) -> None:
        self._agents: OrderedDict[str, str] = OrderedDict()
        self._size = size

    async def agent_of(self, db: Database, actor: Actor, conversation_id: str) -> str:
        key = f"{actor.organization_id}/{conversation_id}"
        agent_id = self._agents.get(key)
        if agent_id is None:
            async with db.session(write=False) as session:
                agent_id = (await get(session, actor, conversation_id)).agent_id
            self._agents[key] = agent_id
            while len(self._agents) > self._size:
                self._agents.popitem(last=False)
        else:
            self._agents.move_to_end(key)
        return agent_id


OWNERS = Owners()


async def send_target(
    db: Database, actor: Actor, conversation_id: str, agent_id: str | None
) -> tuple[str, str | None]:
    """The agent and thread (None: its main one) a send addresses, as ``target`` names them,
    reading nothing the turn's acceptance reads again (an unknown agent or a deleted
    conversation is its 404)."""
    if conversation_id == DEFAULT:
        if agent_id is None:
            raise Unprocessable("agent_id: required with conversation_id 'default'")
        return agent_id, None
    if is_valid(Prefix.agent, conversation_id):
        return conversation_id, None
    _check_id(conversation_id)
    return await OWNERS.agent_of(db, actor, conversation_id), conversation_id


async def response(
    session: AsyncSession, actor: Actor, conversation: Conversation, *, hydrate: bool = True
) -> ConversationResponse:
    shown = ConversationResponse.model_validate(conversation)
    if hydrate:
        repo = ConversationRepository(session, actor.organization_id)
        shown.in_context_message_ids = await repo.in_context_ids(conversation)
    return shown


def _model_values(
    registry: ProviderRegistry,
    agent: Agent,
    conversation: Conversation | None,
    body: CreateConversation | UpdateConversation,
) -> dict[str, object]:
    """The conversation's own model columns a request sets. A model must be configured (400
    naming ``model``); settings are filled with the model's defaults where the request leaves
    them out, as Letta builds a conversation's model config from its handle; a new model
    starts from its own defaults."""
    sent = body.model_fields_set & {"model", "model_settings", "context_window_limit"}
    if not sent:
        return {}
    before = conversation or Conversation()
    model = body.model if "model" in sent else before.model
    window = body.context_window_limit if "context_window_limit" in sent else None
    if "context_window_limit" not in sent:
        window = before.context_window_limit
    if model is not None:
        registry.resolve(model, context_window=window or agent.context_window_limit)
    settings = None if model != before.model else before.model_settings
    if body.model_settings is not None:
        settings = {**(settings or {}), **body.model_settings}
    filled = None
    if model is not None or settings is not None:
        info = registry.resolve_stored(model or agent.model, context_window=window)
        max_tokens = model_settings.max_tokens_of(settings, None) or agent.max_tokens
        filled = model_settings.filled(info.provider, info.model, settings, max_tokens=max_tokens)
    return {"model": model, "model_settings": filled, "context_window_limit": window}


async def create(
    session: AsyncSession,
    actor: Actor,
    agent_id: str,
    body: CreateConversation,
    registry: ProviderRegistry | None = None,
) -> Conversation:
    agent = await agents_service.get(session, actor, agent_id)
    own = _model_values(registry, agent, None, body) if registry is not None else {}
    now = utcnow()
    conversation = Conversation(
        id=new_id(Prefix.conversation),
        organization_id=actor.organization_id,
        agent_id=agent.id,
        summary=body.summary,
        context_start_seq=0,
        is_deleted=False,
        hidden=body.hidden,
        created_at=now,
        updated_at=now,
        **own,
    )
    ConversationRepository(session, actor.organization_id).add(conversation)
    await session.flush()
    return conversation


async def list_conversations(
    session: AsyncSession,
    actor: Actor,
    *,
    agent_id: str | None,
    limit: int,
    after: str | None,
    order: Order,
    order_by: OrderBy,
    summary_search: str | None,
) -> Sequence[Conversation]:
    if agent_id is not None:
        await agents_service.get(session, actor, agent_id)
    return await ConversationRepository(session, actor.organization_id).list_page(
        agent_id=agent_id,
        limit=limit,
        after=after,
        order=order,
        order_by=order_by,
        summary_search=summary_search,
    )


async def update(
    session: AsyncSession,
    actor: Actor,
    conversation_id: str,
    body: UpdateConversation,
    registry: ProviderRegistry,
) -> Conversation:
    conversation = await get(session, actor, conversation_id)
    agent = await agents_service.get(session, actor, conversation.agent_id)
    values = _model_values(registry, agent, conversation, body)
    if "summary" in body.model_fields_set:
        values["summary"] = body.summary
    if values:
        values["updated_at"] = utcnow()
        await ConversationRepository(session, actor.organization_id).save(conversation, values)
    return conversation


async def delete(session: AsyncSession, actor: Actor, conversation_id: str) -> None:
    """Soft delete: the conversation leaves every list and answers 404 from now on; its
    messages stay in the agent's history (and in what its sleeptime agents have read)."""
    conversation = await get(session, actor, conversation_id)
    await ConversationRepository(session, actor.organization_id).save(
        conversation, {"is_deleted": True, "updated_at": utcnow()}
    )


async def fork(
    session: AsyncSession,
    actor: Actor,
    source: Target,
    *,
    message_id: str | None,
    hidden: bool,
) -> Conversation:
    """A new conversation of the same agent holding copies of the source thread's
    in-context messages (up to and including ``message_id``). A message belongs to one
    thread here, so the fork copies what Letta's fork shares; the copies belong to no run and
    name the message they copy (``forked_from_id``: the original, through forks of forks).
    Calls the source still waits on (a pending approval) are left out: the fork starts
    free to take a message."""
    org = actor.organization_id
    agent = await agents_service.get(session, actor, source.agent_id, for_update=True)
    thread = source.thread(Thread.main(agent))
    messages = MessageRepository(session, org)
    window = await messages.list_page(
        agent.id,
        limit=1_000_000,
        order=Order.asc,
        after=None,
        conversation_id=thread.conversation_id,
    )
    window = [m for m in window if m.seq >= max(thread.context_start_seq, 1)]
    window = _cut(window, message_id, (thread.pending_approval or {}).get("message_id"))
    conversation = await create(session, actor, agent.id, CreateConversation(hidden=hidden))
    if source.conversation is not None:  # the fork runs on the source's own model
        for name in ("model", "model_settings", "context_window_limit"):
            setattr(conversation, name, getattr(source.conversation, name))
    copies = [_copy(m, conversation.id) for m in window]
    if copies and not await messages.append(agent.id, copies):
        raise NotFound(f"Agent {agent.id} not found")
    by_source = {m.id: c.id for m, c in zip(window, copies, strict=True)}
    if thread.summary_message_id in by_source:
        conversation.summary_message_id = by_source[thread.summary_message_id]
    await session.flush()
    return conversation


def _cut(window: list[Message], message_id: str | None, paused: str | None) -> list[Message]:
    ids = [m.id for m in window]
    if message_id is not None:
        if message_id not in ids:
            raise BadRequest(f"message_id: {message_id!r} is not in the source's context")
        window = window[: ids.index(message_id) + 1]
        ids = ids[: len(window)]
    if paused is not None and paused in ids:
        window = window[: ids.index(paused)]
    return window


def _copy(message: Message, conversation_id: str) -> Message:
    return Message(
        id=new_id(Prefix.message),
        organization_id=message.organization_id,
        agent_id=message.agent_id,
        conversation_id=conversation_id,
        role=message.role,
        content=message.content,
        tool_calls=message.tool_calls,
        tool_call_id=message.tool_call_id,
        tool_returns=message.tool_returns,
        approvals=message.approvals,
        name=message.name,
        sender_id=message.sender_id,
        group_id=message.group_id,
        forked_from_id=message.forked_from_id or message.id,
        is_err=message.is_err,
        text=message.text,
        created_at=message.created_at,
    )
