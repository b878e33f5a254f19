"""Letta's context routes of an agent: ``POST /summarize`` (compact now), ``GET /context``
(the window, part by part), ``POST /recompile`` (rebuild the system message)."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request

from app.auth.deps import ActorDep
from app.compaction import service
from app.compaction.overview import overview
from app.compaction.schemas import CompactionRequest, CompactionResponse, ContextWindowOverview
from app.engine.compactor import Compactor
from app.kit.deps import DatabaseDep, SessionDep, SettingsDep
from app.kit.ids import AgentIdPath
from app.providers.anthropic import AnthropicProvider
from app.providers.factory import make_token_counter
from app.providers.registry import ModelInfo

router = APIRouter(prefix="/v1/agents", tags=["agents"])


async def get_compactor(request: Request) -> Compactor:
    compactor: Compactor = request.app.state.turns.deps.engine.compactor
    return compactor


CompactorDep = Annotated[Compactor, Depends(get_compactor)]


@router.post("/{agent_id}/summarize", operation_id="summarize_messages")
async def summarize_messages(
    agent_id: AgentIdPath,
    db: DatabaseDep,
    actor: ActorDep,
    compactor: CompactorDep,
    settings: SettingsDep,
    body: Annotated[CompactionRequest | None, Body()] = None,
) -> CompactionResponse:
    """Summarise the older part of the agent's window into a summary message now."""
    override = body.compaction_settings if body is not None else None
    return await service.summarize(
        db, compactor, actor, agent_id, override, settings.context_max_messages
    )


@router.get("/{agent_id}/context", operation_id="retrieve_agent_context_window")
async def retrieve_context_window(
    agent_id: AgentIdPath,
    request: Request,
    db: DatabaseDep,
    actor: ActorDep,
    settings: SettingsDep,
) -> ContextWindowOverview:
    """The window a step of the agent would send now, part by part."""
    http = request.app.state.http

    def counter_for(info: ModelInfo) -> AnthropicProvider | None:
        return make_token_counter(info, http=http, settings=settings)

    registry = request.app.state.providers
    max_messages = settings.context_max_messages
    return await overview(db, registry, counter_for, actor, agent_id, max_messages)


@router.post("/{agent_id}/recompile", operation_id="recompile_agent")
@router.post(
    "/{agent_id}/system-prompt/recompile",
    operation_id="recompile_agent_system_prompt",
    deprecated=True,
)
async def recompile_agent(
    agent_id: AgentIdPath,
    session: SessionDep,
    actor: ActorDep,
    update_timestamp: Annotated[bool, Query()] = False,
    dry_run: Annotated[bool, Query()] = False,
) -> str:
    """The agent's system prompt compiled from its blocks now, stored as its system
    message unless ``dry_run``. (``update_timestamp`` is accepted; the prompt states no
    edit time.)"""
    return await service.recompile(session, actor, agent_id, dry_run=dry_run)
