from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.agents import service as agents_service
from app.auth.deps import Actor, ActorDep
from app.groups import service as groups_service
from app.kit.deps import SessionDep
from app.kit.errors import NotFound
from app.kit.ids import AgentIdPath, GroupIdPath, RunIdPath
from app.kit.pagination import Order
from app.messages import history
from app.messages.convert import to_letta_many
from app.messages.listing import MessagePage, letta_page
from app.messages.models import Message
from app.messages.repository import ALL_THREADS, MessageRepository
from app.messages.schemas import MessageType
from app.messages.thread import ThreadWindows
from app.runs import service as runs_service

router = APIRouter(prefix="/v1", tags=["messages"])
run_messages_router = APIRouter(prefix="/v1/runs", tags=["runs"])

Types = Annotated[list[MessageType] | None, Query()]
UseAssistantMessage = Annotated[
    bool,
    Query(
        deprecated=True,
        description="Show send_message calls as assistant messages (their results hidden).",
    ),
]


async def list_letta_messages(
    session: SessionDep,
    actor: Actor,
    agent_id: str,
    page: MessagePage,
    types: list[MessageType] | None,
    use_assistant_message: bool = True,
) -> list[dict[str, Any]]:
    agent = await agents_service.get(session, actor, agent_id)
    wanted: set[str] | None = set(types) if types else None

    async def render(stored: list[Message]) -> list[dict[str, Any]]:
        listed = await history.as_listed(session, actor.organization_id, agent, stored)
        return to_letta_many(
            listed, agent.agent_type, wanted, assistant_messages=use_assistant_message
        )

    return await letta_page(
        MessageRepository(session, actor.organization_id), agent.id, page, render
    )


@router.get("/agents/{agent_id}/messages", response_model=list[dict[str, Any]])
async def list_messages(
    agent_id: AgentIdPath,
    session: SessionDep,
    actor: ActorDep,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order: Order = Order.desc,
    group_id: Annotated[str | None, Query()] = None,
    include_return_message_types: Types = None,
    use_assistant_message: UseAssistantMessage = True,
    conversation_id: Annotated[
        str | None,
        Query(description="One thread: `default` (the main one) or a conversation's id."),
    ] = None,
) -> list[dict[str, Any]]:
    thread: str | None = ALL_THREADS
    if conversation_id is not None:
        thread = await _thread_of(session, actor, agent_id, conversation_id)
    page = MessagePage(
        limit, order, after=after, before=before, group_id=group_id, conversation_id=thread
    )
    return await list_letta_messages(
        session, actor, agent_id, page, include_return_message_types, use_assistant_message
    )


async def _thread_of(
    session: SessionDep, actor: Actor, agent_id: str, conversation_id: str
) -> str | None:
    """The thread ``conversation_id`` names among the agent's: None for ``default`` (its
    main thread), else one of its conversations (404 otherwise)."""
    if conversation_id == "default":
        return None
    thread = await ThreadWindows(session, actor.organization_id).conversation(conversation_id)
    if thread is None or thread.agent_id != agent_id:
        raise NotFound(f"Conversation {conversation_id} not found")
    return conversation_id


@router.get("/groups/{group_id}/messages", response_model=list[dict[str, Any]])
async def list_group_messages(
    group_id: GroupIdPath,
    session: SessionDep,
    actor: ActorDep,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    order: Order = Order.desc,
    include_return_message_types: Types = None,
    use_assistant_message: UseAssistantMessage = True,
) -> list[dict[str, Any]]:
    view = await groups_service.get(session, actor, group_id)
    if view.group.manager_agent_id is None:
        return []
    # The group's conversation is its primary's: all of the manager's messages.
    page = MessagePage(limit, order, after=after, before=before)
    return await list_letta_messages(
        session,
        actor,
        view.group.manager_agent_id,
        page,
        include_return_message_types,
        use_assistant_message,
    )


@run_messages_router.get("/{run_id}/messages", response_model=list[dict[str, Any]])
async def list_run_messages(
    run_id: RunIdPath,
    session: SessionDep,
    actor: ActorDep,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order: Order = Order.asc,
) -> list[dict[str, Any]]:
    run = await runs_service.get(session, actor, run_id)
    agent = await agents_service.get(session, actor, run.agent_id)
    config = run.request_config or {}
    types = config.get("include_return_message_types")
    wanted = set(types) if types else None
    replies = config.get("use_assistant_message") is not False

    async def render(stored: list[Message]) -> list[dict[str, Any]]:
        return to_letta_many(stored, agent.agent_type, wanted, assistant_messages=replies)

    return await letta_page(
        MessageRepository(session, actor.organization_id),
        agent.id,
        MessagePage(limit, order, after=after, before=before, run_id=run.id),
        render,
    )
