"""Durable acceptance: the run row and the turn's input messages, committed together before
any model call, under the agent's row lock. A second active turn of the agent (from another
process) fails the partial unique index and is reported as ``AgentBusy``."""

from dataclasses import replace

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.agents.repository import AgentRepository
from app.auth.deps import Actor
from app.engine.loop import TurnSpec
from app.kit.db import utcnow
from app.kit.errors import BadRequest, NotFound
from app.kit.ids import Prefix, new_id
from app.kit.repository import detached
from app.messages.convert import to_letta_many
from app.messages.factory import Owner, new_message, sent_message, tool_result
from app.messages.models import Message
from app.messages.repository import MessageRepository
from app.messages.schemas import ApprovalCreate, LettaRequest, LettaResponse, MessageCreate
from app.messages.thread import Thread, ThreadWindows
from app.runs import lifecycle
from app.runs.admission import busy
from app.runs.models import Run
from app.runs.repository import RunRepository
from app.runs.states import ACTIVE
from app.tools.result import ToolResult
from app.tools.run import ToolRunners
from app.turns import approvals
from app.turns.admission import conversation_thread, require_startable
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
        org, conversation_id = actor.organization_id, intake.conversation_id
        if approval is not None:  # approved external tools run before the transaction
            tools = self.deps.engine.tools
            ran = await approvals.run_approved(
                self.deps.db, tools, org, agent_id, approval, conversation_id
            )
        try:
            async with self.deps.db.session() as session:
                agents = AgentRepository(session, org)
                if approval is None:
                    # The agent locked and the inputs' numbers reserved in one statement.
                    taken = await agents.take_seq(agent_id, len(inputs))
                    found, first = taken if taken else (None, None)
                    thread = await _thread(session, org, found, agent_id, conversation_id)
                    agent = require_startable(found, agent_id, approving=False, thread=thread)
                    return await self._store(
                        session, actor, agent, thread, body, intake, None, inputs, {}, first
                    )
                found = await agents.get(agent_id, for_update=True)
                thread = await _thread(session, org, found, agent_id, conversation_id)
                agent = require_startable(found, agent_id, approving=True, thread=thread)
                thread = thread or Thread.main(agent)
                if not thread.pending_approval:
                    return await _retried_approval(session, actor, agent, thread, approval, body)
                return await self._store(
                    session, actor, agent, thread, body, intake, approval, inputs, ran
                )
        except IntegrityError as exc:
            raise busy(agent_id, conversation_id) from exc

    async def _store(
        self,
        session: AsyncSession,
        actor: Actor,
        agent: Agent,
        thread: Thread | None,
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
        thread = thread or Thread.main(agent)
        stored, resumed = await _inputs(session, agent, thread, run, approval, inputs, tools, ran)
        repo = MessageRepository(session, actor.organization_id)
        if first is not None:
            await repo.insert_from(first, stored)
        elif not await repo.append(agent.id, stored):
            raise NotFound(f"Agent {agent.id} not found")
        elif thread.conversation_id is None:
            await session.flush()  # the agent's cleared approval
        else:
            windows = ThreadWindows(session, actor.organization_id)
            await windows.save(thread.conversation_id, {"pending_approval": None})
            thread = replace(thread, pending_approval=None)
        spec = turn_spec(actor, run, body)
        if lifecycle.policy(intake.kind).queued:
            return Accepted(run, spec, None, [])
        # A streamed turn answers its first byte right after acceptance; its first
        # context is read by the turn itself.
        first_step = None
        if not body.streaming:
            main = thread.conversation_id is None
            # The main thread's window is the agent's, which the approval may have changed.
            first_step = await self.deps.engine.prepare(
                session, spec, agent, None if main else thread
            )
        return Accepted(run, spec, first_step, to_letta_many(resumed, agent.agent_type))


async def _thread(
    session: AsyncSession,
    organization_id: str,
    agent: Agent | None,
    agent_id: str,
    conversation_id: str | None,
) -> Thread | None:
    """The conversation a turn runs in (one read), or None for the agent's main thread (read
    with the agent) or when the agent is gone."""
    if agent is None or conversation_id is None:
        return None
    return await conversation_thread(session, organization_id, agent_id, conversation_id)


async def _retried_approval(
    session: AsyncSession,
    actor: Actor,
    agent: Agent,
    thread: Thread,
    approval: ApprovalCreate,
    body: LettaRequest,
) -> LettaResponse:
    """An approval that was already applied (a client retry) gets the first answer again."""
    last = await MessageRepository(session, actor.organization_id).latest(
        agent.id, role="approval", conversation_id=thread.conversation_id
    )
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
    thread: Thread,
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
        approvals.check_ids(
            list((thread.pending_approval or {}).get("tool_call_ids", [])), approval
        )
        owner = Owner.of(run)
        payload = approvals.approvals_payload(approval)
        stored.append(new_message(owner, "approval", approvals=payload, otid=approval.otid))
        for res in await approvals.resolve(session, agent, thread, run.id, approval, tools, ran):
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
        if thread.conversation_id is None:
            agent.pending_approval = None  # written with the turn's acceptance
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
        conversation_id=run.conversation_id,
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


def _run_type(queued: bool, conversation_id: str | None) -> str:
    if queued:
        return "send_message_async"
    return "send_message" if conversation_id is None else "send_conversation_message"


def _new_run(
    actor: Actor, agent: Agent, body: LettaRequest, intake: Intake, owner: str, lease_seconds: float
) -> Run:
    now = utcnow()
    queued = lifecycle.policy(intake.kind).queued
    return detached(
        Run,
        {
            "id": intake.run_id or new_id(Prefix.run),
            "organization_id": actor.organization_id,
            "agent_id": agent.id,
            "group_id": intake.group_id,
            "conversation_id": intake.conversation_id,
            **lifecycle.opening(intake.kind, owner=owner, lease_seconds=lease_seconds, now=now),
            "metadata_": {"run_type": _run_type(queued, intake.conversation_id)},
            "request_config": {
                "include_return_message_types": body.include_return_message_types,
                "use_assistant_message": body.use_assistant_message,
            },
            "request": body.model_dump(mode="json") if queued else None,
            "idempotency_key": intake.key,
            "request_hash": intake.digest,
            "callback_url": intake.callback_url,
            "created_at": now,
            "updated_at": now,
        },
    )
