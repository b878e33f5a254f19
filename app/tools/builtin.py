"""The built-in tools, with Letta's names and parameters.

Their behaviour is implemented in ``app.tools.run``; this module is their public description:
the JSON schema the model sees and the Tool object the API shows.
"""

from dataclasses import dataclass, field
from typing import Any

from app.kit.ids import Prefix, stable_id


@dataclass(frozen=True, slots=True)
class BuiltinTool:
    name: str
    description: str
    tool_type: str
    properties: dict[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return stable_id(Prefix.tool, self.name)

    @property
    def json_schema(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": {
                "type": "object",
                "properties": self.properties,
                "required": list(self.required),
            },
        }


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


_LABEL = _string("Label of the memory block to edit, for example `human` or `persona`.")

_TOOLS = (
    BuiltinTool(
        name="send_message",
        description="Send a message to the user. The message is shown to them as your reply.",
        tool_type="letta_core",
        properties={"message": _string("The message text; markdown is allowed.")},
        required=("message",),
    ),
    BuiltinTool(
        name="conversation_search",
        description=(
            "Search earlier messages of this conversation, including ones no longer in the "
            "context window. Returns matching messages with their dates."
        ),
        tool_type="letta_core",
        properties={
            "query": _string("Text to look for; leave empty to list by date only."),
            "roles": {
                "type": "array",
                "items": {"type": "string", "enum": ["assistant", "user", "tool"]},
                "description": "Only messages of these roles.",
            },
            "limit": {"type": "integer", "description": "How many results at most (default 5)."},
            "start_date": _string("Only messages on or after this date (ISO 8601)."),
            "end_date": _string("Only messages on or before this date (ISO 8601)."),
        },
    ),
    BuiltinTool(
        name="memory_replace",
        description=(
            "Replace one exact occurrence of `old_string` in a memory block with `new_string`. "
            "`old_string` must appear exactly once; do not include line-number prefixes."
        ),
        tool_type="letta_sleeptime_core",
        properties={
            "label": _LABEL,
            "old_string": _string("The exact text to replace; it must occur once."),
            "new_string": _string("The replacement text (may be empty to delete)."),
        },
        required=("label", "old_string", "new_string"),
    ),
    BuiltinTool(
        name="memory_insert",
        description=(
            "Insert text into a memory block after a given line (0 inserts at the top, -1 at "
            "the end)."
        ),
        tool_type="letta_sleeptime_core",
        properties={
            "label": _LABEL,
            "new_string": _string("The text to insert."),
            "insert_line": {
                "type": "integer",
                "description": "Insert after this line number; 0 for the top, -1 for the end.",
            },
        },
        required=("label", "new_string"),
    ),
    BuiltinTool(
        name="memory_rethink",
        description=(
            "Rewrite a memory block entirely. Use it to reorganise a block; for small changes "
            "prefer memory_replace or memory_insert."
        ),
        tool_type="letta_sleeptime_core",
        properties={
            "label": _LABEL,
            "new_memory": _string("The complete new content of the block."),
        },
        required=("label", "new_memory"),
    ),
    BuiltinTool(
        name="memory_finish_edits",
        description="Call when you are done editing memory, or when nothing needs to change.",
        tool_type="letta_sleeptime_core",
    ),
    BuiltinTool(
        name="core_memory_append",
        description="Append text to the end of a memory block, on a new line.",
        tool_type="letta_memory_core",
        properties={"label": _LABEL, "content": _string("The text to append.")},
        required=("label", "content"),
    ),
    BuiltinTool(
        name="core_memory_replace",
        description="Replace every occurrence of `old_content` in a memory block.",
        tool_type="letta_memory_core",
        properties={
            "label": _LABEL,
            "old_content": _string("The exact text to replace."),
            "new_content": _string("The replacement text (may be empty to delete)."),
        },
        required=("label", "old_content", "new_content"),
    ),
)

BUILTIN_TOOLS: dict[str, BuiltinTool] = {tool.name: tool for tool in _TOOLS}
BUILTIN_TOOLS_BY_ID: dict[str, BuiltinTool] = {tool.id: tool for tool in _TOOLS}

# Built-ins that run outside the step's transaction (``ToolKind.server``): they reach the
# network or the sandbox rather than the database.
SERVER_BUILTINS: frozenset[str] = frozenset({"run_code", "fetch_webpage", "web_search"})
