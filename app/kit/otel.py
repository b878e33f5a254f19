"""The live side of ``app.kit.tracing``: spans made with the OpenTelemetry SDK. Imported only
once tracing is on (the ``otel`` extra installed and ``SLEEPTIME_OTEL_ENABLED`` set)."""

from collections.abc import Mapping
from types import TracebackType

from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from app import __version__

Attribute = str | int | float | bool


def _failed(span: Span, error: BaseException) -> None:
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


class _Block:
    """A block whose end closes what it began, recording the exception that left it."""

    __slots__ = ()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close(error)

    def close(self, error: BaseException | None) -> None:
        raise NotImplementedError


class Current(_Block):
    """A span made the task's current one while its block runs."""

    __slots__ = ("attributes", "name", "span", "token", "tracer")

    def __init__(self, tracer: Tracer, name: str, attributes: Mapping[str, Attribute]) -> None:
        self.tracer, self.name, self.attributes = tracer, name, attributes

    def __enter__(self) -> "Current":
        self.span = self.tracer.start_span(self.name, attributes=self.attributes)
        self.token = context.attach(trace.set_span_in_context(self.span))
        return self

    def close(self, error: BaseException | None) -> None:
        if error is not None:
            _failed(self.span, error)
        context.detach(self.token)
        self.span.end()

    def set(self, key: str, value: Attribute) -> None:
        self.span.set_attribute(key, value)

    def rename(self, name: str) -> None:
        self.span.update_name(name)

    def fail(self, description: str) -> None:
        """Mark the span failed without an exception (a 5xx answer)."""
        self.span.set_status(Status(StatusCode.ERROR, description))


class Leaf:
    """A span started now and ended by ``end``, never the current one: for work whose
    beginning and end are not one block (a streamed answer read by someone else)."""

    __slots__ = ("span",)

    def __init__(self, tracer: Tracer, name: str, attributes: Mapping[str, Attribute]) -> None:
        self.span = tracer.start_span(name, attributes=attributes)

    def set(self, key: str, value: Attribute) -> None:
        self.span.set_attribute(key, value)

    def end(self, error: BaseException | None = None, **attributes: Attribute) -> None:
        self.span.set_attributes(attributes)
        if error is not None:
            _failed(self.span, error)
        self.span.end()


class Successive(_Block):
    """Spans one after another inside one block (a loop's iterations), each the current one
    until ``next`` starts the following one; the block's end ends the last."""

    __slots__ = ("current", "name", "tracer")

    def __init__(self, tracer: Tracer, name: str) -> None:
        self.tracer, self.name = tracer, name
        self.current: Current | None = None

    def __enter__(self) -> "Successive":
        return self

    def next(self, **attributes: Attribute) -> None:
        self.close(None)
        self.current = Current(self.tracer, self.name, attributes).__enter__()

    def close(self, error: BaseException | None) -> None:
        if self.current is not None:
            current, self.current = self.current, None
            current.close(error)


class Backend:
    """The process's tracer and what it exports to."""

    def __init__(self, exporter: SpanExporter, *, batch: bool) -> None:
        # The SDK lays OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES over these defaults.
        resource = Resource.create(
            {"service.name": "sleeptime-server", "service.version": __version__}
        )
        self.provider = TracerProvider(resource=resource)
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("sleeptime-server")

    def span(self, name: str, attributes: Mapping[str, Attribute]) -> Current:
        return Current(self.tracer, name, attributes)

    def started(self, name: str, attributes: Mapping[str, Attribute]) -> Leaf:
        return Leaf(self.tracer, name, attributes)

    def successive(self, name: str) -> Successive:
        return Successive(self.tracer, name)


def otlp() -> SpanExporter:
    """The OTLP/HTTP exporter, configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,  # the extra's, not needed to trace into a test's exporter
    )

    return OTLPSpanExporter()
