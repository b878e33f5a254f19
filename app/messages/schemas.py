"""Request and response shapes of the message endpoints (Letta's LettaRequest family)."""

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from app.kit.schemas import RequestModel

MessageType = Literal[
    "system_message",
    "user_message",
    "assistant_message",
    "reasoning_message",
    "hidden_reasoning_message",
    "tool_call_message",
    "tool_return_message",
    "approval_request_message",
    "approval_response_message",
    "summary_message",
    "event_message",
]


class TextPart(RequestModel):
    type: Literal["text"] = "text"
    text: str


class ImagePart(RequestModel):
    type: Literal["image"]
    source: dict[str, Any]


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class MessageCreate(RequestModel):
    type: Literal["message"] = "message"
    role: Literal["user", "system", "assistant"] = "user"
    content: str | list[ContentPart]
    name: str | None = None
    sender_id: str | None = None
    otid: str | None = None


class ApprovalReturn(RequestModel):
    type: Literal["approval"] = "approval"
    tool_call_id: str = Field(min_length=1)
    approve: bool
    reason: str | None = None


class ToolReturn(RequestModel):
    type: Literal["tool"] = "tool"
    tool_call_id: str = Field(min_length=1)
    status: Literal["success", "error"] = "success"
    tool_return: str | list[ContentPart]
    stdout: list[str] | None = None
    stderr: list[str] | None = None


Approval = Annotated[ApprovalReturn | ToolReturn, Field(discriminator="type")]


class ApprovalCreate(RequestModel):
    type: Literal["approval"] = "approval"
    approvals: list[Approval] = Field(default_factory=list)
    otid: str | None = None
    # Deprecated single-approval form, still sent by older clients.
    approve: bool | None = None
    approval_request_id: str | None = None
    reason: str | None = None

    @model_validator(mode="after")
    def _legacy_form(self) -> "ApprovalCreate":
        if not self.approvals and self.approve is not None and self.approval_request_id:
            self.approvals = [
                ApprovalReturn(
                    tool_call_id=self.approval_request_id, approve=self.approve, reason=self.reason
                )
            ]
        return self


class ToolReturnCreate(RequestModel):
    type: Literal["tool_return"]
    tool_returns: list[ToolReturn] = Field(min_length=1)
    otid: str | None = None


def _input_kind(value: Any) -> str:
    if isinstance(value, dict):
        declared = value.get("type")
        if declared is not None:
            return str(declared)
        return "approval" if "approve" in value or "approval_request_id" in value else "message"
    return str(getattr(value, "type", "message"))


InputMessage = Annotated[
    Annotated[MessageCreate, Tag("message")]
    | Annotated[ApprovalCreate, Tag("approval")]
    | Annotated[ToolReturnCreate, Tag("tool_return")],
    Discriminator(_input_kind),
]


class ClientTool(RequestModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None


class LettaRequest(RequestModel):
    messages: list[InputMessage] | None = None
    input: str | list[ContentPart] | None = None
    max_steps: int = Field(default=50, ge=1, le=1000)
    client_tools: list[ClientTool] | None = None
    include_return_message_types: list[MessageType] | None = None
    use_assistant_message: bool = True
    streaming: bool = False
    stream_tokens: bool = False
    include_pings: bool = True
    background: bool = False
    multitask_strategy: Literal["enqueue", "reject"] = "enqueue"
    # A model handle to run this turn on instead of the agent's; the agent is not changed.
    override_model: str | None = Field(default=None, min_length=1)
    # Show Letta's event_message and summary_message when the window is compacted.
    include_compaction_messages: bool = False

    @model_validator(mode="after")
    def _one_input(self) -> "LettaRequest":
        if (self.messages is None) == (self.input is None):
            raise ValueError("send exactly one of `messages` and `input`")
        if self.messages is not None and not self.messages:
            raise ValueError("`messages` must not be empty")
        return self

    def inputs(self) -> list[MessageCreate | ApprovalCreate | ToolReturnCreate]:
        if self.messages is not None:
            return list(self.messages)
        return [MessageCreate(role="user", content=self.input if self.input is not None else "")]


class LettaAsyncRequest(LettaRequest):
    """``messages/async``: the turn, and where to POST its outcome when the run ends."""

    callback_url: str | None = Field(default=None, max_length=2048)

    @field_validator("callback_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("must be an absolute http(s) URL")
        return value


class CancelRequest(RequestModel):
    run_ids: list[str] | None = None


class LettaResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    messages: list[dict[str, Any]]
    stop_reason: dict[str, Any]
    usage: dict[str, Any]
