"""Letta's agent file (``.af``, ``AgentFileSchema``, the "v2" multi-entity format).

Every entity carries a file-local id (``agent-0``, ``block-1``, ``message-12``, ...) and
refers to others by those ids; import maps each to a new database id. The models read
Letta-made files leniently (unknown keys are ignored, Letta's many null fields may be
absent) and write every field Letta writes, so a file made here imports into Letta too.

Folders (``sources``, ``files``, ``files_agents``) are read but not taken: a file that has
any is refused. ``skills`` are carried as given (Letta's clients resolve them). Archival
memory has no place in Letta's format; ours carries it, when asked, under ``archives`` (an
extension Letta's reader ignores).
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.kit.schemas import Timestamp


class FileModel(BaseModel):
    """A part of an agent file: unknown keys ignored, every field written back."""

    model_config = ConfigDict(extra="ignore")


# What a column of 255 (64) characters holds: longer values are a 422 naming the field.
Text255 = Annotated[str, Field(max_length=255)]
Text64 = Annotated[str, Field(max_length=64)]

MessageRole = Literal["user", "system", "assistant", "tool", "approval", "summary"]


class MessageSchema(FileModel):
    type: Literal["message"] | None = "message"
    role: MessageRole
    content: str | list[dict[str, Any]] | None = None
    name: Text255 | None = None
    otid: Text255 | None = None
    sender_id: Text255 | None = None
    batch_item_id: str | None = None
    group_id: str | None = None
    id: str
    model: str | None = None
    agent_id: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: Text255 | None = None
    tool_returns: list[dict[str, Any]] | None = None
    created_at: Timestamp | None = None
    approve: bool | None = None
    approval_request_id: str | None = None
    denial_reason: str | None = None
    approvals: list[dict[str, Any]] | None = None


class AgentSchema(FileModel):
    """Letta's CreateAgent fields, the file id, the messages and the in-context ids."""

    name: Text255 | None = None
    memory_blocks: list[dict[str, Any]] = []
    tools: list[str] = []
    tool_ids: list[str] = []
    source_ids: list[str] = []
    block_ids: list[str] = []
    tool_rules: list[dict[str, Any]] | None = []
    tags: list[Text255] | None = []
    system: str | None = None
    agent_type: str = "letta_v1_agent"
    llm_config: dict[str, Any] | None = None
    embedding_config: dict[str, Any] | None = None
    initial_message_sequence: list[dict[str, Any]] | None = None
    include_base_tools: bool | None = False
    include_multi_agent_tools: bool | None = False
    include_base_tool_rules: bool | None = False
    include_default_source: bool | None = False
    description: str | None = None
    metadata: dict[str, Any] | None = None
    model: Text255 | None = None
    embedding: Text255 | None = None
    context_window_limit: int | None = None
    embedding_chunk_size: int | None = None
    max_tokens: int | None = None
    max_reasoning_tokens: int | None = None
    enable_reasoner: bool | None = False
    reasoning: bool | None = None
    from_template: str | None = None
    template: bool | None = False
    project: str | None = None
    tool_exec_environment_variables: dict[str, Any] | None = {}
    secrets: dict[str, Any] | None = None
    memory_variables: dict[str, Any] | None = None
    project_id: str | None = None
    template_id: str | None = None
    base_template_id: str | None = None
    identity_ids: list[str] | None = None
    message_buffer_autoclear: bool | None = False
    enable_sleeptime: bool | None = False
    response_format: dict[str, Any] | None = None
    timezone: Text64 | None = None
    max_files_open: int | None = None
    per_file_view_window_char_limit: int | None = None
    hidden: bool | None = None
    parallel_tool_calls: bool | None = None
    model_settings: dict[str, Any] | None = None
    compaction_settings: dict[str, Any] | None = None
    id: str
    in_context_message_ids: list[str] = []
    messages: list[MessageSchema] = []
    files_agents: list[dict[str, Any]] = []
    group_ids: list[str] = []


class ManagerConfig(FileModel):
    """A group's manager; only ``sleeptime`` is taken (``manager_agent_id`` a file id)."""

    model_config = ConfigDict(extra="allow")

    manager_type: str
    manager_agent_id: str | None = None
    sleeptime_agent_frequency: int | None = None


class GroupSchema(FileModel):
    id: str
    agent_ids: list[str]
    description: str | None = ""
    manager_config: ManagerConfig
    project_id: str | None = None
    shared_block_ids: list[str] = []
    hidden: bool | None = None


class BlockSchema(FileModel):
    value: str | None = ""
    limit: int | None = None
    project_id: str | None = None
    template_name: str | None = None
    is_template: bool | None = False
    template_id: str | None = None
    base_template_id: str | None = None
    deployment_id: str | None = None
    entity_id: str | None = None
    preserve_on_migration: bool | None = False
    label: str
    read_only: bool | None = False
    description: str | None = None
    metadata: dict[str, Any] | None = {}
    hidden: bool | None = None
    tags: list[str] | None = None
    id: str


class ToolSchema(FileModel):
    id: str
    tool_type: str | None = "custom"
    description: str | None = None
    source_type: str | None = None
    name: str | None = None
    tags: list[str] | None = []
    source_code: str | None = None
    json_schema: dict[str, Any] | None = None
    args_json_schema: dict[str, Any] | None = None
    return_char_limit: int | None = None
    pip_requirements: list[dict[str, Any]] | None = None
    npm_requirements: list[dict[str, Any]] | None = None
    default_requires_approval: bool | None = None
    enable_parallel_execution: bool | None = False
    created_by_id: str | None = None
    last_updated_by_id: str | None = None
    metadata_: dict[str, Any] | None = None


class MCPServerSchema(FileModel):
    """An MCP server without its secrets (no token, headers or stdio ``env``)."""

    id: str
    server_type: str
    server_name: Text255
    server_url: str | None = None
    stdio_config: dict[str, Any] | None = None
    metadata_: dict[str, Any] | None = None


class PassageFileSchema(FileModel):
    text: str = Field(min_length=1, max_length=100_000)
    tags: list[Annotated[str, Field(min_length=1, max_length=255)]] = []
    metadata: dict[str, Any] = {}
    created_at: Timestamp | None = None
    # The vector and the model that made it; taken only where the archive uses that model.
    embedding: list[float] | None = None
    embedding_model: Text255 | None = None


class ArchiveFileSchema(FileModel):
    """An archive the file's agents read (an extension of Letta's format)."""

    id: Text64
    name: Text255
    description: str | None = None
    embedding: Text255 | None = None
    agent_ids: list[Text64] = []
    owner_agent_id: Text64 | None = None  # the agent whose own archive it is
    passages: list[PassageFileSchema] = []


class AgentFileSchema(FileModel):
    agents: list[AgentSchema] = Field(min_length=1)
    groups: list[GroupSchema] = []
    blocks: list[BlockSchema] = []
    files: list[dict[str, Any]] = []
    sources: list[dict[str, Any]] = []
    tools: list[ToolSchema] = []
    mcp_servers: list[MCPServerSchema] = []
    skills: list[dict[str, Any]] = []
    archives: list[ArchiveFileSchema] | None = None
    metadata: dict[str, str] = {}
    created_at: Timestamp | None = None


class ImportedAgentsResponse(BaseModel):
    """Letta's answer to an import, with what was left out (an extension)."""

    agent_ids: list[str] = Field(description="List of IDs of the imported agents")
    skipped_tools: list[str] = Field(
        default=[],
        description="Letta built-in tools of the file this server does not have; the agents "
        "were imported without them (and without their tool rules).",
    )


class ExportAgentRequest(BaseModel):
    """The body of ``POST /v1/agents/{agent_id}/export``."""

    model_config = ConfigDict(extra="ignore")

    skills: list[dict[str, Any]] = Field(
        default=[], description="Skills to carry in the file, as given (name and files)."
    )
    conversation_id: str | None = Field(
        default=None,
        description="Export this conversation's messages instead of the agent's main thread.",
    )
    scrub_messages: bool = Field(default=False, description="Leave every message out.")
    include_archives: bool = Field(
        default=False, description="Carry the agents' archives and their passages (extension)."
    )
