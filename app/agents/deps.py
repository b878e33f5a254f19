from typing import Annotated

from fastapi import Depends, Request

from app.agents import service
from app.agents.models import Agent
from app.auth.deps import ActorDep
from app.kit.deps import SessionDep
from app.kit.ids import AgentIdPath


async def get_agent_deps(request: Request) -> service.Deps:
    return service.Deps(registry=request.app.state.providers, settings=request.app.state.settings)


async def load_agent(agent_id: AgentIdPath, session: SessionDep, actor: ActorDep) -> Agent:
    return await service.get(session, actor, agent_id)


AgentDeps = Annotated[service.Deps, Depends(get_agent_deps)]
AgentDep = Annotated[Agent, Depends(load_agent)]
