"""What a tool run outside the database knows of its agent: the agent's tool environment
(its ``secrets``) and a read-only picture of the agent as the step was prepared."""

from collections.abc import Sequence
from typing import Any

from app.agents.models import Agent
from app.blocks.memory import MemoryView
from app.tools.toolset import ExternalContext


def tool_env(agent: Agent) -> dict[str, str]:
    """The agent's ``secrets`` as environment variables: ``{key: {"value": ...}}`` as they
    are stored (plain strings are taken too)."""
    env: dict[str, str] = {}
    for key, item in (agent.secrets or {}).items():
        value = item.get("value") if isinstance(item, dict) else item
        if isinstance(value, str):
            env[str(key)] = value
    return env


def agent_state(agent: Agent, blocks: Sequence[MemoryView]) -> dict[str, Any]:
    """The fields of Letta's AgentState a tool most often reads, JSON-ready. As in Letta, a
    tool sees no tools and no tool rules of its agent."""
    return {
        "id": agent.id,
        "name": agent.name,
        "agent_type": agent.agent_type,
        "description": agent.description,
        "system": agent.system,
        "metadata": agent.metadata_ or {},
        "tools": [],
        "tool_rules": [],
        "memory": {
            "blocks": [
                {
                    "id": getattr(block, "id", None),
                    "label": block.label,
                    "value": block.value,
                    "limit": block.limit,
                    "description": block.description,
                    "read_only": block.read_only,
                }
                for block in blocks
            ]
        },
    }


def external_context(
    agent: Agent, blocks: Sequence[MemoryView], run_id: str | None
) -> ExternalContext:
    return ExternalContext(
        organization_id=agent.organization_id,
        agent_id=agent.id,
        run_id=run_id,
        env=tool_env(agent),
        agent_state=agent_state(agent, blocks),
    )
