"""``run_code``: Python run in the sandbox registered tools use, answered as Letta answers
(a JSON object with the results, the logs and any error). Other languages are refused."""

import json
from typing import Any

from app.sandbox.backend import Job, Outcome
from app.sandbox.runner import network_allowed
from app.tools.result import ToolResult, failed, ok
from app.tools.run import RunnerResources
from app.tools.server import register
from app.tools.toolset import ExternalContext, ExternalHandler

ONLY_PYTHON = (
    "Error: run_code here runs only python; `{language}` is not supported. Write the code in "
    'Python and call run_code with language "python".'
)


def answer(outcome: Outcome) -> dict[str, Any]:
    """Letta's run_code answer: ``results`` (the last expression's value), ``logs`` and,
    when the code failed, ``error``."""
    body: dict[str, Any] = {
        "results": [outcome.value] if outcome.ok and outcome.value else [],
        "logs": {
            "stdout": [outcome.stdout] if outcome.stdout else [],
            "stderr": [outcome.stderr] if outcome.stderr else [],
        },
    }
    if outcome.stopped is not None:
        body["error"] = {
            "name": "SandboxLimit",
            "value": f"the sandbox stopped it: {outcome.stopped}",
        }
    elif not outcome.ok:
        body["error"] = {
            "name": outcome.error_type,
            "value": outcome.message,
            "traceback": outcome.traceback,
        }
    return body


@register
async def run_code_handler(resources: RunnerResources) -> dict[str, ExternalHandler]:
    sandbox = resources.sandbox

    async def run_code(ctx: ExternalContext, args: dict[str, Any]) -> ToolResult:
        code, language = args.get("code"), args.get("language", "python")
        if not isinstance(code, str):
            return failed("Error: `code` must be a string.")
        if str(language).lower() not in {"python", "py", "python3"}:
            return failed(ONLY_PYTHON.format(language=language))
        network = network_allowed(resources.settings, {}, ctx)
        job = Job(code, None, {}, dict(ctx.env), None, network)
        return ok(json.dumps(answer(await sandbox.run(job)), ensure_ascii=False))

    return {"run_code": run_code}
