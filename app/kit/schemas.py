"""Base classes for request and response schemas."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer


class RequestModel(BaseModel):
    """A request body. Unknown keys are ignored, as Letta does."""

    model_config = ConfigDict(extra="ignore")


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


def _iso(value: datetime) -> str:
    return value.isoformat()


Timestamp = Annotated[datetime, PlainSerializer(_iso, return_type=str)]


class DeleteResult(ResponseModel):
    message: str
