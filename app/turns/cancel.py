"""Cancelling runs: idempotent, and always ending in a terminal state.

- ``created``: cancelled at once.
- ``running``: flagged; the process executing it stops at its next chance (at once when it
  is this process, within a heartbeat otherwise), and a dead owner's run is settled as
  cancelled by the reaper.
- paused on ``requires_approval``: cancelled, and its pending tool calls are denied so the
  agent is free for new messages.
- already ended: left as it is.
"""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.repository import AgentRepository
from app.auth.deps import Actor
from app.kit.errors import Conflict, NotFound
from app.messages.factory import Owner, new_message, tool_result
from app.messages.repository import MessageRepository
from app.messages.schemas import ApprovalCreate, ApprovalReturn
from app.messages.thread import Thread, ThreadWindows
from app.runs import lifecycle
from app.runs.models import Run
from app.runs.repository import RunRepository
from app.runs.states import RunStatus
from app.turns import approvals

DENIAL_REASON = "The run was cancelled."


class RunNotActive(Conflict):
    code = "RUN_NOT_ACTIVE"


async def _deny_pending(session: AsyncSession, actor: Actor, run: Run) -> None:
    org = actor.organization_id
    agent = await AgentRepository(session, org).get(run.agent_id, for_update=True)
    thread = None if agent is None else Thread.main(agent)
    if agent is not None and run.conversation_id is not None:
        thread = await ThreadWindows(session, org).conversation(run.conversation_id)
    pending = thread.pending_approval if thread else None
    if agent is None or thread is None or not pending or pending.get("run_id") != run.id:
        return
    denial = ApprovalCreate(
        approvals=[
            ApprovalReturn(tool_call_id=i, approve=False, reason=DENIAL_REASON)
            for i in pending.get("tool_call_ids", [])
        ]
    )
    owner = Owner.of(run)
    stored = [new_message(owner, "approval", approvals=approvals.approvals_payload(denial))]
    for res in await approvals.resolve(session, agent, thread, run.id, denial):
        stored.append(tool_result(owner, res.tool_call_id, res.result.status, res.result.text))
    messages = MessageRepository(session, org)
    if thread.conversation_id is None:
        await messages.append(agent.id, stored, pending_approval=None)
        return
    await messages.append(agent.id, stored)
    await ThreadWindows(session, org).save(thread.conversation_id, {"pending_approval": None})


async def cancel(session: AsyncSession, actor: Actor, run: Run) -> RunStatus:
    """Cancel one run (locked by the caller); returns the status it now has or will have.
    A turn paused for approval first has its pending tool calls denied."""
    if lifecycle.awaits_approval(run):
        await _deny_pending(session, actor, run)
    return await lifecycle.cancel(session, run)


async def cancel_runs(
    session: AsyncSession, actor: Actor, run_ids: Sequence[str]
) -> dict[str, str]:
    repo = RunRepository(session, actor.organization_id)
    result: dict[str, str] = {}
    for run_id in run_ids:
        run = await repo.get(run_id, for_update=True)
        if run is None:
            raise NotFound(f"Run {run_id} not found")
        result[run_id] = await cancel(session, actor, run)
    return result


async def cancel_agent_runs(
    session: AsyncSession, actor: Actor, agent_id: str, run_ids: Sequence[str] | None
) -> dict[str, str]:
    """Cancel the given runs of an agent, or all the active ones of its main thread (and a
    paused turn)."""
    if run_ids:
        runs = [await RunRepository(session, actor.organization_id).get(i) for i in run_ids]
        if any(r is None or r.agent_id != agent_id for r in runs):
            raise NotFound(f"run_ids: not all of these runs belong to agent {agent_id}")
        return await cancel_runs(session, actor, run_ids)
    agent = await AgentRepository(session, actor.organization_id).get(agent_id)
    if agent is None:
        raise NotFound(f"Agent {agent_id} not found")
    targets = await _thread_targets(session, actor, Thread.main(agent))
    if not targets:
        raise RunNotActive(f"Agent {agent_id} has no active run to cancel")
    return await cancel_runs(session, actor, targets)


async def cancel_conversation_runs(
    session: AsyncSession, actor: Actor, thread: Thread
) -> dict[str, str]:
    """Cancel the active runs of one conversation (and its paused turn)."""
    targets = await _thread_targets(session, actor, thread)
    if not targets:
        raise RunNotActive(f"No active runs to cancel for conversation {thread.conversation_id}")
    return await cancel_runs(session, actor, targets)


async def _thread_targets(session: AsyncSession, actor: Actor, thread: Thread) -> list[str]:
    """The runs a thread's cancel ends: its active turns and the turn paused on approval."""
    active = await lifecycle.active_turns(
        session, actor.organization_id, thread.agent_id, thread.conversation_id
    )
    ids = [r.id for r in active]
    paused = (thread.pending_approval or {}).get("run_id")
    return [*ids, *([paused] if paused and paused not in ids else [])]
