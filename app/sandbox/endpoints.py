"""``POST /v1/tools/run``: run Python source once in the sandbox, as Letta's tool runner
does, without registering it."""

import ast

from fastapi import APIRouter

from app.auth.deps import ActorDep
from app.config import SandboxNetwork
from app.kit.errors import BadRequest
from app.sandbox.runner import PythonTools
from app.sandbox.schemas import ToolRunFromSource
from app.tools.deps import ToolRunnersDep
from app.tools.schemas import ToolExecutionResult
from app.tools.toolset import ToolKind

router = APIRouter(prefix="/v1/tools", tags=["tools"])


def function_name(body: ToolRunFromSource) -> str:
    """The function to call: ``name``, else the name in ``json_schema``, else the source's
    last top-level function (Letta derives the schema, and so the name, the same way)."""
    try:
        tree = ast.parse(body.source_code)
    except SyntaxError as exc:
        raise BadRequest(f"source_code: not valid Python ({exc.msg}, line {exc.lineno})") from exc
    defined = [
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    name = body.name or (body.json_schema or {}).get("name")
    if isinstance(name, str) and name:
        if name not in defined:
            raise BadRequest(f"source_code: no top-level function named {name!r}")
        return name
    if not defined:
        raise BadRequest("source_code: defines no top-level function to run")
    return defined[-1]


@router.post("/run", response_model=ToolExecutionResult)
async def run_tool_from_source(
    body: ToolRunFromSource, actor: ActorDep, runners: ToolRunnersDep
) -> ToolExecutionResult:
    """Run the source's function once with ``args``, in the sandbox, with no transaction."""
    if (body.source_type or "python") != "python":
        raise BadRequest(f"source_type: only python tools run here, not {body.source_type!r}")
    name = function_name(body)
    python = runners.external.get(ToolKind.python)
    if not isinstance(python, PythonTools):
        raise BadRequest("this server has no sandbox to run Python tools")
    requirements = [r.model_dump() for r in body.pip_requirements or ()]
    result = await python.run_source(
        name,
        body.source_code,
        body.args,
        env=dict(body.env_vars or {}),
        requirements=requirements,
        network=python.settings.sandbox_network == SandboxNetwork.on,
    )
    return ToolExecutionResult.of(result)
