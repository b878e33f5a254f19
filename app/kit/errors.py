"""The service's error tree and the one handler that turns it into HTTP responses.

    AppError                      status and stable code carried by the class
    ├── BadRequest (400)
    ├── Unauthorized (401)
    ├── NotFound (404)
    ├── Conflict (409)
    ├── Gone (410)
    ├── Unprocessable (422)
    │   └── BlockLimitExceeded (422, BLOCK_LIMIT_EXCEEDED)
    └── NotAvailable (501)

Bodies are Letta-shaped: ``{"detail": "<message>"}``; an error with a code answers
``{"detail": {"code": ..., "message": ..., **extra}}`` as Letta does for ``PENDING_APPROVAL``.
Any other exception is a bug: it is logged with its traceback and answers 500.
"""

from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

log = structlog.get_logger("app.errors")


class AppError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str | None] = None

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        if self.code is None:
            return {"detail": self.message}
        return {"detail": {"code": self.code, "message": self.message, **self.extra}}


class BadRequest(AppError):
    status_code = 400


class Unauthorized(AppError):
    status_code = 401


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class Gone(AppError):
    status_code = 410


class Unprocessable(AppError):
    status_code = 422


class BlockLimitExceeded(Unprocessable):
    code = "BLOCK_LIMIT_EXCEEDED"


class NotAvailable(AppError):
    status_code = 501


async def _app_error_handler(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, AppError):  # registered for AppError only
        raise exc
    headers = None
    if exc.status_code == 409:
        headers = {"x-should-retry": "false"}
    elif exc.status_code == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=headers)


async def _integrity_error_handler(request: Request, exc: Exception) -> JSONResponse:
    # Services check what they can before writing; a constraint that still fires means a
    # concurrent request won the race. That is a conflict, not a server fault.
    log.warning("db.integrity_error", error=str(getattr(exc, "orig", exc)))
    return JSONResponse(
        {"detail": "The request conflicts with the current state of the resource."},
        status_code=409,
    )


async def _unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log.error("request.unhandled_error", exc_info=exc)
    return JSONResponse({"detail": "An unknown error occurred"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(IntegrityError, _integrity_error_handler)
    app.add_exception_handler(Exception, _unhandled_error_handler)
