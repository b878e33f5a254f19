"""``POST /v1/conversations/{id}/compact`` and ``/recompile``: Letta's conversation forms of
an agent's ``/summarize`` and ``/recompile``, for a conversation or (agent-direct: ``default``
with ``agent_id`` in the body, or an agent id) the agent's main thread."""

from typing import Annotated

from fastapi import APIRouter, Body, Query

from app.auth.deps import ActorDep
from app.compaction import service as compaction
from app.compaction.endpoints import CompactorDep
from app.compaction.schemas import CompactionRequest, CompactionResponse
from app.conversations import service
from app.kit.deps import DatabaseDep, SessionDep, SettingsDep

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])


class ConversationCompactionRequest(CompactionRequest):
    # With conversation_id ``default``: the agent whose main thread is meant.
    agent_id: str | None = None


Request = Annotated[ConversationCompactionRequest | None, Body()]


@router.post("/{conversation_id}/compact", operation_id="compact_conversation")
async def compact_conversation(
    conversation_id: str,
    db: DatabaseDep,
    actor: ActorDep,
    compactor: CompactorDep,
    settings: SettingsDep,
    body: Request = None,
) -> CompactionResponse:
    """Summarise the older part of the conversation's window into a summary message now."""
    agent_id = body.agent_id if body is not None else None
    async with db.session(write=False) as session:
        target = await service.target(session, actor, conversation_id, agent_id)
    override = body.compaction_settings if body is not None else None
    return await compaction.summarize(
        db,
        compactor,
        actor,
        target.agent_id,
        override,
        settings.context_max_messages,
        target.conversation_id,
    )


@router.post("/{conversation_id}/recompile", operation_id="recompile_conversation")
async def recompile_conversation(
    conversation_id: str,
    session: SessionDep,
    actor: ActorDep,
    body: Request = None,
    dry_run: Annotated[bool, Query()] = False,
) -> str:
    """The system prompt compiled from the agent's blocks now. A conversation starts from its
    agent's system message, so that message is the one rebuilt (unless ``dry_run``)."""
    agent_id = body.agent_id if body is not None else None
    target = await service.target(session, actor, conversation_id, agent_id)
    return await compaction.recompile(session, actor, target.agent_id, dry_run=dry_run)
