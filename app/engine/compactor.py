"""Compaction, done: the summarising model's call (through the provider code, with its
retries, and with no database transaction open) and the one transaction that stores the
summary message and moves the thread's window past what it summarised.

A turn compacts when a step's window would overflow (``Overflow``). If the summary cannot be
had (the provider fails or times out, or no cut leaves anything to summarise) the step falls
back to plain eviction, as before compaction existed; the run's metadata and a
``compaction.failed`` log line say so. ``/summarize`` compacts on request through
``compact_now``.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.compaction import CompactionSettings, read
from app.agents.models import Agent
from app.blocks.memory import MemoryView
from app.engine import compaction
from app.engine.context import CHARS_PER_TOKEN
from app.engine.events import Compacted, EventSink
from app.kit.db import Database
from app.kit.errors import BadRequest
from app.messages.chat import SUMMARY_ROLE
from app.messages.factory import Owner, new_message
from app.messages.models import Message
from app.messages.recent import SUMMARIES, ChatRow
from app.messages.repository import MessageRepository
from app.messages.thread import Thread, ThreadWindows
from app.providers.base import InvalidResponseError, LLMProvider, ProviderError
from app.providers.registry import ModelInfo, ProviderRegistry
from app.tools.toolset import Toolset

log = structlog.get_logger("app.engine")


@dataclass(frozen=True, slots=True)
class CompactionConfig:
    """The server's compaction settings (``SLEEPTIME_COMPACTION_*``)."""

    enabled: bool = True  # summarise what leaves a full window (off: plain eviction)
    model: str | None = None  # a cheaper model for summaries, unless the agent names one
    triggers_sleeptime: bool = False  # a turn that compacted runs its sleeptime agents


@dataclass(frozen=True, slots=True)
class Overflow:
    """A step whose window does not fit: what compaction needs to make room."""

    agent: Agent
    thread: Thread  # whose window it is: the agent's main thread or a conversation
    rows: list[ChatRow]  # the window's messages, oldest first
    info: ModelInfo  # the model the step runs on
    room_tokens: int  # the room for messages (the summary's included) in that model's window
    previous: str | None  # the thread's current summary, folded into the new one
    context_tokens: int  # the window's estimated size before compaction
    trigger: str = compaction.OVERFLOW  # or ``compaction.MESSAGE_CAP``
    # What the step read besides the window (a turn's step: its memory as the step sees it,
    # and its tools), so that the step goes on without reading them again.
    blocks: list[MemoryView] | None = None
    toolset: Toolset | None = None


class NothingToSummarizeError(Exception):
    """No cut of the window leaves messages to summarise and others to keep."""


_NOTHING = "nothing_to_summarize"  # the record's error type for it


@dataclass(frozen=True, slots=True)
class Summary:
    cut: compaction.Cut
    text: str
    info: ModelInfo  # the model that wrote it


class Compactor:
    def __init__(
        self,
        db: Database,
        registry: ProviderRegistry,
        providers: Callable[[ModelInfo], LLMProvider],
        config: CompactionConfig,
    ) -> None:
        self.db = db
        self.registry = registry
        self.providers = providers
        self.config = config

    def summarizer(self, settings: CompactionSettings, agent_model: ModelInfo) -> ModelInfo:
        """The model that writes summaries: the settings' (``self_compact_*``: the agent's
        own), else the server's compaction model, else the agent's. A handle that is not
        configured (any more) falls back to the agent's model."""
        handle = None if settings.own_model else settings.model or self.config.model
        if handle is None:
            return agent_model
        try:
            return self.registry.resolve(handle, field="compaction_settings.model")
        except BadRequest as exc:
            log.warning("compaction.model_unavailable", model=handle, reason=exc.message)
            return agent_model

    async def summarize(self, overflow: Overflow, settings: CompactionSettings) -> Summary:
        """Cut the window and have the summary written (no transaction open). Raises
        ``ProviderError`` or ``NothingToSummarizeError``."""
        cut = compaction.cut(overflow.rows, settings, overflow.room_tokens)
        if cut is None or not cut.summarized:
            raise NothingToSummarizeError("no cut of the window leaves messages to summarize")
        info = self.summarizer(settings, overflow.info)
        room = max(info.context_window - compaction.SUMMARY_RESERVE_TOKENS, 1024)
        text = compaction.transcript(overflow.previous, cut.summarized, room * CHARS_PER_TOKEN)
        request = compaction.request(settings, info.model, text, None)
        response = await self.providers(info).complete(request)
        if not response.text.strip():
            raise InvalidResponseError("the summarizing model answered with no text")
        return Summary(cut, compaction.clipped(response.text, settings.clip_chars), info)

    async def store(
        self,
        owner: Owner,
        thread: Thread,
        summary: Summary,
        sink: EventSink | None = None,
        event: Callable[[Message], Compacted] | None = None,
        guard: Callable[[AsyncSession], Awaitable[None]] | None = None,
    ) -> Message | None:
        """The summary message, appended to the thread's history in the transaction that
        moves the thread's window past what it summarised (with the compaction's event for
        ``sink``); None if the agent is gone. The main thread's window is on the agent's row,
        set by the statement that numbers the message; a conversation's on its own row.
        ``guard`` runs first in that transaction and may refuse it by raising."""
        content = [{"type": "text", "text": summary.text}]
        message = new_message(owner, SUMMARY_ROLE, content=content)
        window = {"context_start_seq": summary.cut.start_seq, "summary_message_id": message.id}
        org = owner.organization_id
        async with self.db.session() as session:
            if guard is not None:
                await guard(session)
            messages = MessageRepository(session, org)
            if thread.conversation_id is None:
                stored = await messages.append(owner.agent_id, [message], **window)
            else:
                stored = await messages.append(owner.agent_id, [message])
                if stored:
                    await ThreadWindows(session, org).save(thread.conversation_id, window)
            if not stored:
                return None
            if sink is not None and event is not None:
                await sink.committing(session, event(message))
        SUMMARIES.keep(message.id, summary.text)
        return message

    async def compact(
        self, overflow: Overflow, owner: Owner, sink: EventSink, *, announce: bool
    ) -> compaction.Record:
        """Compact a turn's overflowing window; on failure leave it to plain eviction.
        ``announce``: the turn shows Letta's ``event_message`` and ``summary_message``."""
        settings = read(overflow.agent.compaction_settings)
        record = compaction.Record(
            overflow.trigger, settings.mode, context_tokens_before=overflow.context_tokens
        )
        event_data = {
            "trigger": overflow.trigger,
            "context_token_estimate": overflow.context_tokens,
            "context_window": overflow.info.context_window,
        }
        shown = sink if announce else None
        try:
            summary = await self.summarize(overflow, settings)
        except ProviderError as exc:
            return await self._fell_back(record, exc.error_type, str(exc), owner, shown, event_data)
        except NothingToSummarizeError as exc:
            return await self._fell_back(record, _NOTHING, str(exc), owner, shown, event_data)
        record.model = summary.info.handle
        stats = {
            "trigger": overflow.trigger,
            "context_tokens_before": overflow.context_tokens,
            "context_tokens_after": compaction.tokens_of(summary.cut.kept),
            "context_window": overflow.info.context_window,
            "messages_count_before": len(overflow.rows) + 1 + (overflow.previous is not None),
            "messages_count_after": len(summary.cut.kept) + 2,
        }

        event_id = _event_id()

        def event(message: Message) -> Compacted:
            return Compacted(event_id, event_data, message, stats)

        message = await self.store(owner, overflow.thread, summary, shown, event)
        if message is None:
            gone = "the agent was deleted while its window was summarized"
            return await self._fell_back(record, "agent_deleted", gone, owner, None, event_data)
        if announce:
            await sink.emit(event(message))
        record.summary_message_id = message.id
        record.summary, record.kept = summary.text, summary.cut.kept
        record.messages_summarized, record.messages_kept = (
            len(summary.cut.summarized),
            len(summary.cut.kept),
        )
        log.info(
            "compaction.done", agent_id=owner.agent_id, run_id=owner.run_id, **record.as_metadata()
        )
        return record

    async def _fell_back(
        self,
        record: compaction.Record,
        error_type: str,
        message: str,
        owner: Owner,
        sink: EventSink | None,
        event_data: dict[str, Any],
    ) -> compaction.Record:
        record.status = "evicted"
        record.error = {"type": error_type, "message": message}
        log.warning(
            "compaction.failed",
            agent_id=owner.agent_id,
            run_id=owner.run_id,
            fallback="eviction",
            error_type=error_type,
            error=message,
        )
        if sink is not None:
            event = Compacted(_event_id(), {**event_data, "fallback": "eviction"}, None, None)
            async with self.db.session() as session:
                await sink.committing(session, event)
            await sink.emit(event)
        return record


def _event_id() -> str:
    return f"message-{uuid.uuid4()}"
