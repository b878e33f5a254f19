"""Whether a streamed turn may start, decided before its response starts.

A streamed turn is accepted on a task of its own once its stream is open, so the first byte
never waits for the acceptance transaction. A turn that cannot start at all must still be an
HTTP error, as the JSON route answers it (409 ``AGENT_BUSY`` or ``PENDING_APPROVAL``), not a
200 whose stream carries the error. So the request takes the agent's turn gate first (with
``reject`` a busy agent is a 409 at once; with ``enqueue`` it waits up to
``turn_wait_seconds``, then is a 409), and reads, without writing, whether another process is
running a turn of the agent or an approval is pending. Acceptance then runs in the turn's task
as before: only a turn started elsewhere in the moment between this check and its acceptance
is still reported inside the stream.
"""

import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

from app.agents.repository import AgentRepository
from app.auth.deps import Actor
from app.kit.db import Database
from app.kit.errors import NotFound
from app.runs import lifecycle
from app.runs.admission import AgentBusy, TurnGate
from app.turns import approvals

UntilTurnEnds = Callable[[Actor, str, float], Awaitable[None]]


async def hold_turn(
    stack: AsyncExitStack,
    gate: TurnGate,
    actor: Actor,
    agent_id: str,
    *,
    wait: bool,
    wait_seconds: float,
) -> float:
    """Enter the agent's turn gate on ``stack``; the time left of ``wait_seconds`` after."""
    started = time.monotonic()
    await stack.enter_async_context(
        gate.turn(f"{actor.organization_id}/{agent_id}", wait=wait, wait_seconds=wait_seconds)
    )
    return wait_seconds - (time.monotonic() - started)


async def check_startable(
    db: Database,
    actor: Actor,
    agent_id: str,
    *,
    approving: bool,
    wait_seconds: float | None,
    until_turn_ends: UntilTurnEnds,
) -> None:
    """Raise the 404/409 the turn's acceptance would raise, reading only. ``wait_seconds``
    is how long to wait for another process's turn to end (``None``: refuse at once)."""
    deadline = time.monotonic() + (wait_seconds or 0.0)
    while True:
        async with db.session(write=False) as session:
            agent = await AgentRepository(session, actor.organization_id).get(agent_id)
            if agent is None:
                raise NotFound(f"Agent {agent_id} not found")
            if not approving and agent.pending_approval:
                raise approvals.pending_error(agent)
            active = await lifecycle.active_turns(session, actor.organization_id, agent_id)
        if not active:
            return
        remaining = deadline - time.monotonic()
        if wait_seconds is None or remaining <= 0:
            raise AgentBusy(f"Agent {agent_id} is busy with another turn", agent_id=agent_id)
        await until_turn_ends(actor, agent_id, remaining)
