"""What running a tool gives back, whatever its kind."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

# A database write a tool run outside any transaction hands back, to be made where the
# result is stored: in the step's transaction, or with a staged run's memory edits.
Write = Callable[[AsyncSession], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """``text`` is what the model is shown; ``stdout`` and ``stderr`` are what a tool run
    out of process printed (kept with the result, never shown to the model). ``write`` is
    what the result stands for in the database, made where the result is stored."""

    status: str  # "success" | "error"
    text: str
    stdout: tuple[str, ...] = ()
    stderr: tuple[str, ...] = ()
    write: Write | None = None


def ok(text: str) -> ToolResult:
    return ToolResult("success", text)


def failed(text: str) -> ToolResult:
    return ToolResult("error", text)


TRUNCATED_NOTE = (
    "... [NOTE: function output was truncated since it exceeded the character limit "
    "({length} > {limit})]"
)


def truncated(result: ToolResult, limit: int) -> ToolResult:
    """The result cut to ``limit`` characters, with a note saying so, as Letta cuts a tool's
    return to the tool's ``return_char_limit``."""
    if limit <= 0 or len(result.text) <= limit:
        return result
    note = TRUNCATED_NOTE.format(length=len(result.text), limit=limit)
    text = result.text[:limit] + note
    return ToolResult(result.status, text, result.stdout, result.stderr, result.write)
