"""A JSON turn's response: built from the turn's collected messages as it ends, or rebuilt
from what a finished run stored (an idempotent replay, a retried approval)."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.repository import AgentRepository
from app.auth.deps import Actor
from app.engine.results import TurnOutcome
from app.messages.convert import shows_replies, to_letta_many
from app.messages.repository import MessageRepository
from app.messages.schemas import LettaResponse
from app.runs.models import Run
from app.runs.states import StopReason
from app.streaming.closing import usage_statistics
from app.turns.finish import turn_failure

INPUT_TYPES = frozenset({"user_message", "approval_response_message", "system_message"})


def turn_response(
    run_id: str, outcome: TurnOutcome, shown: list[dict[str, Any]], types: Sequence[str] | None
) -> LettaResponse:
    """The response of a turn that just ended with ``outcome``, showing ``shown`` (the
    messages it produced) filtered to ``types``; its HTTP error if it failed at the provider."""
    if (failure := turn_failure(run_id, outcome.error)) is not None:
        raise failure  # the run has ended and the agent is free: the client may go on
    messages = [m for m in shown if not types or m["message_type"] in types]
    return LettaResponse(
        messages=messages,
        stop_reason={"message_type": "stop_reason", "stop_reason": outcome.stop_reason},
        usage=usage_statistics(outcome.usage, outcome.run_ids),
    )


async def response_of(
    session: AsyncSession, actor: Actor, run: Run, types: Sequence[str] | None
) -> LettaResponse:
    """The response a finished run gave, rebuilt from what it stored (its HTTP error, if
    it failed at the provider)."""
    if (failure := turn_failure(run.id, run.error)) is not None:
        raise failure
    agent = await AgentRepository(session, actor.organization_id).get(run.agent_id)
    agent_type = agent.agent_type if agent else "letta_v1_agent"
    stored = await MessageRepository(session, actor.organization_id).for_run(run.id)
    wanted = set(types) if types else None
    asked = (run.request_config or {}).get("use_assistant_message", True)
    replies = shows_replies(agent_type, asked is not False)
    messages = [
        m
        for m in to_letta_many(stored, agent_type, assistant_messages=replies)
        if m["message_type"] not in INPUT_TYPES and (wanted is None or m["message_type"] in wanted)
    ]
    usage = run.usage or usage_statistics()
    return LettaResponse(
        messages=messages,
        stop_reason={
            "message_type": "stop_reason",
            "stop_reason": run.stop_reason or StopReason.error,
        },
        usage=usage,
    )
