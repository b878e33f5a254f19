"""Letta's server-side built-in tools (``letta_builtin``: run_code, web_search,
fetch_webpage), run outside any transaction: the ``ToolKind.server`` runner, which hands each
call to the handler registered under the tool's name.

A module adds handlers with ``register`` (a factory building them from the process's
resources, once); ``app.tools.runners`` imports the modules that do.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from app.tools.result import ToolResult, failed
from app.tools.run import ExternalRunner, RunnerResources, runner_factory
from app.tools.toolset import ExternalContext, ExternalHandler, ToolDef, ToolKind

HandlersFactory = Callable[[RunnerResources], Awaitable[Mapping[str, ExternalHandler]]]
_FACTORIES: list[HandlersFactory] = []


def register(factory: HandlersFactory) -> HandlersFactory:
    _FACTORIES.append(factory)
    return factory


@runner_factory(ToolKind.server)
async def server_runner(resources: RunnerResources) -> ExternalRunner:
    handlers: dict[str, ExternalHandler] = {}
    for factory in _FACTORIES:
        handlers.update(await factory(resources))

    async def run(ctx: ExternalContext, tool: ToolDef, args: dict[str, Any]) -> ToolResult:
        handler = handlers.get(tool.name)
        if handler is None:
            return failed(f"Error: the built-in tool `{tool.name}` is not available here.")
        return await handler(ctx, args)

    return run
