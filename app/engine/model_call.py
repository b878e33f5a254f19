"""The model call of a step: whole, or streamed with its tokens relayed to the run's stream,
and abandoned as soon as the turn is cancelled."""

import asyncio
from contextlib import suppress

from app.agents.models import Agent
from app.engine import rules
from app.kit.db import Database
from app.messages.convert import shows_replies
from app.providers.base import LLMProvider, LLMRequest, LLMResponse, ProviderError
from app.streaming.recorder import RunRecorder
from app.streaming.tokens import TokenRelay


class TurnCancelledError(Exception):
    pass


def token_relay(
    db: Database,
    recorder: RunRecorder,
    agent: Agent,
    *,
    step_id: str,
    message_id: str,
    client_tools: set[str],
    use_assistant_message: bool,
) -> TokenRelay:
    return TokenRelay(
        db,
        recorder,
        message_id=message_id,
        step_id=step_id,
        agent_type=agent.agent_type,
        pausing=rules.rule_names(agent, "requires_approval") | client_tools,
        replies=shows_replies(agent.agent_type, use_assistant_message),
    )


async def call_model(
    provider: LLMProvider, request: LLMRequest, relay: TokenRelay | None, cancel: asyncio.Event
) -> LLMResponse:
    """The answer; ``TurnCancelledError`` once ``cancel`` is set, the call abandoned."""
    model = provider.complete(request) if relay is None else relay.follow(provider.stream(request))
    call = asyncio.ensure_future(model)
    waiter = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({call, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if call.done():
            return call.result()
        raise TurnCancelledError
    finally:
        for task in (waiter, call):
            if not task.done():
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task


def failure_message(exc: ProviderError, relay: TokenRelay | None) -> str:
    """What the run and its stream say of a failed call. Nothing of the step is stored;
    when part of the answer was relayed already, the client is told it was not kept."""
    if relay is None or not relay.relayed:
        return exc.message
    return f"{exc.message} (the partial answer streamed as {relay.message_id} was not stored)"
