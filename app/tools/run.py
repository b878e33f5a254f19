"""Running the built-in tools. A tool's own failure is a result for the model (status
``error``), never an exception that ends the run."""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.blocks import memory_edits
from app.blocks.memory import Edit, EditFailedError, MemoryWriter
from app.messages.chat import text_of
from app.messages.repository import MessageRepository


@dataclass(frozen=True, slots=True)
class ToolResult:
    status: str  # "success" | "error"
    text: str


def ok(text: str) -> ToolResult:
    return ToolResult("success", text)


def failed(text: str) -> ToolResult:
    return ToolResult("error", text)


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
