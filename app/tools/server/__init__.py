"""Letta's server-side built-ins (``letta_builtin``: run_code, web_search, fetch_webpage):
run outside any transaction, each by a handler registered under its name.

A module adds one with ``@server_tool("name")`` on a factory that builds its handler from the
process's resources; ``app.tools.runners`` imports the modules.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from app.tools.result import ToolResult, failed
from app.tools.run import ExternalRunner, RunnerResources, runner_factory
from app.tools.toolset import ExternalContext, ExternalHandler, ToolDef, ToolKind

HandlerFactory = Callable[[RunnerResources], Awaitable[ExternalHandler]]
_SERVER_TOOLS: dict[str, HandlerFactory] = {}


def server_tool(name: str) -> Callable[[HandlerFactory], HandlerFactory]:
    def register(factory: HandlerFactory) -> HandlerFactory:
        _SERVER_TOOLS[name] = factory
        return factory

    return register


@runner_factory(ToolKind.server)
async def server_runner(resources: RunnerResources) -> ExternalRunner:
    handlers = {name: await factory(resources) for name, factory in _SERVER_TOOLS.items()}

    async def run(ctx: ExternalContext, tool: ToolDef, args: dict[str, Any]) -> ToolResult:
        handler = handlers.get(tool.name)
        if handler is None:
            return failed(f"Error: the built-in tool `{tool.name}` is not available here.")
        return await handler(ctx, args)

    return run
