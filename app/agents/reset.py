"""Letta's ``reset-messages``: an agent's history goes, its system message stays.

The reset is of the agent's main thread: its conversations keep their messages and windows
(each is reset by starting a new one, as Letta clients do). Everything of the main thread but
the system message is deleted (history included, as Letta does), the system
message is recompiled in place, the context starts afresh and a pending approval is dropped
with the request it answered. With ``add_default_initial_messages`` the boot sequence
follows. Message seqs keep counting up, so sleeptime watermarks stay valid. A turn in
progress (or queued) is not cut short: the reset is refused until it ends.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.agents.repository import AgentRepository
from app.auth.deps import Actor
from app.blocks.repository import BlockRepository
from app.kit.db import utcnow
from app.kit.errors import NotFound
from app.messages import history
from app.messages.repository import MessageRepository
from app.runs import lifecycle
from app.runs.admission import AgentBusy


async def reset_messages(
    session: AsyncSession, actor: Actor, agent_id: str, *, add_default_initial_messages: bool
) -> Agent:
    org = actor.organization_id
    agent = await AgentRepository(session, org).get(agent_id, for_update=True)
    if agent is None:
        raise NotFound(f"Agent {agent_id} not found")
    if await lifecycle.active_turns(session, org, agent.id):
        raise AgentBusy(
            f"Agent {agent_id} is busy with a turn; reset it once the turn ends",
            agent_id=agent_id,
        )
    messages = MessageRepository(session, org)
    await messages.delete_history(agent.id)
    agent.pending_approval = None
    agent.context_start_seq = 0
    agent.summary_message_id = None  # deleted with the history it summarised
    agent.updated_at = utcnow()
    pairs = await BlockRepository(session, org).for_agents([agent.id])
    compiled = history.system_message(agent, [b for _, b in pairs])
    stored = await messages.system_message(agent.id)
    if stored is None:  # an agent created before system messages were kept
        messages.add_all([compiled])
    else:
        stored.content = compiled.content
    if add_default_initial_messages:
        await messages.append(agent.id, history.boot_sequence(agent))  # the agent is locked
    await session.flush()
    return agent
