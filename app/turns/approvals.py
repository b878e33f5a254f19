"""Resuming a paused turn: the client's tool returns and approve/deny decisions."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.agents.repository import AgentRepository
from app.blocks.memory import DirectMemory
from app.blocks.repository import BlockRepository
from app.kit.db import Database
from app.kit.errors import BadRequest, Conflict
from app.messages.models import Message
from app.messages.schemas import ApprovalCreate, ApprovalReturn, ToolReturn, ToolReturnCreate
from app.messages.thread import Thread, ThreadWindows
from app.tools.agent_state import external_context
from app.tools.repository import load_toolset
from app.tools.run import ToolContext, ToolResult, ToolRunners, failed
from app.tools.toolset import ToolDef

NOTHING_PENDING = (
    "Cannot process approval response: No tool call is currently awaiting approval. "
    "Please send a regular message to interact with the agent."
)


class PendingApproval(Conflict):
    code = "PENDING_APPROVAL"


def pending_error(thread: Thread) -> PendingApproval:
    pending = thread.pending_approval or {}
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


def _approved(approval: ApprovalCreate) -> set[str]:
    return {
        a.tool_call_id for a in approval.approvals if isinstance(a, ApprovalReturn) and a.approve
    }


async def _pending_calls(session: AsyncSession, thread: Thread) -> dict[str, dict[str, Any]]:
    request = await session.get(Message, (thread.pending_approval or {}).get("message_id"))
    return {c["id"]: c for c in (request.tool_calls if request else None) or []}


async def run_approved(
    db: Database,
    tools: ToolRunners,
    organization_id: str,
    agent_id: str,
    approval: ApprovalCreate,
    conversation_id: str | None = None,
) -> dict[str, ToolResult]:
    """Run the approved calls of external tools (sandboxed, web, MCP) before the approval's
    transaction opens, concurrently: their results by call id. Session tools run later, in
    that transaction, with ``resolve``."""
    approved = _approved(approval)
    if not approved:
        return {}
    async with db.session(write=False) as session:
        agent = await AgentRepository(session, organization_id).get(agent_id)
        thread = None if agent is None else Thread.main(agent)
        if agent is not None and conversation_id is not None:
            thread = await ThreadWindows(session, organization_id).conversation(conversation_id)
        if agent is None or thread is None or not thread.pending_approval:
            return {}
        calls = await _pending_calls(session, thread)
        toolset = await load_toolset(session, organization_id, agent.tool_names)
        todo: list[tuple[str, ToolDef, str]] = [
            (call_id, tool, str(call["arguments"]))
            for call_id, call in calls.items()
            if call_id in approved
            and (tool := toolset.get(call["name"])) is not None
            and tool.external
        ]
        if not todo:
            return {}
        pairs = await BlockRepository(session, organization_id).for_agents([agent.id])
        ctx = external_context(agent, [b for _, b in pairs], None)
    results = await tools.run_external(ctx, [(tool, args) for _, tool, args in todo])
    return {call_id: result for (call_id, _, _), result in zip(todo, results, strict=True)}


async def resolve(
    session: AsyncSession,
    agent: Agent,
    thread: Thread,
    run_id: str,
    approval: ApprovalCreate,
    tools: ToolRunners | None = None,
    ran: dict[str, ToolResult] | None = None,
) -> list[Resolution]:
    """The result of every call ``thread`` waits on: the client's return, the approved
    tool's own run (an external one's from ``ran``, a session one's run now), or a denial the
    model is told about."""
    calls = await _pending_calls(session, thread)
    toolset = await load_toolset(session, agent.organization_id, agent.tool_names)
    memory = DirectMemory(session, agent.organization_id, agent.id, run_id)
    ctx = ToolContext(session, agent.organization_id, agent.id, run_id, memory)
    runners, ran = tools or ToolRunners(), ran or {}
    out = []
    for item in approval.approvals:
        if isinstance(item, ToolReturn):
            result = ToolResult(item.status, _return_text(item))
        elif not item.approve:
            result = failed(f"Error: request to call tool denied. User reason: {item.reason}")
        elif (call := calls.get(item.tool_call_id)) is None or (
            tool := toolset.get(call["name"])
        ) is None:
            result = failed("Error: the approved tool is not a server tool of this agent.")
        elif tool.external:
            result = ran.get(item.tool_call_id) or failed(
                f"Error: the approved call of `{tool.name}` did not run: the pending approval "
                "changed while it was being approved."
            )
            if result.write is not None:
                await result.write(session)
        else:
            result = await runners.session(ctx, tool, call["arguments"])
        out.append(Resolution(item.tool_call_id, result))
    return out


def approvals_payload(approval: ApprovalCreate) -> list[dict[str, Any]]:
    return [a.model_dump() for a in approval.approvals]


def same_decisions(stored: list[dict[str, Any]] | None, approval: ApprovalCreate) -> bool:
    return stored == approvals_payload(approval)
