from typing import Annotated, Any, Literal

from pydantic import Field

from app.kit.schemas import RequestModel, ResponseModel
from app.tools.builtin import BuiltinTool
from app.tools.models import Tool
from app.tools.result import ToolResult
from app.tools.toolset import DEFAULT_RETURN_CHAR_LIMIT

MAX_RETURN_CHAR_LIMIT = 1_000_000
ReturnCharLimit = Annotated[int, Field(ge=1, le=MAX_RETURN_CHAR_LIMIT)]


class PipRequirement(RequestModel):
    name: str = Field(min_length=1, description="Name of the pip package.")
    version: str | None = Field(default=None, description="Version specifier of the package.")


class NpmRequirement(RequestModel):
    name: str = Field(min_length=1, description="Name of the npm package.")
    version: str | None = Field(default=None, description="Version of the package.")


class ToolResponse(ResponseModel):
    id: str
    name: str
    description: str | None
    tool_type: str
    json_schema: dict[str, Any]
    source_type: str | None = "python"
    tags: list[str] = []
    return_char_limit: int = DEFAULT_RETURN_CHAR_LIMIT
    default_requires_approval: bool | None = False
    enable_parallel_execution: bool | None = False
    args_json_schema: dict[str, Any] | None = None
    source_code: str | None = None
    pip_requirements: list[dict[str, Any]] | None = None
    npm_requirements: list[dict[str, Any]] | None = None
    metadata_: dict[str, Any] = {}
    created_by_id: str | None = None
    last_updated_by_id: str | None = None
    project_id: str | None = None

    @classmethod
    def of(cls, tool: "BuiltinTool | Tool") -> "ToolResponse":
        if isinstance(tool, BuiltinTool):
            return cls(
                id=tool.id,
                name=tool.name,
                description=tool.description,
                tool_type=tool.tool_type,
                json_schema=tool.json_schema,
            )
        return cls(
            id=tool.id,
            name=tool.name,
            description=tool.description,
            tool_type=tool.tool_type,
            json_schema=tool.json_schema,
            source_type=tool.source_type,
            tags=list(tool.tags or []),
            return_char_limit=tool.return_char_limit,
            default_requires_approval=tool.default_requires_approval,
            enable_parallel_execution=tool.enable_parallel_execution,
            args_json_schema=tool.args_json_schema,
            source_code=tool.source_code,
            pip_requirements=tool.pip_requirements,
            npm_requirements=tool.npm_requirements,
            metadata_=dict(tool.metadata_ or {}),
            created_by_id=tool.created_by_id,
            last_updated_by_id=tool.last_updated_by_id,
        )


class ToolCreate(RequestModel):
    """Letta's ToolCreate: the tool's name is its function's (or its ``json_schema``'s)."""

    source_code: str = Field(description="The source code of the function.")
    source_type: str = Field(default="python", description="The source type of the function.")
    description: str | None = Field(default=None, description="The description of the tool.")
    tags: list[str] | None = Field(default=None, description="Metadata tags.")
    json_schema: dict[str, Any] | None = Field(
        default=None,
        description="The JSON schema of the function (derived from source_code if not given).",
    )
    args_json_schema: dict[str, Any] | None = Field(
        default=None, description="The args JSON schema of the function."
    )
    return_char_limit: ReturnCharLimit = Field(
        default=DEFAULT_RETURN_CHAR_LIMIT,
        description="The maximum number of characters in the response.",
    )
    pip_requirements: list[PipRequirement] | None = None
    npm_requirements: list[NpmRequirement] | None = None
    default_requires_approval: bool | None = None
    enable_parallel_execution: bool | None = False


class ToolUpdate(RequestModel):
    description: str | None = None
    tags: list[str] | None = None
    source_code: str | None = None
    source_type: str | None = None
    json_schema: dict[str, Any] | None = None
    args_json_schema: dict[str, Any] | None = None
    return_char_limit: ReturnCharLimit | None = None
    pip_requirements: list[PipRequirement] | None = None
    npm_requirements: list[NpmRequirement] | None = None
    metadata_: dict[str, Any] | None = None
    default_requires_approval: bool | None = None
    enable_parallel_execution: bool | None = None


class CodeInput(RequestModel):
    code: str = Field(description="Python source code to parse for a JSON schema.")
    source_type: str | None = Field(default="python", description="Only `python` is supported.")
    tool_name: str | None = Field(
        default=None, description="The function to describe (default: the last one defined)."
    )


class ToolExecuteRequest(RequestModel):
    args: dict[str, Any] = Field(default_factory=dict, description="Arguments for the tool.")


class ToolExecutionResult(ResponseModel):
    """Letta's shape: a failed run has no ``func_return``; its error is in ``stderr``."""

    status: Literal["success", "error"]
    func_return: Any = None
    agent_state: None = None
    stdout: list[str] | None = None
    stderr: list[str] | None = None
    sandbox_config_fingerprint: str | None = None

    @classmethod
    def of(cls, result: ToolResult) -> "ToolExecutionResult":
        """A run's result: what the tool printed, and its return, or on failure its error
        last in ``stderr``."""
        stdout = list(result.stdout) or None
        if result.status == "error":
            return cls(status="error", stdout=stdout, stderr=[*result.stderr, result.text])
        return cls(
            status="success",
            func_return=result.text,
            stdout=stdout,
            stderr=list(result.stderr) or None,
        )
