"""System prompts: the defaults, and a prompt compiled with the agent's memory blocks rendered
in, as every step sends it and as the agent's stored system message shows it."""

from collections.abc import Sequence

from app.agents.models import Agent
from app.blocks.memory import MemoryView

MEMORY_PLACEHOLDER = "{CORE_MEMORY}"

LETTA_V1 = """\
You are a helpful assistant with a persistent memory. The memory blocks below hold what you
know about yourself and about the person you talk with; they stay with you across every
conversation. Keep them accurate: when you learn something that will matter later, record it
with your memory tools, and correct entries that turn out to be wrong. Answer the user directly
in plain text; call tools only when they help."""

MEMGPT_V2 = """\
You are a helpful assistant with a persistent memory. The memory blocks below hold what you
know about yourself and about the person you talk with; they stay with you across every
conversation. Keep them accurate with your memory tools. Everything you want the user to read
must go through the send_message tool; text outside it is private reasoning."""

SLEEPTIME = """\
You are a background memory agent. You do not talk to anyone. You are shown the recent
conversation of another agent (the primary agent, shown as "assistant") with its user, and
your job is to keep the shared memory blocks useful for that primary agent: add durable facts
about the user and the relationship, fix what has become wrong, remove what no longer matters,
and keep each block well organised and within its size limit. Write dates as absolute dates.
Prefer small precise edits (memory_replace, memory_insert); rewrite a block with memory_rethink
only when it needs reorganising. Never copy line-number prefixes into a block. When you are
done, or when nothing is worth saving, call memory_finish_edits."""

SLEEPTIME_PERSONA = """\
I am the memory organiser of a primary agent. I read its conversations after they happen and
keep its memory blocks accurate, concise and current, so that it knows its user well."""

DEFAULT_SYSTEM = {
    "letta_v1_agent": LETTA_V1,
    "memgpt_v2_agent": MEMGPT_V2,
    "sleeptime_agent": SLEEPTIME,
}


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


def compile_system(agent: Agent, blocks: Sequence[MemoryView], evicted: int) -> str:
    memory = render_memory(blocks)
    metadata = "\n".join(
        [
            "<memory_metadata>",
            f"- AGENT_ID: {agent.id}",
            f"- {evicted} previous messages between you and the user are stored in recall "
            "memory (use tools to access them)",
            "</memory_metadata>",
        ]
    )
    if MEMORY_PLACEHOLDER in agent.system:
        return agent.system.replace(MEMORY_PLACEHOLDER, f"{memory}\n\n{metadata}")
    return f"{agent.system}\n\n{memory}\n\n{metadata}"
