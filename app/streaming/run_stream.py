"""A run's events in Letta's wire format: the consumer of the engine's events that every turn
has. It renders them as Letta's messages, numbers and keeps them (``RunRecorder``), publishes
them to live followers, and keeps the steps' messages for a JSON response.

What a step or a turn's end stores is written in the transaction that stores it
(``committing``) and published once that has committed (``emit``); token deltas are published
as they come and written in batches.
"""

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.engine.events import (
    Committed,
    Compacted,
    Event,
    StepCommitted,
    TokenDelta,
    TurnEnded,
    TurnError,
)
from app.kit.db import Database
from app.messages.convert import compaction_messages, shows_replies, to_letta_many
from app.runs import events
from app.streaming.closing import closing_events
from app.streaming.recorder import Payload, RunRecorder
from app.streaming.tokens import TokenRenderer

log = structlog.get_logger("app.streaming")


class RunStream:
    def __init__(
        self, db: Database, recorder: RunRecorder, *, use_assistant_message: bool = True
    ) -> None:
        self.db = db
        self.recorder = recorder
        self.use_assistant_message = use_assistant_message  # Letta's, as the request set it
        self.messages: list[dict[str, Any]] = []  # the steps' messages, for a JSON response
        self._tokens: TokenRenderer | None = None

    async def emit(self, event: Event) -> None:
        if isinstance(event, TokenDelta):
            tokens = self._tokens
            if tokens is None or tokens.answer is not event.answer:
                replies = shows_replies(event.answer.agent_type, self.use_assistant_message)
                tokens = self._tokens = TokenRenderer(event.answer, replies=replies)
            chunk = tokens.render(event)
            if chunk is not None:
                await self.recorder.delta(self.db, chunk)
        elif isinstance(event, StepCommitted | Compacted | TurnEnded):
            await self.recorder.publish()
            if isinstance(event, StepCommitted):
                events.step(self.recorder.run_id, event.step_id, event.usage.total_tokens)
        elif isinstance(event, TurnError):
            log.info("run.failed", run_id=self.recorder.run_id, error_type=event.error_type)

    async def committing(self, session: AsyncSession, *events: Committed) -> None:
        payloads: list[Payload] = []
        for event in events:
            if isinstance(event, StepCommitted):
                payloads += await self._step(event)
            elif isinstance(event, Compacted):
                shown = compaction_messages(event, self.recorder.run_id)
                self.messages += shown
                payloads += shown
            else:
                payloads += closing_events(event.outcome)
        await self.recorder.write(session, payloads)

    def rolled_back(self) -> None:
        self.recorder.discard()

    async def _step(self, step: StepCommitted) -> list[Payload]:
        """The step's messages in Letta's form. With its answer streamed, the deltas showed
        the answer: what they could not show of it goes out now, then its results."""
        replies = shows_replies(step.agent_type, self.use_assistant_message)
        # A heartbeat the rules stored to keep the turn going is history, not answer (as
        # in Letta, a turn's response holds no user-role message).
        said = [m for m in step.messages if m.role != "user"]
        letta = to_letta_many(said, step.agent_type, assistant_messages=replies)
        self.messages += letta
        if not step.streamed:
            return list(letta)
        answer = step.messages[0]
        tokens = self._tokens
        if tokens is not None and tokens.answer.message_id == answer.id:
            for chunk in tokens.finish(answer):
                await self.recorder.delta(None, chunk)
        return [m for m in letta if m["id"] != answer.id]
