"""The sleeptime trigger, run inside the transaction that finishes a primary's turn.

Letta-compatible schedule: with frequency ``f`` the group's ``turns_counter`` (from -1)
becomes ``(counter + 1) mod f`` and the sleeptime agents run when it reaches 0, i.e. on turns
1, 1+f, 1+2f, ...; without a frequency they run after every turn. The counter moves in one
atomic statement, so concurrent turns never lose a count. Each sleeptime agent gets one run
(``created``); if one is already waiting, the trigger joins it and extends what it covers.
"""

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.groups.models import Group
from app.groups.repository import GroupRepository
from app.kit import dialect
from app.kit.db import utcnow
from app.kit.ids import Prefix, new_id
from app.runs import lifecycle
from app.runs.lifecycle import RunKind
from app.runs.models import Run

RUN_TYPE = "sleeptime_agent_send_message_async"


async def _due(groups: GroupRepository, group: Group, force: bool) -> bool:
    if force or not group.sleeptime_agent_frequency:
        return True
    return await groups.count_turn(group.id) == 0


async def fire(
    session: AsyncSession,
    *,
    organization_id: str,
    primary_id: str,
    parent_run_id: str,
    through_seq: int,
    last_message_id: str,
    force: bool = False,
) -> list[str]:
    """Queue the sleeptime runs this finished turn calls for; returns their ids. ``force``
    (a turn that compacted its window, with ``SLEEPTIME_COMPACTION_TRIGGERS_SLEEPTIME``)
    runs them whatever the frequency, leaving the turn count as it is."""
    groups = GroupRepository(session, organization_id)
    group = await groups.sleeptime_group_of(primary_id)
    if group is None or not await _due(groups, group, force):
        return []
    await groups.set_last_processed_message(group.id, last_message_id)
    members = (await groups.member_ids([group.id]))[group.id]
    ids = [
        await _enqueue(session, group, member, parent_run_id, through_seq, primary_id)
        for member in members
    ]
    if ids:
        await dialect.notify_runs(session)
    return ids


async def _enqueue(
    session: AsyncSession,
    group: Group,
    agent_id: str,
    parent_run_id: str,
    through_seq: int,
    primary_id: str,
) -> str:
    now = utcnow()
    debounce = group.sleeptime_debounce_seconds
    available = now + timedelta(seconds=debounce) if debounce else None
    values: dict[str, Any] = {
        "id": new_id(Prefix.run),
        "organization_id": group.organization_id,
        "agent_id": agent_id,
        "group_id": group.id,
        "parent_run_id": parent_run_id,
        **lifecycle.opening(RunKind.sleeptime, now=now),
        "metadata": {"run_type": RUN_TYPE, "agent_id": agent_id},
        "request": {
            "through_seq": through_seq,
            "primary_agent_id": primary_id,
            "budgets": group.budgets or {},
        },
        "available_at": available,
        "created_at": now,
        "updated_at": now,
    }

    def join(waiting: Run) -> dict[str, Any]:
        # The run already waiting now covers this turn too.
        request = dict(waiting.request or {})
        request["through_seq"] = max(int(request.get("through_seq", 0)), through_seq)
        later = {"available_at": available} if available is not None else {}
        return {"request": request, "updated_at": now, **later}

    waiting = await lifecycle.accept_or_join(session, values, join)
    return waiting.id
