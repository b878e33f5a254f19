"""What a turn knows of its agent's tools: one definition per name, read once when a step is
prepared, so a tool changed or deleted meanwhile never changes a step already under way.

Two kinds of tool run differently. ``session`` tools (memory edits, conversation search) read
or write the database and run inside the step's own transaction. ``external`` tools (the
sandboxed Python of registered tools, ``run_code``, ``fetch_webpage``, ``web_search``, MCP
tools) run before that transaction opens, concurrently when a step asks for several, so a
slow one never holds a transaction or SQLite's write lock.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.tools.builtin import BuiltinTool
from app.tools.result import ToolResult


class ToolKind(StrEnum):
    session = "session"  # a built-in run in the step's transaction
    server = "server"  # a built-in run outside any transaction (run_code, web tools)
    python = "python"  # registered Python source, run in the sandbox
    mcp = "mcp"  # a tool of one of the organization's MCP servers


EXTERNAL = frozenset({ToolKind.server, ToolKind.python, ToolKind.mcp})
DEFAULT_RETURN_CHAR_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class ToolDef:
    id: str
    name: str
    kind: ToolKind
    tool_type: str  # Letta's ToolType value
    json_schema: dict[str, Any]  # what the model is offered: {name, description, parameters}
    source_code: str | None = None  # ToolKind.python
    pip_requirements: tuple[dict[str, Any], ...] = ()
    return_char_limit: int = DEFAULT_RETURN_CHAR_LIMIT
    default_requires_approval: bool = False
    mcp_server_id: str | None = None  # ToolKind.mcp
    mcp_server_name: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def external(self) -> bool:
        return self.kind in EXTERNAL


# The agent's tools by name, as a step was prepared with them.
Toolset = Mapping[str, ToolDef]


@dataclass(frozen=True, slots=True)
class ExternalContext:
    """What a tool run outside the database gets: who runs it, and the agent's tool
    environment (its ``secrets``) and state as the step was prepared."""

    organization_id: str
    agent_id: str | None
    run_id: str | None
    env: Mapping[str, str] = field(default_factory=dict)
    agent_state: Mapping[str, Any] | None = None


def builtin_def(tool: BuiltinTool, kind: ToolKind = ToolKind.session) -> ToolDef:
    return ToolDef(tool.id, tool.name, kind, tool.tool_type, tool.json_schema)


ExternalHandler = Callable[[ExternalContext, dict[str, Any]], Awaitable[ToolResult]]
