"""Plain-text columns for the operator's commands."""

from collections.abc import Sequence
from datetime import UTC, datetime

# A cell longer than this is cut with an ellipsis, so a long name or error keeps the other
# columns on one line; ``runs show`` prints the whole error above its steps.
MAX_CELL = 48


def when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def _cell(value: str | None) -> str:
    if value is None or value == "":
        return "-"
    text = " ".join(value.split())
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str | None]], *, empty: str) -> list[str]:
    """Left-aligned columns two spaces apart, a header line first; ``empty`` alone if there
    are no rows."""
    if not rows:
        return [f"({empty})"]
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return [line(headers), *(line(r) for r in cells)]
