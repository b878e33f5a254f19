"""Registered Python tools, run in the sandbox: the ``ToolKind.python`` runner.

What the model sees follows Letta: the function's return stringified (``None`` as "None", a
dict as JSON, anything else with ``str``); a tool that raises gives
"Error executing function <name>: <Type>: <message>"; one the sandbox stopped says which
limit it hit. What the tool printed stays with the result (``stdout``/``stderr``).
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.config import SandboxNetwork, Settings
from app.sandbox.backend import MB, Job, Outcome, Sandbox
from app.sandbox.venvs import Environments, InstallFailed, default_root, requirement_specs
from app.tools.result import ToolResult, failed
from app.tools.run import ExternalRunner, RunnerResources, runner_factory
from app.tools.toolset import ExternalContext, ToolDef, ToolKind

NETWORK_KEY = "sandbox_network"
PIP_DISABLED = (
    "Error: tool `{name}` needs the Python packages {specs}, and this server does not "
    "install tools' pip_requirements. Set SLEEPTIME_TOOL_PIP_INSTALL=true to let it build a "
    "cached environment for them."
)
PIP_TIMEOUT_SECONDS = 600.0


def outcome_result(name: str, outcome: Outcome, limits_memory: int) -> ToolResult:
    """A sandbox outcome as the tool result the model and the API see."""
    stdout = (outcome.stdout,) if outcome.stdout else ()
    stderr = (outcome.stderr,) if outcome.stderr else ()
    if outcome.ok:
        return ToolResult("success", outcome.value or "", stdout, stderr)
    if outcome.stopped is not None:
        text = f"Error executing function {name}: the sandbox stopped it: {outcome.stopped}."
        return ToolResult("error", text, stdout, stderr)
    message = outcome.message or ""
    if outcome.error_type == "MemoryError":
        message = message or f"it exceeded its memory limit of {limits_memory // MB} MB"
    text = f"Error executing function {name}: {outcome.error_type}: {message}"
    traceback = (outcome.traceback,) if outcome.traceback else ()
    return ToolResult("error", text, stdout, (*stderr, *traceback))


def network_allowed(
    settings: Settings, tool_metadata: Mapping[str, Any], ctx: ExternalContext
) -> bool:
    """``SLEEPTIME_SANDBOX_NETWORK``: off, on, or opt_in by the tool's or the agent's
    metadata ``{"sandbox_network": true}``."""
    policy = settings.sandbox_network
    if policy == SandboxNetwork.on:
        return True
    if policy == SandboxNetwork.off:
        return False
    agent_metadata = (ctx.agent_state or {}).get("metadata") or {}
    return tool_metadata.get(NETWORK_KEY) is True or agent_metadata.get(NETWORK_KEY) is True


class PythonTools:
    """Runs registered Python tools: their source, in a fresh sandboxed process per call."""

    def __init__(self, settings: Settings, sandbox: Sandbox) -> None:
        self.settings = settings
        self.sandbox = sandbox
        root = Path(settings.tool_venv_dir) if settings.tool_venv_dir else default_root()
        self.environments = Environments(root, sandbox.interpreter, PIP_TIMEOUT_SECONDS)

    async def venv(self, name: str, requirements: Any) -> str | ToolResult | None:
        """The tool environment for its requirements, None without any, or an error."""
        specs = requirement_specs(list(requirements or ()))
        if not specs:
            return None
        if not self.settings.tool_pip_install:
            return failed(PIP_DISABLED.format(name=name, specs=", ".join(specs)))
        try:
            return await self.environments.ensure(specs)
        except InstallFailed as exc:
            return failed(f"Error: installing the requirements of `{name}` failed: {exc}")

    async def run_source(
        self,
        name: str,
        source: str,
        args: dict[str, Any],
        *,
        env: dict[str, str],
        agent_state: Any = None,
        requirements: Any = (),
        network: bool = False,
    ) -> ToolResult:
        venv = await self.venv(name, requirements)
        if isinstance(venv, ToolResult):
            return venv
        job = Job(source, name, args, env, agent_state, network, venv)
        outcome = await self.sandbox.run(job)
        return outcome_result(name, outcome, self.sandbox.limits.memory_bytes)

    async def __call__(
        self, ctx: ExternalContext, tool: ToolDef, args: dict[str, Any]
    ) -> ToolResult:
        if not tool.source_code:
            return failed(f"Error: tool `{tool.name}` has no source code to run.")
        return await self.run_source(
            tool.name,
            tool.source_code,
            args,
            env=dict(ctx.env),
            agent_state=ctx.agent_state,
            requirements=tool.pip_requirements,
            network=network_allowed(self.settings, tool.metadata, ctx),
        )


@runner_factory(ToolKind.python)
async def python_runner(resources: RunnerResources) -> ExternalRunner:
    tools = PythonTools(resources.settings, resources.sandbox)
    resources.stack.push_async_callback(tools.environments.aclose)
    return tools
