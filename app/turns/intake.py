"""How a request becomes an accepted turn: its idempotency key looked up (in one place), the
acceptance retried while another turn of the agent ends, and a finished keyed run replayed
instead of run again."""

import hashlib
import json
import time

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.deps import Actor
from app.kit.errors import Conflict
from app.messages.schemas import LettaRequest, LettaResponse
from app.runs.admission import AgentBusy
from app.runs.models import Run
from app.runs.repository import RunRepository
from app.runs.states import ACTIVE
from app.turns.acceptance import Acceptance
from app.turns.admission import Admission
from app.turns.response import response_of
from app.turns.types import Accepted, Intake, TurnDeps


def request_hash(agent_id: str, body: LettaRequest) -> str:
    canonical = json.dumps([agent_id, body.model_dump(mode="json")], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def keyed_run(session: AsyncSession, actor: Actor, key: str, digest: str) -> Run | None:
    """The run an Idempotency-Key already names, if any; a key reused for another request
    is a conflict."""
    run = await RunRepository(session, actor.organization_id).by_idempotency_key(key)
    if run is not None and run.request_hash != digest:
        raise Conflict("Idempotency-Key was already used with a different request")
    return run


class TurnIntake:
    def __init__(self, deps: TurnDeps, admission: Admission) -> None:
        self.deps = deps
        self.admission = admission
        self.acceptance = Acceptance(deps)

    async def existing(self, actor: Actor, key: str, digest: str) -> Run | None:
        """The run the key already names (to re-attach to, or return as accepted)."""
        async with self.deps.db.session(write=False) as session:
            return await keyed_run(session, actor, key, digest)

    async def replay(
        self, actor: Actor, body: LettaRequest, intake: Intake
    ) -> LettaResponse | None:
        """The response a finished run of the same key gave; None when there is none yet
        (no run, or it is still active: the caller waits on the agent's turn, then asks
        again)."""
        if not (intake.key and intake.digest):
            return None
        async with self.deps.db.session(write=False) as session:
            run = await keyed_run(session, actor, intake.key, intake.digest)
            if run is None or run.status in ACTIVE:
                return None
            return await response_of(session, actor, run, body.include_return_message_types)

    async def admit(
        self, actor: Actor, agent_id: str, body: LettaRequest, intake: Intake, *, wait: bool
    ) -> Accepted | LettaResponse:
        """Accept the turn; while another turn of the agent is active (in any process), wait
        for it to end, up to the configured bound."""
        deadline = time.monotonic() + self.deps.settings.turn_wait_seconds
        while True:
            try:
                return await self.acceptance.accept(actor, agent_id, body, intake)
            except AgentBusy:
                remaining = deadline - time.monotonic()
                if not wait or remaining <= 0:
                    raise
                await self.admission.until_turn_ends(
                    actor, agent_id, remaining, intake.conversation_id
                )
            replay = await self.replay(actor, body, intake)
            if replay is not None:
                return replay
