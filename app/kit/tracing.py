"""Optional OpenTelemetry traces: a span per HTTP request, turn, step, provider call and tool.

Off by default. With ``SLEEPTIME_OTEL_ENABLED=true`` and the ``otel`` extra installed, the
runtime's start sets up a tracer that exports in batches over OTLP/HTTP (the SDK reads the
standard ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``
...), and its stop flushes what is left. Spans nest through the context of the task they run
in: request > turn > step > provider call and tool; a run executed by a dispatcher has no
request around it, so its turn is a trace of its own.

Off, the SDK is never imported (``app.kit.otel`` holds what uses it), and every call site
gets the one shared ``NOOP`` object back after a single check.
"""

import asyncio
import importlib.util
from typing import TYPE_CHECKING, TypeAlias

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from app.kit import otel

Attribute = str | int | float | bool

_backend: "otel.Backend | None" = None

MISSING = (
    "SLEEPTIME_OTEL_ENABLED is set but OpenTelemetry is not installed: install the extra "
    "(pip install 'sleeptime-server[otel]', or uv sync --extra otel) or unset it"
)


def problem(settings: Settings) -> str | None:
    """What stops tracing as configured, in one line (None when nothing does)."""
    if not settings.otel_enabled:
        return None
    for module in ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return MISSING
    return None


class Noop:
    """What every call gets when tracing is off: it does nothing, and is the same object."""

    __slots__ = ()

    def __enter__(self) -> "Noop":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set(self, key: str, value: Attribute) -> None:
        return None

    def rename(self, name: str) -> None:
        return None

    def fail(self, description: str) -> None:
        return None

    def next(self, **attributes: Attribute) -> None:
        return None

    def end(self, error: BaseException | None = None, **attributes: Attribute) -> None:
        return None


NOOP = Noop()
if TYPE_CHECKING:
    Successive: TypeAlias = "otel.Successive | Noop"


def enabled() -> bool:
    return _backend is not None


def span(name: str, **attributes: Attribute) -> "otel.Current | Noop":
    """A span around a block, current while it runs; an exception leaving the block is
    recorded on it. ``.set(key, value)`` adds an attribute."""
    return NOOP if _backend is None else _backend.span(name, attributes)


def started(name: str, **attributes: Attribute) -> "otel.Leaf | Noop":
    """A span that begins now (under the current one) and ends at
    ``.end(error=None, **attributes)``."""
    return NOOP if _backend is None else _backend.started(name, attributes)


def successive(name: str) -> "otel.Successive | Noop":
    """Spans named ``name`` one after another in a block: ``.next(**attributes)`` ends the
    running one and begins the next (a loop's steps, without re-indenting the loop)."""
    return NOOP if _backend is None else _backend.successive(name)


def install(exporter: "SpanExporter", *, batch: bool = False) -> None:
    """Trace into ``exporter`` from now on (tests give an in-memory one)."""
    global _backend  # noqa: PLW0603 - the process's one tracer
    from app.kit import otel  # noqa: PLC0415 - imported only when tracing is on

    _backend = otel.Backend(exporter, batch=batch)


def uninstall() -> "otel.Backend | None":
    """Stop tracing; what traced, for its owner to shut down."""
    global _backend
    backend, _backend = _backend, None
    return backend


def start(settings: Settings) -> bool:
    """At the runtime's start: trace over OTLP when the settings ask for it (and nothing
    traces yet). Whether this call began tracing, so its caller is the one to ``stop``."""
    if not settings.otel_enabled or _backend is not None:
        return False
    if (missing := problem(settings)) is not None:
        raise RuntimeError(missing)
    from app.kit import otel  # noqa: PLC0415 - imported only when tracing is on

    install(otel.otlp(), batch=True)
    return True


async def stop() -> None:
    """At the runtime's stop: export what is left (off the event loop) and stop tracing."""
    backend = uninstall()
    if backend is not None:
        await asyncio.to_thread(backend.provider.shutdown)


class TracingMiddleware:
    """A span per HTTP request, named after its route template once routing has found it.
    Added only when tracing is configured, so it costs nothing otherwise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _backend is None:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        with span(method, **{"http.request.method": method, "url.path": scope["path"]}) as sp:

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    sp.set("http.response.status_code", message["status"])
                    if message["status"] >= 500:
                        sp.fail(f"HTTP {message['status']}")
                await send(message)

            try:
                await self.app(scope, receive, traced_send)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str):
                    sp.set("http.route", route)
                    sp.rename(f"{method} {route}")
