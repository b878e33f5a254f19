"""The context routes: compact on request, show the window, rebuild the system message.

``summarize`` holds no transaction across the summarising model's call: it reads the window
in one short transaction, calls the model with none open, and stores the summary in another.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import service as agents
from app.agents.compaction import CompactionSettings, merged
from app.agents.models import Agent
from app.agents.prompt import compile_system
from app.auth.deps import Actor
from app.blocks.repository import BlockRepository
from app.compaction.schemas import CompactionResponse
from app.engine import context as ctxmod
from app.engine.compactor import Compactor, NothingToSummarizeError, Overflow
from app.kit.db import Database, utcnow
from app.kit.errors import AppError, BadGateway, BadRequest, NotFound
from app.messages.factory import Owner
from app.messages.repository import MessageRepository
from app.messages.thread import Thread, ThreadWindows
from app.providers.base import ProviderError
from app.runs.admission import busy
from app.runs.lifecycle import RunKind
from app.runs.repository import RunRepository

TURNS = (RunKind.foreground, RunKind.async_)


async def _overflow(
    session: AsyncSession, compactor: Compactor, agent: Agent, thread: Thread, max_messages: int
) -> Overflow:
    """The thread's window as compaction reads it."""
    messages = MessageRepository(session, agent.organization_id)
    start, conversation = thread.context_start_seq, thread.conversation_id
    rows = await messages.in_context(agent.id, start, max_messages, conversation)
    previous = None
    if thread.summary_message_id is not None:
        previous = await messages.summary_text(thread.summary_message_id)
    info = compactor.registry.resolve_stored(agent.model, context_window=agent.context_window_limit)
    room = info.context_window - ctxmod.reserve(agent)
    return Overflow(agent, thread, rows, info, room, previous, 0)


async def _thread(
    session: AsyncSession, actor: Actor, agent: Agent, conversation_id: str | None
) -> Thread:
    if conversation_id is None:
        return Thread.main(agent)
    thread = await ThreadWindows(session, actor.organization_id).conversation(conversation_id)
    if thread is None:
        raise NotFound(f"Conversation {conversation_id} not found")
    return thread


def _provider_failure(exc: ProviderError) -> AppError:
    """The summarising model's failure, answered as a turn's would be (its HTTP status)."""
    error = BadGateway(f"the summarizing model failed: {exc.message}")
    error.status_code = exc.http_status
    return error


async def summarize(
    db: Database,
    compactor: Compactor,
    actor: Actor,
    agent_id: str,
    override: CompactionSettings | None,
    max_messages: int,
    conversation_id: str | None = None,
) -> CompactionResponse:
    """Compact a thread of the agent now: its main thread (Letta's ``POST
    /agents/{id}/summarize``) or the conversation ``conversation_id`` (``/compact``)."""
    org = actor.organization_id
    async with db.session(write=False) as session:
        agent = await agents.get(session, actor, agent_id)
        thread = await _thread(session, actor, agent, conversation_id)

        async def idle(session: AsyncSession) -> None:
            """No turn runs in the thread (one would move its window meanwhile)."""
            if await RunRepository(session, org).active(agent.id, TURNS, conversation_id):
                raise busy(agent.id, conversation_id, f"Agent {agent.id} is busy with a turn")

        await idle(session)
        overflow = await _overflow(session, compactor, agent, thread, max_messages)
    settings = merged(agent.compaction_settings, override)
    if settings.model is not None and override is not None and "model" in override.model_fields_set:
        compactor.registry.resolve(settings.model, field="compaction_settings.model")
    before = len(overflow.rows) + 1 + (overflow.previous is not None)
    try:
        summary = await compactor.summarize(overflow, settings)
    except NothingToSummarizeError as exc:
        raise BadRequest(
            "Summarization failed to reduce the number of messages: "
            f"{exc}. There may be too few messages to compact, or use the `all` mode."
        ) from exc
    except ProviderError as exc:
        raise _provider_failure(exc) from exc
    owner = Owner(org, agent.id, None, None, conversation_id)
    stored = await compactor.store(owner, thread, summary, guard=idle)
    if stored is None:
        raise NotFound(f"Agent {agent.id} not found")
    return CompactionResponse(
        summary=summary.text,
        num_messages_before=before,
        num_messages_after=len(summary.cut.kept) + 2,
    )


async def recompile(session: AsyncSession, actor: Actor, agent_id: str, *, dry_run: bool) -> str:
    """The agent's system prompt compiled from its blocks now, written to its system message
    (``message_ids[0]``) unless ``dry_run``."""
    agent = await agents.get(session, actor, agent_id)
    blocks = [
        b for _, b in await BlockRepository(session, actor.organization_id).for_agents([agent.id])
    ]
    prompt = compile_system(agent, blocks, max(agent.context_start_seq - 1, 0))
    system = await MessageRepository(session, actor.organization_id).system_message(agent.id)
    if system is None:
        raise NotFound(f"No system message found for agent '{agent.id}'")
    if not dry_run:
        system.content = [{"type": "text", "text": prompt}]
        agent.updated_at = utcnow()
    return prompt
