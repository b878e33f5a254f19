import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from app.agents.compaction import CompactionSettings
from app.agents.tool_rules import check_rule_fields
from app.blocks.schemas import BlockCreate, BlockResponse
from app.groups.schemas import GroupResponse
from app.kit.schemas import INT32_MAX, RequestModel, ResponseModel, Timestamp
from app.messages.schemas import MessageCreate
from app.providers.schemas import LLMConfig
from app.tools.schemas import ToolResponse

AgentTypeName = Literal["letta_v1_agent", "memgpt_v2_agent", "sleeptime_agent"]
AGENT_NAME_PATTERN = r"^[A-Za-z0-9 _'\-]+$"

ToolRuleType = Literal[
    "run_first",
    "exit_loop",
    "continue_loop",
    "conditional",
    "constrain_child_tools",
    "max_count_per_step",
    "parent_last_tool",
    "required_before_exit",
    "requires_approval",
]

AGENT_RELATIONSHIPS = frozenset(
    {
        "agent.blocks",
        "agent.identities",
        "agent.managed_group",
        "agent.pending_approval",
        "agent.secrets",
        "agent.sources",
        "agent.tags",
        "agent.tools",
    }
)


class ToolRule(BaseModel):
    """A tool rule as Letta writes it; fields beyond ``tool_name`` and ``type`` are kept as
    sent, after the checks of the rule's type (``check_rule_fields``)."""

    model_config = ConfigDict(extra="allow")

    tool_name: str = Field(min_length=1)
    type: ToolRuleType

    @model_validator(mode="after")
    def _fields_of_type(self) -> "ToolRule":
        check_rule_fields(self.type, self.model_extra or {})
        return self


def _distinct_rules(rules: list[ToolRule] | None) -> list[ToolRule] | None:
    """Tool rules with repeats dropped (same type, tool and other fields), first kept."""
    if rules is None:
        return None
    seen: set[str] = set()
    kept: list[ToolRule] = []
    for rule in rules:
        key = json.dumps(rule.model_dump(mode="json"), sort_keys=True)
        if key not in seen:
            seen.add(key)
            kept.append(rule)
    return kept


DistinctToolRules = Annotated[list[ToolRule] | None, AfterValidator(_distinct_rules)]


class TextResponseFormat(RequestModel):
    type: Literal["text"] = "text"


class JsonObjectResponseFormat(RequestModel):
    type: Literal["json_object"] = "json_object"


class JsonSchemaSpec(BaseModel):
    """OpenAI's ``json_schema`` object: a ``name`` and the JSON Schema the reply follows."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class JsonSchemaResponseFormat(RequestModel):
    type: Literal["json_schema"] = "json_schema"
    json_schema: JsonSchemaSpec


def _format_kind(value: Any) -> str:
    if isinstance(value, dict):
        declared = value.get("type")
        if declared is not None:
            return str(declared)
        return "json_schema" if "json_schema" in value else "text"
    return str(getattr(value, "type", "text"))


# Letta's response_format shapes; stored and shown as the JSON the client sent.
ResponseFormat = Annotated[
    Annotated[TextResponseFormat, Tag("text")]
    | Annotated[JsonObjectResponseFormat, Tag("json_object")]
    | Annotated[JsonSchemaResponseFormat, Tag("json_schema")],
    Discriminator(_format_kind),
]


def dump_response_format(value: BaseModel | None) -> dict[str, Any] | None:
    return (
        None if value is None else value.model_dump(mode="json", by_alias=True, exclude_none=True)
    )


class CreateAgent(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=AGENT_NAME_PATTERN)
    agent_type: str = "letta_v1_agent"
    system: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    model: str | None = None
    llm_config: dict[str, Any] | None = None
    embedding: str | None = None
    model_settings: dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    context_window_limit: int | None = Field(default=None, gt=0, le=INT32_MAX)
    max_tokens: int | None = Field(default=None, gt=0, le=INT32_MAX)
    # None: Letta's default start (see agents.defaults); a list (even empty): exactly these.
    initial_message_sequence: list[MessageCreate] | None = None
    memory_blocks: list[BlockCreate] | None = None
    block_ids: list[str] | None = None
    tools: list[str] | None = None
    tool_ids: list[str] | None = None
    tool_rules: DistinctToolRules = None
    include_base_tools: bool = True
    include_base_tool_rules: bool | None = None
    tags: list[str] | None = None
    enable_sleeptime: bool | None = None
    message_buffer_autoclear: bool = False
    timezone: str | None = None
    hidden: bool | None = None
    response_format: ResponseFormat | None = None
    compaction_settings: CompactionSettings | None = None
    secrets: dict[str, str] | None = None
    tool_exec_environment_variables: dict[str, str] | None = None


class UpdateAgent(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=AGENT_NAME_PATTERN)
    system: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    model: str | None = None
    embedding: str | None = None
    model_settings: dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    context_window_limit: int | None = Field(default=None, gt=0, le=INT32_MAX)
    max_tokens: int | None = Field(default=None, gt=0, le=INT32_MAX)
    block_ids: list[str] | None = None
    tool_ids: list[str] | None = None
    tools: list[str] | None = None
    tool_rules: DistinctToolRules = None
    tags: list[str] | None = None
    enable_sleeptime: bool | None = None
    message_buffer_autoclear: bool | None = None
    timezone: str | None = None
    hidden: bool | None = None
    response_format: ResponseFormat | None = None
    compaction_settings: CompactionSettings | None = None
    secrets: dict[str, str] | None = None
    tool_exec_environment_variables: dict[str, str] | None = None


class AgentEnvironmentVariable(ResponseModel):
    """One of the agent's tool environment variables, in Letta's shape."""

    id: str
    agent_id: str
    key: str
    value: str
    description: str | None = None
    value_enc: str | None = None
    created_by_id: str | None = None
    last_updated_by_id: str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None


class Memory(ResponseModel):
    agent_type: str
    blocks: list[BlockResponse]
    file_blocks: list[Any] = []
    git_enabled: bool = False
    prompt_template: str | None = None


class AgentState(ResponseModel):
    id: str
    name: str
    agent_type: str
    system: str
    description: str | None
    metadata: dict[str, Any] | None
    model: str
    embedding: str | None
    llm_config: LLMConfig
    embedding_config: dict[str, Any] | None = None
    model_settings: dict[str, Any] | None
    context_window_limit: int | None
    memory: Memory
    blocks: list[BlockResponse]
    tools: list[ToolResponse]
    sources: list[Any] = []
    tags: list[str]
    tool_rules: list[dict[str, Any]]
    message_ids: list[str]
    enable_sleeptime: bool
    managed_group: GroupResponse | None
    multi_agent_group: GroupResponse | None
    pending_approval: dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    compaction_settings: dict[str, Any] | None = None
    message_buffer_autoclear: bool
    timezone: str | None
    hidden: bool | None
    last_run_completion: Timestamp | None
    last_run_duration_ms: int | None
    last_stop_reason: str | None
    identities: list[Any] = []
    identity_ids: list[str] = []
    secrets: list[AgentEnvironmentVariable] = []
    tool_exec_environment_variables: list[AgentEnvironmentVariable] = []
    project_id: str | None = None
    template_id: str | None = None
    base_template_id: str | None = None
    deployment_id: str | None = None
    entity_id: str | None = None
    created_by_id: str | None = None
    last_updated_by_id: str | None = None
    created_at: Timestamp
    updated_at: Timestamp


class ToolApproval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requires_approval: bool


class ResetMessages(RequestModel):
    add_default_initial_messages: bool = False
