"""Observability: the process's Prometheus registry and the series the code moves as it
goes, and per request a request id, one access log line and the HTTP series.

Series computed from the database at scrape time (runs by status, the queue's oldest wait,
sleeptime lag, the pool in use) are gathered by ``app.health.metrics`` into a ``Snapshot``
registered here. Every series is prefixed ``sleeptime_``.

The request middleware is pure ASGI (not ``BaseHTTPMiddleware``) so streamed responses pass
through untouched and the measured duration covers the whole response.
"""

import time
import uuid
from collections.abc import Iterator

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("app.http")

REGISTRY = CollectorRegistry(auto_describe=True)
HTTP_REQUESTS = Counter(
    "sleeptime_http_requests",
    "HTTP requests handled, by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "sleeptime_http_request_duration_seconds",
    "Time from request start to the end of the response body.",
    ["method", "route"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

# Moved where the work happens; one cheap increment each, no statement.
PROVIDER_REQUESTS = Counter(
    "sleeptime_provider_requests",
    "Requests to model providers (each attempt, retries included), by provider and outcome "
    "(ok, or the error type: llm_timeout, llm_rate_limit, llm_error, ...).",
    ["provider", "outcome"],
    registry=REGISTRY,
)
PROVIDER_SECONDS = Histogram(
    "sleeptime_provider_request_seconds",
    "Time of one request to a model provider, to its whole answer (streamed or not).",
    ["provider"],
    registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300),
)
TOKENS = Counter(
    "sleeptime_tokens",
    "Tokens the model providers reported, by kind (prompt, completion).",
    ["kind"],
    registry=REGISTRY,
)
SSE_STREAMS_OPEN = Gauge(
    "sleeptime_sse_streams_open",
    "Server-sent event streams this process is sending now.",
    registry=REGISTRY,
)
RUNS_REAPED = Counter(
    "sleeptime_runs_reaped",
    "Runs whose lease lapsed, settled by this process's reaper, by kind and what became of "
    "them (retried: queued again; failed; cancelled).",
    ["kind", "outcome"],
    registry=REGISTRY,
)


class Snapshot(Collector):
    """Gauges read from the database at scrape time: the values of the last refresh, each
    a (labels, value) list per series. ``app.health.metrics`` refreshes it before a scrape."""

    def __init__(self) -> None:
        self.values: dict[str, list[tuple[tuple[str, ...], float]]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (help_text, labels) in SNAPSHOT_SERIES.items():
            family = GaugeMetricFamily(name, help_text, labels=labels)
            for label_values, value in self.values.get(name, ()):
                family.add_metric(list(label_values), value)
            yield family


SNAPSHOT_SERIES: dict[str, tuple[str, list[str]]] = {
    "sleeptime_runs": (
        "Runs not ended yet (created: queued; running: under a lease), by kind and status, "
        "across every process on the database.",
        ["kind", "status"],
    ),
    "sleeptime_run_oldest_queued_seconds": (
        "How long the oldest queued run that is due has waited (0 when none waits).",
        [],
    ),
    "sleeptime_sleeptime_lag_turns": (
        "Turns of a primary not yet read by its sleeptime agent, for the worst group.",
        [],
    ),
    "sleeptime_db_pool_in_use": ("Database connections this process has checked out.", []),
}
SNAPSHOT = Snapshot()
REGISTRY.register(SNAPSHOT)

_REQUEST_ID_HEADER = b"x-request-id"


async def _internal_error(send: Send) -> None:
    body = b'{"detail":"An unknown error occurred"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(_REQUEST_ID_HEADER, b"").decode("latin-1")
        request_id = incoming[:128] or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        started_response = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status, started_response = message["status"], True
                headers = list(message.get("headers", []))
                headers.append((_REQUEST_ID_HEADER, request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            # A bug. Answered here, inside the server's own error layer, so that layer does not
            # re-raise it and the server keeps the connection for the client's next request.
            # Once a body is on its way, only closing the connection can end it.
            if started_response:
                raise
            log.exception("request.unhandled_error")
            await _internal_error(send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route, method = _route_template(scope), scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(elapsed)
            log.info(
                "http.request",
                method=method,
                route=route,
                path=scope["path"],
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
