"""Running tools: the built-in session tools here, every other kind through its runner.

A tool's own failure is a result for the model (status ``error``), never an exception that
ends the run. Session tools (memory edits, conversation search) run in the caller's
transaction; external tools (``ToolDef.external``: sandboxed Python, server built-ins, MCP)
run with no transaction open, each bounded by a timeout, several at once when a step asks for
several (``ToolRunners.run_external``).
"""

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.blocks import memory_edits
from app.blocks.memory import Edit, EditFailedError, MemoryWriter
from app.config import Settings
from app.kit import tracing
from app.kit.db import Database
from app.messages.chat import text_of
from app.messages.repository import MessageRepository
from app.sandbox.backend import Sandbox
from app.tools.result import ToolResult, failed, ok, truncated
from app.tools.toolset import ExternalContext, ToolDef, ToolKind

__all__ = ["ToolContext", "ToolResult", "execute", "failed", "ok", "truncated"]


@dataclass(frozen=True, slots=True)
class ToolContext:
    session: AsyncSession
    organization_id: str
    agent_id: str
    run_id: str | None  # None: a tool run through the API, outside any turn
    memory: MemoryWriter


Handler = Callable[[ToolContext, dict[str, Any]], Awaitable[ToolResult]]
NUL = "\x00"
_NO_NUL = "Error: `{name}` contains U+0000, which memory blocks cannot hold."


async def _edit_block(ctx: ToolContext, label: object, edit: Edit) -> ToolResult:
    """Apply ``edit`` to the block through the run's memory writer."""
    if not isinstance(label, str):
        return failed("Error: `label` must be a string.")
    if NUL in label:
        return failed(_NO_NUL.format(name="label"))
    try:
        return ok(await ctx.memory.edit(label, edit))
    except EditFailedError as exc:
        return failed(exc.message)


def _str(args: dict[str, Any], name: str, default: str | None = None) -> str:
    """A text argument of a memory edit. Block values never hold U+0000 (the API refuses
    it too), so the model is told to write its edit without one."""
    value = args.get(name, default)
    if not isinstance(value, str):
        raise memory_edits.EditRejected(f"Error: `{name}` must be a string.")
    if NUL in value:
        raise memory_edits.EditRejected(_NO_NUL.format(name=name))
    return value


async def memory_replace(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    return await _edit_block(
        ctx,
        args.get("label"),
        lambda value, label: memory_edits.replace(
            value, label, _str(args, "old_string"), _str(args, "new_string")
        ),
    )


async def memory_insert(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    line = args.get("insert_line", -1)
    if not isinstance(line, int) or isinstance(line, bool):
        return failed("Error: `insert_line` must be an integer.")
    return await _edit_block(
        ctx,
        args.get("label"),
        lambda value, label: memory_edits.insert(value, label, _str(args, "new_string"), line),
    )


async def memory_rethink(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    return await _edit_block(
        ctx, args.get("label"), lambda _v, _l: memory_edits.rethink(_str(args, "new_memory"))
    )


async def memory_finish_edits(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    return ok("None")


async def core_memory_append(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    return await _edit_block(
        ctx, args.get("label"), lambda value, _l: memory_edits.append(value, _str(args, "content"))
    )


async def core_memory_replace(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    return await _edit_block(
        ctx,
        args.get("label"),
        lambda value, label: memory_edits.replace_all(
            value, label, _str(args, "old_content"), _str(args, "new_content", "")
        ),
    )


async def send_message(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    if not isinstance(args.get("message"), str):
        return failed("Error: `message` must be a string.")
    return ok("Sent message successfully.")


def _date(args: dict[str, Any], name: str) -> datetime | None:
    value = args.get(name)
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise memory_edits.EditRejected(f"Error: `{name}` is not an ISO 8601 date.") from None
    return parsed if parsed.tzinfo else parsed.astimezone()


async def conversation_search(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    try:
        start, end = _date(args, "start_date"), _date(args, "end_date")
    except memory_edits.EditRejected as exc:
        return failed(exc.message)
    roles = [r for r in args.get("roles") or [] if r in {"assistant", "user", "tool"}]
    limit = args.get("limit") or 5
    limit = max(1, min(int(limit) if isinstance(limit, int) else 5, 50))
    query = args.get("query") if isinstance(args.get("query"), str) else None
    found = await MessageRepository(ctx.session, ctx.organization_id).search(
        ctx.agent_id, query=query, roles=roles, limit=limit, start=start, end=end
    )
    results = [
        {
            "timestamp": m.created_at.isoformat(),
            "role": m.role,
            "content": m.text or text_of(m.content),
        }
        for m in found
    ]
    if not results:
        return ok("No results found.")
    return ok(json.dumps(results, ensure_ascii=False))


HANDLERS: dict[str, Handler] = {
    "send_message": send_message,
    "conversation_search": conversation_search,
    "memory_replace": memory_replace,
    "memory_insert": memory_insert,
    "memory_rethink": memory_rethink,
    "memory_finish_edits": memory_finish_edits,
    "core_memory_append": core_memory_append,
    "core_memory_replace": core_memory_replace,
}


async def execute(ctx: ToolContext, name: str, arguments: str) -> ToolResult:
    handler = HANDLERS.get(name)
    if handler is None:
        return failed(f"Error: tool `{name}` does not exist.")
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError as exc:
        return failed(f"Error: the arguments are not valid JSON ({exc.msg}).")
    if not isinstance(args, dict):
        return failed("Error: the arguments must be a JSON object.")
    try:
        return await handler(ctx, args)
    except memory_edits.EditRejected as exc:
        return failed(exc.message)


# --- Dispatch of the tools that run outside any transaction ---------------------------------

ExternalRunner = Callable[[ExternalContext, ToolDef, dict[str, Any]], Awaitable[ToolResult]]


@dataclass(frozen=True, slots=True)
class RunnerResources:
    """What the runners of a process are built from; ``stack`` closes what they open
    (sessions, pools) when the process stops."""

    settings: Settings
    http: httpx.AsyncClient
    stack: AsyncExitStack
    sandbox: Sandbox
    db: Database | None = None  # for built-ins that open units of work of their own


RunnerFactory = Callable[[RunnerResources], Awaitable[ExternalRunner]]
_FACTORIES: dict[ToolKind, RunnerFactory] = {}


def runner_factory(kind: ToolKind) -> Callable[[RunnerFactory], RunnerFactory]:
    """Register the factory of ``kind``'s runner; its module is imported by
    ``app.tools.runners``, which builds the table once per process."""

    def register(factory: RunnerFactory) -> RunnerFactory:
        _FACTORIES[kind] = factory
        return factory

    return register


def factories() -> dict[ToolKind, RunnerFactory]:
    return dict(_FACTORIES)


_MISSING = {
    ToolKind.mcp: "MCP tool `{name}`: no MCP client is available in this server.",
    ToolKind.python: "Tool `{name}`: no sandbox is available to run Python tools.",
    ToolKind.server: "Tool `{name}`: this server cannot run it.",
}


class ToolRunners:
    """Runs a tool of any kind; the external kinds through their runner, each call bounded
    by ``timeout_seconds`` (a guard: the sandbox and MCP enforce their own, shorter, limits)."""

    def __init__(
        self,
        external: Mapping[ToolKind, ExternalRunner] | None = None,
        *,
        timeout_seconds: float = 60.0,
        described: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    ) -> None:
        self.external = dict(external or {})
        self.timeout_seconds = timeout_seconds
        self._described = described

    async def described(self) -> dict[str, Any]:
        """What a process's startup line says of its tools (the sandbox in effect), once
        known."""
        return await self._described() if self._described is not None else {}

    async def session(self, ctx: ToolContext, tool: ToolDef, arguments: str) -> ToolResult:
        """A session tool, in the caller's transaction."""
        with tracing.span("tool", tool=tool.name, tool_kind=tool.kind.value) as sp:
            result = truncated(await execute(ctx, tool.name, arguments), tool.return_char_limit)
            sp.set("outcome", result.status)
        return result

    async def run_external(
        self, ctx: ExternalContext, calls: Sequence[tuple[ToolDef, str]]
    ) -> list[ToolResult]:
        """External calls, all at once; their results in the order of ``calls``."""
        if len(calls) == 1:
            return [await self.one(ctx, *calls[0])]
        return list(await asyncio.gather(*(self.one(ctx, tool, args) for tool, args in calls)))

    async def one(self, ctx: ExternalContext, tool: ToolDef, arguments: str) -> ToolResult:
        with tracing.span("tool", tool=tool.name, tool_kind=tool.kind.value) as sp:
            result = await self._one(ctx, tool, arguments)
            sp.set("outcome", result.status)
        return result

    async def _one(self, ctx: ExternalContext, tool: ToolDef, arguments: str) -> ToolResult:
        args = _arguments(arguments)
        if isinstance(args, ToolResult):
            return args
        args.pop("request_heartbeat", None)  # offered by the loop, never the tool's own
        runner = self.external.get(tool.kind)
        if runner is None:
            return failed(
                _MISSING.get(tool.kind, "Tool `{name}` cannot run.").format(name=tool.name)
            )
        try:
            async with asyncio.timeout(self.timeout_seconds):
                result = await runner(ctx, tool, args)
        except TimeoutError:
            result = failed(
                f"Error: tool `{tool.name}` did not finish within "
                f"{self.timeout_seconds:g} seconds and was stopped."
            )
        return truncated(result, tool.return_char_limit)


def _arguments(arguments: str) -> dict[str, Any] | ToolResult:
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError as exc:
        return failed(f"Error: the arguments are not valid JSON ({exc.msg}).")
    if not isinstance(args, dict):
        return failed("Error: the arguments must be a JSON object.")
    return args
