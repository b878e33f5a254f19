"""What an agent gets when the request leaves it out: name, tools, tool rules, prompt."""

import secrets
from collections.abc import Sequence
from typing import Any

from app.agents.prompts import DEFAULT_SYSTEM

SUPPORTED_AGENT_TYPES = tuple(DEFAULT_SYSTEM)
SLEEPTIME_TOOLS = ("memory_replace", "memory_insert", "memory_rethink", "memory_finish_edits")
TERMINAL_TOOLS = frozenset({"send_message", "memory_finish_edits"})

_BASE_TOOLS = {
    "sleeptime_agent": SLEEPTIME_TOOLS,
    "memgpt_v2_agent": ("send_message", "conversation_search", "memory_replace", "memory_insert"),
    "letta_v1_agent": ("conversation_search", "memory_replace", "memory_insert"),
}
# A sleeptime-enabled primary answers through send_message, leaves memory edits to its
# helpers and reads archival memory (as in Letta).
_SLEEPTIME_PRIMARY_TOOLS = ("send_message", "conversation_search", "archival_memory_search")

_ADJECTIVES = (
    "Amber",
    "Brave",
    "Calm",
    "Clever",
    "Curious",
    "Eager",
    "Gentle",
    "Keen",
    "Lucid",
    "Merry",
    "Nimble",
    "Quiet",
    "Sharp",
    "Steady",
    "Swift",
    "Witty",
)
_NOUNS = (
    "Badger",
    "Comet",
    "Falcon",
    "Harbor",
    "Heron",
    "Lantern",
    "Maple",
    "Otter",
    "Pine",
    "Quill",
    "Raven",
    "River",
    "Sparrow",
    "Summit",
    "Willow",
    "Wren",
)


def random_name() -> str:
    return secrets.choice(_ADJECTIVES) + secrets.choice(_NOUNS)


def base_tools(agent_type: str, *, enable_sleeptime: bool) -> tuple[str, ...]:
    if agent_type != "sleeptime_agent" and enable_sleeptime:
        return _SLEEPTIME_PRIMARY_TOOLS
    return _BASE_TOOLS[agent_type]


def wants_base_rules(agent_type: str, *, enable_sleeptime: bool, requested: bool | None) -> bool:
    if requested is not None:
        return requested
    return agent_type != "letta_v1_agent" or enable_sleeptime


def starts_with_boot_messages(agent_type: str, *, enable_sleeptime: bool) -> bool:
    """Letta gives the canned boot sequence to agents created without an
    ``initial_message_sequence`` unless they are ``letta_v1_agent`` or ``sleeptime_agent``; a
    sleeptime-enabled primary takes the sleeptime-primary path, which keeps it."""
    if agent_type == "sleeptime_agent":
        return False
    return agent_type != "letta_v1_agent" or enable_sleeptime


def merge_rules(
    tool_names: Sequence[str], user_rules: Sequence[dict[str, Any]], *, with_base: bool
) -> list[dict[str, Any]]:
    """The user's rules, then (``with_base``, Letta's ``include_base_tool_rules``) a terminal
    or continue rule for each of ``tool_names`` the user's rules leave uncovered."""
    rules = list(user_rules)
    if not with_base:
        return rules
    # A user's own loop rule for a tool wins; rules of other kinds (approval, required
    # before exit, ...) leave its base rule in place.
    covered = {r["tool_name"] for r in rules if r["type"] in ("exit_loop", "continue_loop")}
    for name in tool_names:
        if name not in covered:
            kind = "exit_loop" if name in TERMINAL_TOOLS else "continue_loop"
            rules.append({"tool_name": name, "type": kind})
    return rules
