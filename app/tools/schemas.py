from typing import Any, Literal

from pydantic import Field

from app.kit.schemas import RequestModel, ResponseModel
from app.tools.builtin import BuiltinTool
from app.tools.result import ToolResult


class ToolResponse(ResponseModel):
    id: str
    name: str
    description: str
    tool_type: str
    json_schema: dict[str, Any]
    source_type: str = "python"
    tags: list[str] = []
    return_char_limit: int = 50_000
    default_requires_approval: bool = False
    enable_parallel_execution: bool = False
    args_json_schema: dict[str, Any] | None = None
    source_code: str | None = None
    metadata_: dict[str, Any] = {}

    @classmethod
    def of(cls, tool: BuiltinTool) -> "ToolResponse":
        return cls(
            id=tool.id,
            name=tool.name,
            description=tool.description,
            tool_type=tool.tool_type,
            json_schema=tool.json_schema,
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
