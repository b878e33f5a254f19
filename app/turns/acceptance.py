"""Durable acceptance: the run row and the turn's input messages, committed together before
any model call, under the agent's row lock. A second active turn of the agent (from another
process) fails the partial unique index and is reported as ``AgentBusy``."""

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.agents.repository import AgentRepository
from app.auth.deps import Actor
from app.engine.loop import TurnSpec
from app.kit.db import utcnow
from app.kit.errors import BadRequest, NotFound
from app.kit.ids import Prefix, new_id
from app.messages.convert import to_letta_many
from app.messages.factory import Owner, new_message, sent_message, tool_result
from app.messages.models import Message
from app.messages.repository import MessageRepository
from app.messages.schemas import ApprovalCreate, LettaRequest, LettaResponse, MessageCreate
from app.runs import lifecycle
from app.runs.admission import AgentBusy
from app.runs.models import Run
from app.runs.repository import RunRepository
from app.runs.states import ACTIVE
from app.tools.result import ToolResult
from app.tools.run import ToolRunners
from app.turns import approvals
from app.turns.admission import require_startable
from app.turns.response import response_of
from app.turns.types import Accepted, Intake, TurnDeps


def split_inputs(body: LettaRequest) -> tuple[ApprovalCreate | None, list[MessageCreate]]:
    """The request's approval (which must come first), if any, and its messages."""
    inputs = body.inputs()
    approval = None
    if not isinstance(inputs[0], MessageCreate):
        approval = approvals.as_approval(inputs[0])
        inputs = inputs[1:]
    rest = [m for m in inputs if isinstance(m, MessageCreate)]
    if len(rest) != len(inputs):
        raise BadRequest("messages: an approval or tool_return item must come first")
    return approval, rest


class Acceptance:
    def __init__(self, deps: TurnDeps) -> None:
        self.deps = deps

    async def accept(
        self, actor: Actor, agent_id: str, body: LettaRequest, intake: Intake
    ) -> Accepted | LettaResponse:
        """Accept the turn, or answer a retried approval with its first response."""
        approval, inputs = split_inputs(body)
        self.deps.engine.check_model(body.override_model)
        ran: dict[str, ToolResult] = {}
        if approval is not None:  # approved external tools run before the transaction
            tools = self.deps.engine.tools
            org = actor.organization_id
            ran = await approvals.run_approved(self.deps.db, tools, org, agent_id, approval)
        try:
            async with self.deps.db.session() as session:
                agents = AgentRepository(session, actor.organization_id)
                if approval is None:
                    # The agent locked and the inputs' numbers reserved in one statement.
                    taken = await agents.take_seq(agent_id, len(inputs))
                    found, first = taken if taken else (None, None)
                    agent = require_startable(found, agent_id, approving=False)
                    return await self._store(
                        session, actor, agent, body, intake, None, inputs, {}, first
                    )
                agent = require_startable(
                    await agents.get(agent_id, for_update=True), agent_id, approving=True
                )
                if not agent.pending_approval:
                    return await _retried_approval(session, actor, agent, approval, body)
                return await self._store(session, actor, agent, body, intake, approval, inputs, ran)
        except IntegrityError as exc:
            raise AgentBusy(
                f"Agent {agent_id} is busy with another turn", agent_id=agent_id
            ) from exc

    async def _store(
        self,
        session: AsyncSession,
        actor: Actor,
        agent: Agent,
        body: LettaRequest,
        intake: Intake,
        approval: ApprovalCreate | None,
        inputs: list[MessageCreate],
        ran: dict[str, ToolResult],
        first: int | None = None,
    ) -> Accepted:
        """Write the run and its inputs (numbered from ``first`` when their numbers are
        reserved already); for a JSON turn, read its first step's context in the same
        transaction."""
        settings = self.deps.settings
        run = _new_run(actor, agent, body, intake, self.deps.control.owner, settings.lease_seconds)
        await lifecycle.accept(session, run)
        tools = self.deps.engine.tools
        stored, resumed = await _inputs(session, agent, run, approval, inputs, tools, ran)
        repo = MessageRepository(session, actor.organization_id)
        if first is not None:
            await repo.insert_from(first, stored)
        elif not await repo.append(agent.id, stored):
            raise NotFound(f"Agent {agent.id} not found")
        else:
            await session.flush()  # the agent's cleared approval
        spec = turn_spec(actor, run, body)
        if lifecycle.policy(intake.kind).queued:
            return Accepted(run, spec, None, [])
        # A streamed turn answers its first byte right after acceptance; its first
        # context is read by the turn itself.
        first_step = None
        if not body.streaming:
            first_step = await self.deps.engine.prepare(session, spec, agent)
        return Accepted(run, spec, first_step, to_letta_many(resumed, agent.agent_type))


async def _retried_approval(
    session: AsyncSession,
    actor: Actor,
    agent: Agent,
    approval: ApprovalCreate,
    body: LettaRequest,
) -> LettaResponse:
    """An approval that was already applied (a client retry) gets the first answer again."""
    last = await MessageRepository(session, actor.organization_id).latest(agent.id, role="approval")
    if (
        last is None
        or not approvals.same_decisions(last.approvals, approval)
        or last.run_id is None
    ):
        raise BadRequest(approvals.NOTHING_PENDING)
    run = await RunRepository(session, actor.organization_id).get(last.run_id)
    if run is None or run.status in ACTIVE:
        raise BadRequest(approvals.NOTHING_PENDING)
    return await response_of(session, actor, run, body.include_return_message_types)


async def _inputs(
    session: AsyncSession,
    agent: Agent,
    run: Run,
    approval: ApprovalCreate | None,
    inputs: list[MessageCreate],
    tools: ToolRunners,
    ran: dict[str, ToolResult],
) -> tuple[list[Message], list[Message]]:
    """The messages to store (the approval and the tool returns it resolves, then the
    request's messages), and those tool returns on their own."""
    stored: list[Message] = []
    resumed: list[Message] = []
    if approval is not None:
        approvals.check_ids(list((agent.pending_approval or {}).get("tool_call_ids", [])), approval)
        owner = Owner.of(run)
        payload = approvals.approvals_payload(approval)
        stored.append(new_message(owner, "approval", approvals=payload, otid=approval.otid))
        for res in await approvals.resolve(session, agent, run.id, approval, tools, ran):
            result = res.result
            resumed.append(
                tool_result(
                    owner,
                    res.tool_call_id,
                    result.status,
                    result.text,
                    stdout=result.stdout,
                    stderr=result.stderr,
                )
            )
        stored += resumed
        agent.pending_approval = None
    stored += [sent_message(Owner.of(run), item) for item in inputs]
    return stored, resumed


def turn_spec(actor: Actor, run: Run, body: LettaRequest) -> TurnSpec:
    return TurnSpec(
        organization_id=actor.organization_id,
        agent_id=run.agent_id,
        run_id=run.id,
        max_steps=body.max_steps,
        group_id=run.group_id,
        stream_tokens=body.streaming and body.stream_tokens,
        model=body.override_model,
        record_last_run=True,
        include_compaction_messages=body.include_compaction_messages,
        resumes=split_inputs(body)[0] is not None,
        client_tools={
            t.name: {
                "name": t.name,
                "description": t.description or "",
                "parameters": t.parameters or {"type": "object", "properties": {}},
            }
            for t in body.client_tools or []
        },
    )


def _new_run(
    actor: Actor, agent: Agent, body: LettaRequest, intake: Intake, owner: str, lease_seconds: float
) -> Run:
    now = utcnow()
    queued = lifecycle.policy(intake.kind).queued
    return Run(
        id=intake.run_id or new_id(Prefix.run),
        organization_id=actor.organization_id,
        agent_id=agent.id,
        group_id=intake.group_id,
        **lifecycle.opening(intake.kind, owner=owner, lease_seconds=lease_seconds, now=now),
        metadata_={"run_type": "send_message_async" if queued else "send_message"},
        request_config={
            "include_return_message_types": body.include_return_message_types,
            "use_assistant_message": body.use_assistant_message,
        },
        request=body.model_dump(mode="json") if queued else None,
        idempotency_key=intake.key,
        request_hash=intake.digest,
        callback_url=intake.callback_url,
        created_at=now,
        updated_at=now,
    )
