"""structlog setup: readable console lines by default, one JSON object per line on request.

Context (``request_id``, later ``agent_id`` and ``run_id``) is bound with contextvars, so every
line logged while handling a request carries it.
"""

import logging
import sys
from typing import Any

import structlog

from app.config import LogFormat

# What structlog's console renderer writes in columns of their own, in this order.
_COLUMNS = ("timestamp", "level", "event", "logger", "logger_name")
_TRACES = ("stack", "exception", "exc_info")
_QUOTED = frozenset(" \t=\r\n\"'")


class PlainConsoleRenderer:
    """structlog's ``ConsoleRenderer`` without colours (a server's stderr is rarely a
    terminal), writing the same text for a line without a traceback in one pass: the
    renderer builds every column through its own formatter and buffer, which made the
    two lines a turn logs (its access line, its run's end) a tenth of its CPU. Lines with a
    stack or an exception go to the renderer itself."""

    def __init__(self) -> None:
        self.full = structlog.dev.ConsoleRenderer(colors=False)
        levels = structlog.dev.ConsoleRenderer.get_default_level_styles(colors=False)
        self.level_width = max(map(len, levels)) if self.full.pad_level else 0
        self.event_width = self.full.pad_event_to

    def __call__(self, logger: Any, name: str, event_dict: structlog.types.EventDict) -> str:
        if any(key in event_dict for key in _TRACES):
            return self.full(logger, name, event_dict)
        parts: list[str] = []
        timestamp = event_dict.pop("timestamp", _COLUMNS)
        if timestamp is not _COLUMNS:
            parts.append(str(timestamp))
        level = event_dict.pop("level", _COLUMNS)
        if level is not _COLUMNS:
            parts.append(f"[{str(level).ljust(self.level_width)}]")
        event = event_dict.pop("event", _COLUMNS)
        if event is not _COLUMNS:
            parts.append(str(event).ljust(self.event_width))
        for key in ("logger", "logger_name"):
            value = event_dict.pop(key, _COLUMNS)
            if value is not _COLUMNS:
                parts.append(f"[{value}]")
        for key in sorted(event_dict):
            parts.append(f"{key}={_repr(event_dict[key])}")
        return " ".join(part for part in parts if part).rstrip(" ")


def _repr(value: Any) -> str:
    if isinstance(value, str) and _QUOTED.isdisjoint(value):
        return value
    return repr(value)


def configure_logging(level: str, fmt: LogFormat) -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor
    if fmt is LogFormat.json:
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        colors = sys.stderr.isatty()
        renderer = structlog.dev.ConsoleRenderer(colors=True) if colors else PlainConsoleRenderer()
    structlog.configure(
        # Below the level, a line is dropped before anything else is done with it.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # One access line per request comes from our middleware; uvicorn's own would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # httpx writes an INFO line for every request it sends (each model call, callback, MCP
    # message); the provider metrics and the run's own lines say that already.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
