"""What running a tool gives back, whatever its kind."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ToolResult:
    """``text`` is what the model is shown; ``stdout`` and ``stderr`` are what a tool run
    out of process printed (kept with the result, never shown to the model)."""

    status: str  # "success" | "error"
    text: str
    stdout: tuple[str, ...] = ()
    stderr: tuple[str, ...] = ()


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
    return ToolResult(result.status, result.text[:limit] + note, result.stdout, result.stderr)
