"""Base classes for request and response schemas, and the bounded types requests use.

Every value a client sends is checked here before it can reach a column: PostgreSQL's
INTEGER holds 32 bits and its text and JSON types refuse U+0000, and JSON columns refuse
``NaN``/``Infinity``. A value the database would refuse is a 422 naming the field, never a
500 from the driver. Typed fields declare their bounds (``Int32``, ``Seconds``) so the OpenAPI
document shows them; ``RequestModel`` also walks every field's raw value, nested dicts and
lists included, so free-form values such as ``metadata`` are held to the same rules.
"""

import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
ONE_DAY_SECONDS = 86_400.0

Int32 = Annotated[int, Field(ge=-(2**31), le=INT32_MAX)]
"""An integer an INTEGER column holds on every database."""

Seconds = Annotated[float, Field(ge=0, le=ONE_DAY_SECONDS, allow_inf_nan=False)]
"""A finite delay of at most a day: anything longer is a mistake, not a setting."""


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return "must not contain U+0000" if "\x00" in value else None
    if isinstance(value, int) and not isinstance(value, bool):
        in_range = -INT64_MAX - 1 <= value <= INT64_MAX
        return None if in_range else "is outside the 64-bit integer range"
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    return None


def unstorable(value: Any, path: str = "") -> str | None:
    """Why ``value`` (a decoded JSON value) cannot be stored, naming where inside it, or
    ``None`` when every string, key and number in it can be."""
    items: list[tuple[str, Any]] = []
    if isinstance(value, BaseModel):  # a nested model's extra keys are only seen here
        value = value.model_dump(by_alias=True)
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                return f"key {where!r} must not contain U+0000"
            items.append((where, item))
    elif isinstance(value, list | tuple):
        items = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    elif (problem := _scalar_problem(value)) is not None:
        return f"{path or 'value'} {problem}"
    for where, item in items:
        if (reason := unstorable(item, where)) is not None:
            return reason
    return None


class RequestModel(BaseModel):
    """A request body. Unknown keys are ignored, as Letta does."""

    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        if (reason := unstorable(value)) is not None:
            raise ValueError(reason)
        return value


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


def _iso(value: datetime) -> str:
    return value.isoformat()


Timestamp = Annotated[datetime, PlainSerializer(_iso, return_type=str)]


class DeleteResult(ResponseModel):
    message: str


async def refuse_unstorable_parameters(request: Request) -> None:
    """An app-wide dependency: a U+0000 in any path or query parameter is a 422 naming it
    (PostgreSQL refuses it in any text it compares or stores). ``async`` so that it runs on
    the event loop, not through the thread pool, on every request."""
    errors: list[dict[str, Any]] = []
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            errors.append(_nul_error("path", name, value))
    for name, value in request.query_params.multi_items():
        if "\x00" in value or "\x00" in name:
            errors.append(_nul_error("query", name, value))
    if errors:
        raise RequestValidationError(errors)


def _nul_error(where: str, name: str, value: str) -> dict[str, Any]:
    return {
        "type": "value_error",
        "loc": (where, name),
        "msg": f"Value error, {name} must not contain U+0000",
        "input": value,
    }
