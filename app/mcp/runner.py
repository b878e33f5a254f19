"""The MCP tool runner a step dispatches ``ToolKind.mcp`` tools to.

Runners are plain functions of ``(context, tool, args)``; this one needs the process's MCP
sessions and database, shared with the MCP routes, which the runtime installs here when it
starts (``install``) and removes when it stops. There is one of each per process.
"""

from typing import Any

from app.mcp.service import MCPService
from app.tools.run import ExternalRunner, RunnerResources, ToolResult, failed, runner_factory
from app.tools.toolset import ExternalContext, ToolDef, ToolKind

_service: MCPService | None = None


def install(service: MCPService | None) -> None:
    global _service  # noqa: PLW0603 - the process's one MCP service, set by the runtime
    _service = service


async def run_mcp_tool(ctx: ExternalContext, tool: ToolDef, args: dict[str, Any]) -> ToolResult:
    """Call ``tool`` on its MCP server. A server that is down, slow or gone, and a tool that
    fails, give the model an error result; the turn goes on."""
    service = _service
    if service is None:
        return failed(f"Error: MCP tool '{tool.name}' cannot run: MCP is not running here.")
    return await service.run_tool(ctx.organization_id, tool.mcp_server_id, tool.name, args, ctx.env)


@runner_factory(ToolKind.mcp)
async def mcp_runner(resources: RunnerResources) -> ExternalRunner:
    return run_mcp_tool
