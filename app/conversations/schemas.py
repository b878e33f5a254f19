"""Conversation shapes on the wire (Letta's ``Conversation``, ``CreateConversation``,
``UpdateConversation`` and the conversation message requests)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from app.kit.schemas import INT32_MAX, INT64_MAX, RequestModel, ResponseModel, Timestamp
from app.messages.schemas import LettaRequest

# Letta's fields this server does not keep per conversation: a request setting one is refused
# (422 naming it) rather than answered as if it had been applied.
UNKEPT = ("description",)


def _refuse_unkept(model: RequestModel, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(model, name, None) not in (None, [], False):
            raise ValueError(
                f"{name}: not supported per conversation by this server (it uses the agent's)"
            )


class CreateConversation(RequestModel):
    summary: str | None = Field(default=None, max_length=10_000)
    # Letta's blocks private to one conversation; every conversation here shares the agent's.
    isolated_block_labels: list[str] | None = None
    hidden: bool = False
    # The conversation's own model (a handle), its settings and context window.
    model: str | None = Field(default=None, min_length=1, max_length=255)
    model_settings: dict[str, Any] | None = None
    context_window_limit: int | None = Field(default=None, gt=0, le=INT32_MAX)
    description: str | None = None

    @model_validator(mode="after")
    def _kept(self) -> "CreateConversation":
        _refuse_unkept(self, (*UNKEPT, "isolated_block_labels"))
        return self


class UpdateConversation(RequestModel):
    summary: str | None = Field(default=None, max_length=10_000)
    model: str | None = Field(default=None, min_length=1, max_length=255)
    model_settings: dict[str, Any] | None = None
    context_window_limit: int | None = Field(default=None, gt=0, le=INT32_MAX)
    description: str | None = None
    archived: bool | None = None
    last_message_at: datetime | None = None

    @model_validator(mode="after")
    def _kept(self) -> "UpdateConversation":
        _refuse_unkept(self, (*UNKEPT, "archived", "last_message_at"))
        return self


class ConversationResponse(ResponseModel):
    id: str
    agent_id: str
    summary: str | None
    created_at: Timestamp
    updated_at: Timestamp | None
    created_by_id: str | None = None
    last_updated_by_id: str | None = None
    # Filled in where one conversation is answered (create, retrieve, modify, fork); None in
    # lists, as Letta leaves it unhydrated there.
    in_context_message_ids: list[str] | None = None
    isolated_block_ids: list[str] = Field(default_factory=list)
    model: str | None = None
    model_settings: dict[str, Any] | None = None
    context_window_limit: int | None = None
    archived: bool = False
    archived_at: Timestamp | None = None
    hidden: bool = False
    description: str | None = None
    last_message_at: Timestamp | None = None


class ConversationMessageRequest(LettaRequest):
    """Letta's body for ``POST /v1/conversations/{id}/messages``: a turn, streamed unless
    ``streaming`` is false, refused at once (409) while the thread is busy, as Letta's
    conversation lock does."""

    agent_id: str | None = None
    streaming: bool = True
    multitask_strategy: Literal["enqueue", "reject"] = "reject"
    override_system: str | None = None

    @model_validator(mode="after")
    def _no_system_override(self) -> "ConversationMessageRequest":
        if self.override_system is not None:
            raise ValueError("override_system: not supported by this server")
        return self


class ConversationStreamRequest(RequestModel):
    """Letta's ``RetrieveStreamRequest`` as the conversation stream route takes it."""

    agent_id: str | None = None
    run_id: str | None = None
    otid: str | None = None
    starting_after: int = Field(default=0, ge=0, le=INT64_MAX)
    include_pings: bool = True
    poll_interval: float | None = None  # accepted; events are pushed, not polled, here
    batch_size: int | None = None  # accepted; events are sent as they come
