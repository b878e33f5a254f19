"""The process's tool runners, built once at start: one per external tool kind.

Each kind's module registers its runner factory with ``app.tools.run.runner_factory`` when
it is imported; importing it here is all it takes to add a kind.
"""

from contextlib import AsyncExitStack
from typing import Any

import httpx

# Each of these registers its kind's runner (or server built-ins) when imported.
import app.mcp.runner
import app.sandbox.runner
import app.tools.server.archival
import app.tools.server.run_code  # noqa: F401
from app.config import Settings
from app.kit.db import Database
from app.sandbox.backend import Sandbox
from app.tools import server
from app.tools.run import RunnerResources, ToolRunners, factories
from app.tools.server.web_tools import web_handlers
from app.tools.toolset import ExternalHandler


@server.register
async def _web_tools(resources: RunnerResources) -> dict[str, ExternalHandler]:
    return web_handlers(resources.settings, resources.http, resources.stack)


# A runner may take this long past the tool timeout (its own limit) before it is cut off.
TIMEOUT_GRACE_SECONDS = 5.0


async def build_runners(
    settings: Settings, http: httpx.AsyncClient, stack: AsyncExitStack, db: Database | None = None
) -> ToolRunners:
    """Every registered kind's runner, built once for the process."""
    # The sandbox's self-check runs while the process goes on starting (see ``Sandbox``).
    sandbox = await Sandbox.start(settings, check_later=True)
    stack.push_async_callback(sandbox.close)
    resources = RunnerResources(settings, http, stack, sandbox, db)
    external = {kind: await factory(resources) for kind, factory in factories().items()}

    async def described() -> dict[str, Any]:
        return {"sandbox": (await sandbox.checked()).value}

    return ToolRunners(
        external,
        timeout_seconds=settings.tool_timeout_seconds + TIMEOUT_GRACE_SECONDS,
        described=described,
    )
