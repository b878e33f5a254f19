"""What the model sees on a step: the system prompt with memory rendered in, the in-context
messages, and the tool schemas (the agent's tools plus this request's client tools)."""

import json
from dataclasses import dataclass
from typing import Any

from app.agents.models import Agent
from app.engine import rules
from app.kit.memo import ByIdentity
from app.messages.chat import REPLY_ARGUMENT, SEND_MESSAGE, to_chat
from app.messages.recent import ChatRow
from app.providers.base import LLMRequest
from app.tools.toolset import Toolset

CHARS_PER_TOKEN = 4
# Room kept free for the model's answer when the agent sets no max_tokens.
DEFAULT_ANSWER_RESERVE = 4096


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


def tool_schemas(
    agent: Agent,
    toolset: Toolset,
    client_tools: dict[str, dict[str, Any]],
    response_format: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The agent's tools (built-in, registered and MCP alike, in the agent's order), with a
    client tool of the same name replacing the server one. As in Letta, a structured
    ``response_format`` becomes the schema of send_message's ``message``, and a
    memgpt_v2_agent's non-terminal tools offer ``request_heartbeat``."""
    terminal = rules.rule_names(agent, "exit_loop")
    schemas: list[dict[str, Any]] = []
    for name in agent.tool_names:
        if name not in toolset or name in client_tools:
            continue
        schema = toolset[name].json_schema
        if name == SEND_MESSAGE:
            schema = _shaped_reply(schema, response_format)
        if rules.uses_heartbeats(agent) and name not in terminal:
            schema = rules.with_heartbeat(schema)
        schemas.append(schema)
    return schemas + list(client_tools.values())


def _shaped_reply(schema: dict[str, Any], response_format: dict[str, Any] | None) -> dict[str, Any]:
    response_format = response_format or {}
    kind = response_format.get("type")
    if kind == "json_schema":
        shape = response_format.get("json_schema", {}).get("schema")
        if not isinstance(shape, dict):
            return schema
    elif kind == "json_object":
        shape = {"type": "object", "description": "The message, as a JSON object."}
    else:
        return schema
    parameters = schema["parameters"]
    properties = {**parameters["properties"], REPLY_ARGUMENT: shape}
    return {**schema, "parameters": {**parameters, "properties": properties}}


@dataclass(frozen=True, slots=True)
class Window:
    chat: list[dict[str, Any]]  # the kept messages, as the model sees them
    start_seq: int  # the first seq kept in context (the agent's new context_start_seq)
    overflowed: bool = False  # messages had to leave for the token budget


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
    chats = [converted(m) for m in messages]
    sizes = [m.tokens for m in messages]
    total, start = sum(sizes), 0
    overflowed = total > budget_tokens
    while start < len(messages) and (total > budget_tokens or messages[start].role == "tool"):
        total -= sizes[start]
        start += 1
    if start == len(messages) and messages:
        return None
    first = messages[start].seq if messages else 0
    # Copies: the converted rows are kept for the next step (``app.messages.recent``).
    return Window([dict(c) for chat in chats[start:] for c in chat], first, overflowed)


def converted(message: ChatRow) -> list[dict[str, Any]]:
    """The row as the model sees it, converted (and sized) once per row."""
    if message.chat is None:
        message.chat = to_chat(message)
        message.tokens = _chat_tokens(message.chat)
    return message.chat


def reserve(agent: Agent) -> int:
    """The room kept free for the model's answer."""
    return agent.max_tokens or DEFAULT_ANSWER_RESERVE


def budget(
    agent: Agent, context_window: int, system_prompt: str, tools: list[dict[str, Any]]
) -> int:
    fixed = estimate_tokens(system_prompt) + tools_tokens(tools)
    return context_window - reserve(agent) - fixed


# The length of a schema's JSON, once per schema object (see ``rules.with_heartbeat``).
_json_length: ByIdentity[dict[str, Any], int] = ByIdentity(lambda schema: len(json.dumps(schema)))


def tools_tokens(tools: list[dict[str, Any]]) -> int:
    """``estimate_tokens(json.dumps(tools))``, from each schema's remembered length: the
    list's brackets, and ``", "`` between its items."""
    chars = 2 + sum(_json_length(tool) for tool in tools) + 2 * max(len(tools) - 1, 0)
    return chars // CHARS_PER_TOKEN + 1


def response_format(agent: Agent) -> dict[str, Any] | None:
    """The agent's structured-output format: its own, or the one in its model settings."""
    if agent.response_format:
        return agent.response_format
    nested = (agent.model_settings or {}).get("response_format")
    return nested if isinstance(nested, dict) else None


def model_request(
    agent: Agent,
    model: str,
    chat: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    response_format: dict[str, Any] | None,
) -> LLMRequest:
    """The step's request to the model, with the agent's model settings."""
    settings = agent.model_settings or {}
    return LLMRequest(
        model=model,
        messages=chat,
        tools=tools,
        max_tokens=agent.max_tokens,
        temperature=settings.get("temperature"),
        parallel_tool_calls=settings.get("parallel_tool_calls"),
        tool_choice=rules.tool_choice(agent, bool(tools)),
        response_format=response_format,
    )
