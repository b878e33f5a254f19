"""What the model sees on a step: the system prompt with memory rendered in, the in-context
messages, and the tool schemas (the agent's tools plus this request's client tools)."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.agents.models import Agent
from app.engine.memory import MemoryView
from app.messages.convert import to_chat
from app.messages.repository import ChatRow
from app.tools.builtin import BUILTIN_TOOLS

MEMORY_PLACEHOLDER = "{CORE_MEMORY}"
CHARS_PER_TOKEN = 4
# Room kept free for the model's answer when the agent sets no max_tokens.
DEFAULT_ANSWER_RESERVE = 4096


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


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


def tool_schemas(agent: Agent, client_tools: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The agent's tools, with a client tool of the same name replacing the server one."""
    schemas = [
        BUILTIN_TOOLS[name].json_schema
        for name in agent.tool_names
        if name in BUILTIN_TOOLS and name not in client_tools
    ]
    return schemas + list(client_tools.values())


@dataclass(frozen=True, slots=True)
class Window:
    chat: list[dict[str, Any]]  # the kept messages, as the model sees them
    start_seq: int  # the first seq kept in context (the agent's new context_start_seq)


def _chat_tokens(chat: list[dict[str, Any]]) -> int:
    chars = 0
    for item in chat:
        chars += len(item.get("content") or "") + 16
        for call in item.get("tool_calls") or ():
            chars += len(call["function"]["arguments"]) + len(call["function"]["name"]) + 32
    return chars // CHARS_PER_TOKEN + 1


def fit_window(messages: list[ChatRow], budget_tokens: int) -> Window | None:
    """Drop the oldest messages until the rest fit ``budget_tokens``, never starting on a tool
    result whose call was dropped. None when nothing fits."""
    chats = [to_chat(m) for m in messages]
    sizes = [_chat_tokens(c) for c in chats]
    total, start = sum(sizes), 0
    while start < len(messages) and (total > budget_tokens or messages[start].role == "tool"):
        total -= sizes[start]
        start += 1
    if start == len(messages) and messages:
        return None
    first = messages[start].seq if messages else 0
    return Window([c for chat in chats[start:] for c in chat], first)


def budget(
    agent: Agent, context_window: int, system_prompt: str, tools: list[dict[str, Any]]
) -> int:
    reserve = agent.max_tokens or DEFAULT_ANSWER_RESERVE
    fixed = estimate_tokens(system_prompt) + estimate_tokens(json.dumps(tools))
    return context_window - reserve - fixed
