from typing import Any

from app.kit.schemas import ResponseModel
from app.tools.builtin import BuiltinTool


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
