"""The service's error tree and the one handler that turns it into HTTP responses.

    AppError                      status and stable code carried by the class
    ├── BadRequest (400)
    ├── Unauthorized (401)
    ├── NotFound (404)
    ├── Conflict (409)
    ├── Gone (410)
    ├── Unprocessable (422)
    │   └── BlockLimitExceeded (422, BLOCK_LIMIT_EXCEEDED)
    ├── NotAvailable (501)
    ├── BadGateway (502)
    └── TurnFailed (400, 401, 429, 502 or 504: a turn the model provider failed)

Bodies are Letta-shaped: ``{"detail": "<message>"}``; an error with a code answers
``{"detail": {"code": ..., "message": ..., **extra}}`` as Letta does for ``PENDING_APPROVAL``.
A database that cannot be reached (or is briefly unable to serve: ``dialect.is_transient``)
answers 503 with ``Retry-After``. Any other exception is a bug: the observability
middleware logs it with its traceback and answers 500 on a connection that stays usable.
Every answer, the 500 included, carries the request's ``X-Request-ID``.
"""

import json
from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.kit import dialect

log = structlog.get_logger("app.errors")

# The SDKs retry 408, 409, 429 and 5xx (POSTs included) unless told not to.
NO_RETRY = {"x-should-retry": "false"}
# When a client may try again after the database failed it: outages worth answering 503
# for (a restart, a failover, dropped connections) are mostly over within seconds.
RETRY_AFTER_SECONDS = 2


class AppError(Exception):
    status_code: int = 500
    code: ClassVar[str | None] = None

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        if self.code is None:
            return {"detail": self.message}
        return {"detail": {"code": self.code, "message": self.message, **self.extra}}

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(AppError):
    status_code = 400


class Unauthorized(AppError):
    status_code = 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409

    def headers(self) -> dict[str, str]:
        # A conflict is the state of the resource; asking again at once changes nothing.
        return dict(NO_RETRY)


class Gone(AppError):
    status_code = 410


class Unprocessable(AppError):
    status_code = 422


class BlockLimitExceeded(Unprocessable):
    code = "BLOCK_LIMIT_EXCEEDED"


class NotAvailable(AppError):
    status_code = 501


class BadGateway(AppError):
    status_code = 502


class TurnFailed(AppError):
    """A turn that ended because its model provider failed, answered the way Letta answers
    its LLM errors (``error: {type, message, detail}``) next to our ``detail`` and the
    ``run_id`` whose stored messages and error tell the rest.

    Not retried by the SDKs: the server has already retried what a retry could fix, and a
    retried POST would be a new turn repeating the input after the failed one.
    """

    def __init__(
        self, status_code: int, summary: str, *, run_id: str, error_type: str, cause: str
    ) -> None:
        super().__init__(f"{summary}: {cause} (run {run_id})")
        self.status_code = status_code
        self.summary = summary
        self.run_id = run_id
        self.error_type = error_type
        self.cause = cause

    def body(self) -> dict[str, Any]:
        return {
            "detail": self.message,
            "run_id": self.run_id,
            "error": {"type": self.error_type, "message": self.summary, "detail": self.cause},
        }

    def headers(self) -> dict[str, str]:
        return dict(NO_RETRY)


async def _app_error_handler(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, AppError):  # registered for AppError only
        raise exc
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers() or None)


def _json_safe(value: Any) -> Any:
    """``value`` if it can be written as strict JSON, else its ``repr`` (a ``NaN`` sent by a
    client must not turn its own 422 into a 500)."""
    try:
        json.dumps(jsonable_encoder(value), allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)
    return jsonable_encoder(value)


async def _validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's standard 422 (``{"detail": [{"type", "loc", "msg", "input"}]}``, what the
    OpenAPI document declares as ``HTTPValidationError``), with each ``input`` made safe to
    encode and without ``ctx``, which can hold exceptions."""
    if not isinstance(exc, RequestValidationError):  # registered for it only
        raise exc
    detail = [
        {
            "type": str(error.get("type", "value_error")),
            "loc": [str(p) if not isinstance(p, int) else p for p in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "input": _json_safe(error.get("input")),
        }
        for error in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _integrity_error_handler(request: Request, exc: Exception) -> JSONResponse:
    # Services check what they can before writing; a constraint that still fires means a
    # concurrent request won the race. That is a conflict, not a server fault.
    log.warning("db.integrity_error", error=str(getattr(exc, "orig", exc)))
    return JSONResponse(
        {"detail": "The request conflicts with the current state of the resource."},
        status_code=409,
    )


async def _database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    if not dialect.is_transient(exc):
        raise exc  # a bug: the observability middleware answers it with 500
    log.warning("db.unavailable", error=dialect.describe_failure(exc))
    return JSONResponse(
        {"detail": "The database is unavailable; try again shortly."},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(IntegrityError, _integrity_error_handler)
    for failure in (DBAPIError, PoolTimeoutError, OSError):
        app.add_exception_handler(failure, _database_error_handler)
