"""Whether a turn may start: the agent's turn gate in this process, the agent's state, and
another process's turn of the same agent.

The gate (one turn per agent in this process; ``reject`` refuses a busy agent at once,
``enqueue`` waits up to ``turn_wait_seconds``) is taken here for every turn, JSON or streamed.
A streamed turn is accepted on a task of its own once its stream is open, so the first byte
never waits for the acceptance transaction; a turn that cannot start at all must still be an
HTTP error, as the JSON route answers it (409 ``AGENT_BUSY`` or ``PENDING_APPROVAL``), not a
200 whose stream carries the error. So a streamed request also reads, without writing,
whether another process is running a turn of the agent or an approval is pending.
Acceptance then runs in the turn's task: only a turn started elsewhere in the moment between
this check and its acceptance is still reported inside the stream.
"""

import asyncio
import time
from contextlib import AsyncExitStack, suppress

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.agents.repository import AgentRepository
from app.auth.deps import Actor
from app.kit.errors import NotFound
from app.messages.thread import Thread, ThreadWindows
from app.runs import lifecycle
from app.runs.admission import busy
from app.runs.repository import RunRepository
from app.runs.states import ACTIVE
from app.turns import approvals
from app.turns.types import TurnDeps


def require_startable(
    agent: Agent | None, agent_id: str, *, approving: bool, thread: Thread | None = None
) -> Agent:
    """The agent, if a turn of it may start in ``thread`` (by default its main thread): it
    exists and, unless the turn answers one, no approval is pending in that thread."""
    if agent is None:
        raise NotFound(f"Agent {agent_id} not found")
    thread = thread or Thread.main(agent)
    if not approving and thread.pending_approval:
        raise approvals.pending_error(thread)
    return agent


async def conversation_thread(
    session: AsyncSession, organization_id: str, agent_id: str, conversation_id: str
) -> Thread:
    """The conversation's thread, which must be one of the agent's (404 otherwise)."""
    thread = await ThreadWindows(session, organization_id).conversation(conversation_id)
    if thread is None or thread.agent_id != agent_id:
        raise NotFound(f"Conversation {conversation_id} not found")
    return thread


async def _main_thread_busy(
    session: AsyncSession, organization_id: str, agent_id: str, *, approving: bool
) -> bool:
    """``require_startable`` for the main thread, and whether a turn runs on it, read in one
    statement (this check is on the way to a stream's first byte)."""
    state = await AgentRepository(session, organization_id).main_thread_state(
        agent_id, lifecycle.TURN_KINDS
    )
    if state is None:
        raise NotFound(f"Agent {agent_id} not found")
    pending, active = state
    if not approving and pending:
        raise approvals.pending_error(Thread(agent_id, None, pending_approval=pending))
    return active


class Admission:
    def __init__(self, deps: TurnDeps) -> None:
        self.deps = deps

    async def hold(
        self,
        stack: AsyncExitStack,
        actor: Actor,
        agent_id: str,
        *,
        wait: bool,
        conversation_id: str | None = None,
    ) -> float:
        """Enter the thread's turn gate on ``stack``; the time left of the wait bound after.
        Keyed by organization too: another organization naming this id must not queue
        behind (or learn anything about) a turn that is not its own."""
        wait_seconds = self.deps.settings.turn_wait_seconds
        started = time.monotonic()
        key = Thread(agent_id, conversation_id).key(actor.organization_id)
        await stack.enter_async_context(
            self.deps.gate.turn(key, wait=wait, wait_seconds=wait_seconds)
        )
        return wait_seconds - (time.monotonic() - started)

    async def check_startable(
        self,
        actor: Actor,
        agent_id: str,
        *,
        approving: bool,
        wait_seconds: float | None,
        conversation_id: str | None = None,
    ) -> None:
        """Raise the 404/409 the turn's acceptance would raise, reading only. ``wait_seconds``
        is how long to wait for another process's turn to end (``None``: refuse at once)."""
        org = actor.organization_id
        deadline = time.monotonic() + (wait_seconds or 0.0)
        while True:
            async with self.deps.db.session(write=False) as session:
                if conversation_id is None:
                    active = await _main_thread_busy(session, org, agent_id, approving=approving)
                else:
                    agent = await AgentRepository(session, org).get(agent_id)
                    thread = None
                    if agent is not None:
                        thread = await conversation_thread(session, org, agent_id, conversation_id)
                    require_startable(agent, agent_id, approving=approving, thread=thread)
                    active = bool(
                        await lifecycle.active_turns(session, org, agent_id, conversation_id)
                    )
            if not active:
                return
            remaining = deadline - time.monotonic()
            if wait_seconds is None or remaining <= 0:
                raise busy(agent_id, conversation_id)
            await self.until_turn_ends(actor, agent_id, remaining, conversation_id)

    async def until_turn_ends(
        self, actor: Actor, agent_id: str, seconds: float, conversation_id: str | None = None
    ) -> None:
        """Wait up to ``seconds`` for the thread's active turn (in any process) to end."""
        async with self.deps.db.session(write=False) as session:
            active = await lifecycle.active_turns(
                session, actor.organization_id, agent_id, conversation_id
            )
        if not active:
            return
        run_id = active[0].id
        ended = self.deps.control.watch(run_id)
        try:
            async with self.deps.db.session(write=False) as session:
                run = await RunRepository(session, actor.organization_id).get(run_id)
            if run is not None and run.status in ACTIVE:
                with suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), seconds)
        finally:
            self.deps.control.unwatch(run_id, ended)
