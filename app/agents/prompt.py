"""The agent's system prompt as the model reads it: its system text with its memory blocks
rendered in. Below both the engine (which compiles it on every step) and the message store
(whose lists show the live prompt in place of the stored one)."""

from collections.abc import Sequence

from app.agents.models import Agent
from app.agents.tool_rules import render_rules
from app.blocks.memory import MemoryView

MEMORY_PLACEHOLDER = "{CORE_MEMORY}"


def render_memory(blocks: Sequence[MemoryView]) -> str:
    parts = [
        "<memory_blocks>",
        "The following memory blocks are currently engaged in your core memory unit:",
        "",
    ]
    for block in blocks:
        parts += [f"<{block.label}>", "<description>", block.description or "", "</description>"]
        parts.append("<metadata>")
        if block.read_only:
            parts.append("- read_only=true")
        parts += [f"- chars_current={len(block.value)}", f"- chars_limit={block.limit}"]
        parts += ["</metadata>", "<value>", block.value, "</value>", f"</{block.label}>", ""]
    parts.append("</memory_blocks>")
    return "\n".join(parts)


def prompt_parts(agent: Agent, blocks: Sequence[MemoryView], evicted: int) -> tuple[str, str]:
    """The two compiled parts of the prompt around the agent's text: its core memory (the
    blocks, then its tool rules as Letta states them) and the memory metadata."""
    memory = render_memory(blocks)
    rules = render_rules(agent.tool_rules or [])
    if rules is not None:
        memory = f"{memory}\n\n{rules}"
    metadata = "\n".join(
        [
            "<memory_metadata>",
            f"- AGENT_ID: {agent.id}",
            f"- {evicted} previous messages between you and the user are stored in recall "
            "memory (use tools to access them)",
            "</memory_metadata>",
        ]
    )
    return memory, metadata


def compile_system(agent: Agent, blocks: Sequence[MemoryView], evicted: int) -> str:
    """The prompt: the agent's text, its memory blocks, its tool rules (as Letta states
    them, between the blocks and the metadata), the metadata."""
    memory, metadata = prompt_parts(agent, blocks, evicted)
    if MEMORY_PLACEHOLDER in agent.system:
        return agent.system.replace(MEMORY_PLACEHOLDER, f"{memory}\n\n{metadata}")
    return f"{agent.system}\n\n{memory}\n\n{metadata}"
