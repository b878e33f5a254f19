from typing import Any

from pydantic import Field

from app.kit.schemas import RequestModel


class PipRequirement(RequestModel):
    name: str = Field(min_length=1, description="The package's name on PyPI.")
    version: str | None = Field(default=None, description="An exact version; latest if null.")


class ToolRunFromSource(RequestModel):
    """Letta's ToolRunFromSource: run Python source once, without registering it."""

    source_code: str = Field(description="The source code of the function.")
    args: dict[str, Any] = Field(description="The arguments to pass to the tool.")
    env_vars: dict[str, str] | None = Field(
        default=None, description="The environment variables the tool runs with."
    )
    name: str | None = Field(default=None, description="The function to call.")
    source_type: str | None = Field(default=None, description="Only `python` here.")
    args_json_schema: dict[str, Any] | None = None
    json_schema: dict[str, Any] | None = None
    pip_requirements: list[PipRequirement] | None = None
    npm_requirements: list[dict[str, Any]] | None = None
