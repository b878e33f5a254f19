"""The built-in tools, with Letta's names and parameters.

Their behaviour is implemented in ``app.tools.run`` (the server-side ones, which run outside
the step's transaction, in ``app.tools.server``); this module is their public description:
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

_CORE_TOOLS = (
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

# The categories web_search takes (Exa's, as Letta offers them).
SEARCH_CATEGORIES = [
    "company",
    "research paper",
    "news",
    "pdf",
    "github",
    "tweet",
    "personal site",
    "linkedin profile",
    "financial report",
]
_DOMAINS = {"type": "array", "items": {"type": "string"}}

# Letta's server-side built-ins (tool_type ``letta_builtin``): they run outside the step's
# transaction, in ``app.tools.server``.
_SERVER_TOOLS = (
    BuiltinTool(
        name="run_code",
        description=(
            "Execute a piece of code in an isolated sandbox and return what it printed "
            "(stdout and stderr) together with any error and its traceback."
        ),
        tool_type="letta_builtin",
        properties={
            "code": _string("The source code to execute."),
            "language": {
                "type": "string",
                "enum": ["python", "js", "ts", "r", "java"],
                "description": "The programming language the code is written in.",
            },
        },
        required=("code", "language"),
    ),
    BuiltinTool(
        name="web_search",
        description=(
            "Look something up on the web and get back the most relevant pages: for each one "
            "its title, address, publication date and author, with short highlights and a "
            "summary (or the page text when asked), as JSON.\n\n"
            "Examples:\n"
            'web_search("quarterly results of a listed company", num_results=5, '
            'category="financial report")\n'
            'web_search("recent work on retrieval for language models", '
            'category="research paper", include_domains=["arxiv.org"])'
        ),
        tool_type="letta_builtin",
        properties={
            "query": _string("What to search for."),
            "num_results": {
                "type": "integer",
                "description": "How many results to return, from 1 to 100 (default 10).",
            },
            "category": {
                "type": "string",
                "enum": SEARCH_CATEGORIES,
                "description": "Restrict the search to one kind of content.",
            },
            "include_text": {
                "type": "boolean",
                "description": (
                    "Also return each page's full text (default false: highlights and a "
                    "summary only, since full pages quickly fill the context window)."
                ),
            },
            "include_domains": {
                **_DOMAINS,
                "description": "Only return results from these domains.",
            },
            "exclude_domains": {**_DOMAINS, "description": "Never return results from these."},
            "start_published_date": _string("Only content published after this date (ISO 8601)."),
            "end_published_date": _string("Only content published before this date (ISO 8601)."),
            "user_location": _string("Two-letter country code to localise results, e.g. `US`."),
        },
        required=("query",),
    ),
    BuiltinTool(
        name="fetch_webpage",
        description=(
            "Download a web page and return its content as readable markdown or plain text."
        ),
        tool_type="letta_builtin",
        properties={"url": _string("The http or https address of the page to fetch.")},
        required=("url",),
    ),
)
_TAGS = {"type": "array", "items": {"type": "string"}}
# Archival memory: run outside the step's transaction (an embedding is a provider call), in
# units of work of their own, by ``app.tools.server.archival``.
_ARCHIVAL_TOOLS = (
    BuiltinTool(
        name="archival_memory_insert",
        description=(
            "Add a passage to archival memory, your long-term store outside the context "
            "window. Phrase it so it can be found later; tags help narrow searches."
        ),
        tool_type="letta_core",
        properties={
            "content": _string("The text to store; any unicode is allowed."),
            "tags": {**_TAGS, "description": "Optional tags to file the passage under."},
        },
        required=("content",),
    ),
    BuiltinTool(
        name="archival_memory_search",
        description=(
            "Search archival memory by meaning and by words; the most relevant passages "
            "come first, each with its time and tags."
        ),
        tool_type="letta_core",
        properties={
            "query": _string("What to look for."),
            "tags": {**_TAGS, "description": "Only passages with these tags."},
            "tag_match_mode": {
                "type": "string",
                "enum": ["any", "all"],
                "description": "`any` (default): passages with any of the tags; `all`: all.",
            },
            "top_k": {"type": "integer", "description": "How many results at most (default 5)."},
            "start_datetime": _string("Only passages made on or after this time (ISO 8601)."),
            "end_datetime": _string("Only passages made on or before this time (ISO 8601)."),
        },
        required=("query",),
    ),
)
_TOOLS = (*_CORE_TOOLS, *_SERVER_TOOLS, *_ARCHIVAL_TOOLS)

SERVER_BUILTINS: frozenset[str] = frozenset(t.name for t in (*_SERVER_TOOLS, *_ARCHIVAL_TOOLS))
"""Built-ins run outside any transaction (``ToolKind.server``), by ``app.tools.server``."""

BUILTIN_TOOLS: dict[str, BuiltinTool] = {tool.name: tool for tool in _TOOLS}
BUILTIN_TOOLS_BY_ID: dict[str, BuiltinTool] = {tool.id: tool for tool in _TOOLS}
