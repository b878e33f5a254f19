"""Resuming a paused turn: the client's tool returns and approve/deny decisions."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.blocks.memory import DirectMemory
from app.kit.errors import BadRequest, Conflict
from app.messages.models import Message
from app.messages.schemas import ApprovalCreate, ToolReturn, ToolReturnCreate
from app.tools.run import ToolContext, ToolResult, execute, failed

NOTHING_PENDING = (
    "Cannot process approval response: No tool call is currently awaiting approval. "
    "Please send a regular message to interact with the agent."
)


class PendingApproval(Conflict):
    code = "PENDING_APPROVAL"


def pending_error(agent: Agent) -> PendingApproval:
    pending = agent.pending_approval or {}
    return PendingApproval(
        "CONFLICT: Cannot send a new message: The agent is waiting for approval on a tool "
        "call. Please approve or deny the pending request before continuing.",
        pending_request_id=pending.get("message_id"),
    )


def as_approval(item: ApprovalCreate | ToolReturnCreate) -> ApprovalCreate:
    if isinstance(item, ToolReturnCreate):
        return ApprovalCreate(approvals=list(item.tool_returns), otid=item.otid)
    return item


def check_ids(expected: list[str], approval: ApprovalCreate) -> None:
    received = [a.tool_call_id for a in approval.approvals]
    if not received:
        raise BadRequest("Cannot process approval response: `approvals` is empty.")
    if sorted(received) != sorted(expected):
        raise BadRequest(
            f"Invalid tool call IDs. Expected '{sorted(expected)}', but received '{received}'."
        )


def _return_text(item: ToolReturn) -> str:
    if isinstance(item.tool_return, str):
        return item.tool_return
    return "\n".join(getattr(p, "text", "[image]") for p in item.tool_return)


@dataclass(frozen=True, slots=True)
class Resolution:
    tool_call_id: str
    result: ToolResult


async def resolve(
    session: AsyncSession, agent: Agent, run_id: str, approval: ApprovalCreate
) -> list[Resolution]:
    """The result of every pending call: the client's return, the approved server tool's
    own run, or a denial the model is told about."""
    request = await session.get(Message, (agent.pending_approval or {}).get("message_id"))
    calls = {c["id"]: c for c in (request.tool_calls if request else None) or []}
    memory = DirectMemory(session, agent.organization_id, agent.id, run_id)
    ctx = ToolContext(session, agent.organization_id, agent.id, run_id, memory)
    out = []
    for item in approval.approvals:
        if isinstance(item, ToolReturn):
            result = ToolResult(item.status, _return_text(item))
        elif not item.approve:
            result = failed(f"Error: request to call tool denied. User reason: {item.reason}")
        elif (call := calls.get(item.tool_call_id)) is None or call["name"] not in agent.tool_names:
            result = failed("Error: the approved tool is not a server tool of this agent.")
        else:
            result = await execute(ctx, call["name"], call["arguments"])
        out.append(Resolution(item.tool_call_id, result))
    return out


def approvals_payload(approval: ApprovalCreate) -> list[dict[str, Any]]:
    return [a.model_dump() for a in approval.approvals]


def same_decisions(stored: list[dict[str, Any]] | None, approval: ApprovalCreate) -> bool:
    return stored == approvals_payload(approval)
