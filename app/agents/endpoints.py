from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import memory, reset, service, views
from app.agents.deps import AgentDep, AgentDeps
from app.agents.models import Agent
from app.agents.repository import AgentRepository
from app.agents.schemas import (
    AgentState,
    CreateAgent,
    Memory,
    ResetMessages,
    ToolApproval,
    UpdateAgent,
)
from app.auth.deps import Actor, ActorDep
from app.blocks import service as blocks_service
from app.blocks.schemas import BlockResponse, BlockUpdate
from app.groups import service as groups_service
from app.groups.schemas import GroupResponse
from app.kit.deps import DatabaseDep, SessionDep
from app.kit.ids import AgentIdPath, BlockIdPath, ToolIdPath
from app.kit.pagination import Order, PageParams, page_params
from app.kit.schemas import DeleteResult
from app.tools import service as tools_service
from app.tools.deps import ToolRunnersDep
from app.tools.schemas import ToolExecuteRequest, ToolExecutionResult, ToolResponse

router = APIRouter(prefix="/v1/agents", tags=["agents"])
# Letta serves a block's agents under /v1/blocks; they are agents, so they are answered here.
block_agents_router = APIRouter(prefix="/v1/blocks", tags=["blocks"])

AgentPage = Annotated[PageParams, Depends(page_params(50, Order.desc))]
BlockAgentPage = Annotated[PageParams, Depends(page_params(50, Order.desc))]
CoreMemoryPage = Annotated[PageParams, Depends(page_params(100, Order.desc))]
AgentToolPage = Annotated[PageParams, Depends(page_params(10, Order.desc))]
AgentGroupPage = Annotated[PageParams, Depends(page_params(100, Order.desc))]
Relationship = Literal[
    "agent.blocks",
    "agent.identities",
    "agent.managed_group",
    "agent.pending_approval",
    "agent.secrets",
    "agent.sources",
    "agent.tags",
    "agent.tools",
]
Include = Annotated[
    list[Relationship] | None,
    Query(description="Relationships to load; all of them when left out."),
]


def _include(values: list[Relationship] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


async def _state(
    session: AsyncSession, actor: Actor, agent: Agent, deps: service.Deps
) -> AgentState:
    return (await views.agent_states(session, actor, [agent], deps.registry))[0]


@router.post("/", response_model=AgentState)
async def create_agent(
    body: CreateAgent, session: SessionDep, actor: ActorDep, deps: AgentDeps
) -> AgentState:
    agent = await service.create(session, actor, body, deps)
    return await _state(session, actor, agent, deps)


@router.get("/", response_model=list[AgentState])
async def list_agents(
    session: SessionDep,
    actor: ActorDep,
    deps: AgentDeps,
    page: AgentPage,
    include: Include = None,
    name: str | None = None,
    query_text: str | None = None,
    tags: Annotated[list[str] | None, Query()] = None,
    match_all_tags: bool = False,
    order_by: Literal["created_at"] = "created_at",
) -> list[AgentState]:
    agents = await service.list_agents(
        session,
        actor,
        page,
        name=name,
        query_text=query_text,
        tags=tags or [],
        match_all_tags=match_all_tags,
    )
    return await views.agent_states(session, actor, agents, deps.registry, _include(include))


@router.get("/count", response_model=int)
async def count_agents(
    session: SessionDep,
    actor: ActorDep,
    name: str | None = None,
    query_text: str | None = None,
    tags: Annotated[list[str] | None, Query()] = None,
    match_all_tags: bool = False,
) -> int:
    return await service.count_agents(
        session,
        actor,
        name=name,
        query_text=query_text,
        tags=tags or [],
        match_all_tags=match_all_tags,
    )


@router.get("/{agent_id}", response_model=AgentState)
async def retrieve_agent(
    agent: AgentDep, session: SessionDep, actor: ActorDep, deps: AgentDeps, include: Include = None
) -> AgentState:
    return (await views.agent_states(session, actor, [agent], deps.registry, _include(include)))[0]


@router.patch("/{agent_id}", response_model=AgentState)
async def modify_agent(
    agent_id: AgentIdPath, body: UpdateAgent, session: SessionDep, actor: ActorDep, deps: AgentDeps
) -> AgentState:
    agent = await service.update(session, actor, agent_id, body, deps)
    return await _state(session, actor, agent, deps)


@router.delete("/{agent_id}", response_model=DeleteResult)
async def delete_agent(agent_id: AgentIdPath, session: SessionDep, actor: ActorDep) -> DeleteResult:
    await service.delete(session, actor, agent_id)
    return DeleteResult(message=f"Agent id={agent_id} successfully deleted")


@router.patch("/{agent_id}/reset-messages", response_model=AgentState)
async def reset_messages(
    agent_id: AgentIdPath,
    session: SessionDep,
    actor: ActorDep,
    deps: AgentDeps,
    body: ResetMessages | None = None,
) -> AgentState:
    """Delete the agent's messages but its system message (Letta's reset)."""
    agent = await reset.reset_messages(
        session,
        actor,
        agent_id,
        add_default_initial_messages=(body or ResetMessages()).add_default_initial_messages,
    )
    return await _state(session, actor, agent, deps)


@router.patch("/{agent_id}/tools/approval/{tool_name}", response_model=AgentState)
async def modify_tool_approval(
    agent_id: AgentIdPath,
    tool_name: str,
    body: ToolApproval,
    session: SessionDep,
    actor: ActorDep,
    deps: AgentDeps,
) -> AgentState:
    agent = await service.set_tool_approval(
        session, actor, agent_id, tool_name, body.requires_approval
    )
    return await _state(session, actor, agent, deps)


@router.patch("/{agent_id}/tools/attach/{tool_id}", response_model=AgentState)
async def attach_tool(
    agent_id: AgentIdPath,
    tool_id: ToolIdPath,
    session: SessionDep,
    actor: ActorDep,
    deps: AgentDeps,
) -> AgentState:
    """Give the agent a tool, built-in or registered."""
    agent = await service.attach_tool(session, actor, agent_id, tool_id)
    return await _state(session, actor, agent, deps)


@router.patch("/{agent_id}/tools/detach/{tool_id}", response_model=AgentState)
async def detach_tool(
    agent_id: AgentIdPath,
    tool_id: ToolIdPath,
    session: SessionDep,
    actor: ActorDep,
    deps: AgentDeps,
) -> AgentState:
    """Take a tool from the agent, with its tool rules."""
    agent = await service.detach_tool(session, actor, agent_id, tool_id)
    return await _state(session, actor, agent, deps)


@router.get("/{agent_id}/tools", response_model=list[ToolResponse])
async def list_agent_tools(
    agent: AgentDep,
    session: SessionDep,
    page: AgentToolPage,
    order_by: Literal["created_at"] = "created_at",
) -> list[ToolResponse]:
    tools = await tools_service.list_for_agent(session, agent, page)
    return [ToolResponse.of(tool) for tool in tools]


@router.post("/{agent_id}/tools/{tool_name}/run", response_model=ToolExecutionResult)
async def run_agent_tool(
    agent_id: AgentIdPath,
    tool_name: str,
    actor: ActorDep,
    db: DatabaseDep,
    tools: ToolRunnersDep,
    body: ToolExecuteRequest | None = None,
) -> ToolExecutionResult:
    """Run one of the agent's tools once with the given arguments, outside any turn. No
    request transaction: a slow tool must not hold one."""
    args = body.args if body is not None else {}
    org = actor.organization_id
    result = await tools_service.run_for_agent(db, tools, org, agent_id, tool_name, args)
    return ToolExecutionResult.of(result)


@router.get("/{agent_id}/groups", response_model=list[GroupResponse])
async def list_agent_groups(
    agent: AgentDep,
    session: SessionDep,
    actor: ActorDep,
    page: AgentGroupPage,
    manager_type: str | None = None,
    order_by: Literal["created_at"] = "created_at",
) -> list[GroupResponse]:
    """The groups the agent is a member of (for a sleeptime group: its sleeptime agents)."""
    groups = await groups_service.list_groups(
        session, actor, page, manager_type=manager_type, member_id=agent.id
    )
    return [view.response() for view in groups]


@router.get("/{agent_id}/core-memory", response_model=Memory)
async def retrieve_core_memory(
    agent: AgentDep, session: SessionDep, actor: ActorDep, deps: AgentDeps
) -> Memory:
    return (await _state(session, actor, agent, deps)).memory


@router.get("/{agent_id}/core-memory/blocks", response_model=list[BlockResponse])
async def list_core_memory_blocks(
    agent: AgentDep, session: SessionDep, actor: ActorDep, page: CoreMemoryPage
) -> list[BlockResponse]:
    blocks = await memory.list_blocks(session, actor, agent, page)
    return [BlockResponse.model_validate(b) for b in blocks]


@router.get("/{agent_id}/core-memory/blocks/{block_label}", response_model=BlockResponse)
async def retrieve_core_memory_block(
    agent: AgentDep, block_label: str, session: SessionDep, actor: ActorDep
) -> BlockResponse:
    return BlockResponse.model_validate(await memory.get_block(session, actor, agent, block_label))


@router.patch("/{agent_id}/core-memory/blocks/{block_label}", response_model=BlockResponse)
async def modify_core_memory_block(
    agent: AgentDep, block_label: str, body: BlockUpdate, session: SessionDep, actor: ActorDep
) -> BlockResponse:
    block = await memory.update_block(session, actor, agent, block_label, body)
    return BlockResponse.model_validate(block)


@router.patch("/{agent_id}/core-memory/blocks/attach/{block_id}", response_model=AgentState)
async def attach_core_memory_block(
    agent: AgentDep, block_id: BlockIdPath, session: SessionDep, actor: ActorDep, deps: AgentDeps
) -> AgentState:
    await memory.attach(session, actor, agent, block_id)
    return await _state(session, actor, agent, deps)


@router.patch("/{agent_id}/core-memory/blocks/detach/{block_id}", response_model=AgentState)
async def detach_core_memory_block(
    agent: AgentDep, block_id: BlockIdPath, session: SessionDep, actor: ActorDep, deps: AgentDeps
) -> AgentState:
    await memory.detach(session, actor, agent, block_id)
    return await _state(session, actor, agent, deps)


@block_agents_router.get("/{block_id}/agents", response_model=list[AgentState])
async def list_block_agents(
    block_id: BlockIdPath,
    session: SessionDep,
    actor: ActorDep,
    deps: AgentDeps,
    page: BlockAgentPage,
    include: Include = None,
    order_by: Literal["created_at"] = "created_at",
) -> list[AgentState]:
    """The agents the block is attached to."""
    block = await blocks_service.get(session, actor, block_id)
    agents = await AgentRepository(session, actor.organization_id).list_page(
        page, block_id=block.id
    )
    return await views.agent_states(session, actor, agents, deps.registry, _include(include))
