"""``/v1/tools``: the built-in tools and the organization's registered ones, as Letta serves
tools."""

from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from app.auth.deps import ActorDep
from app.kit.deps import SessionDep
from app.kit.ids import ToolIdPath
from app.kit.pagination import Order, PageParams, page_params
from app.tools import service
from app.tools.builtin import BUILTIN_TOOLS
from app.tools.schemas import CodeInput, ToolCreate, ToolResponse, ToolUpdate

router = APIRouter(prefix="/v1/tools", tags=["tools"])

ToolPage = Annotated[PageParams, Depends(page_params(50, Order.desc))]
Values = Annotated[list[str] | None, Query()]


def tool_filter(
    name: str | None = None,
    names: Values = None,
    tool_ids: Annotated[
        list[str] | None, Query(description="Repeated, or comma-separated values.")
    ] = None,
    search: Annotated[str | None, Query(description="Part of a tool name, any case.")] = None,
    tool_types: Values = None,
    exclude_tool_types: Values = None,
    return_only_letta_tools: bool = False,
) -> service.ToolFilter:
    return service.ToolFilter(
        names=[*([name] if name is not None else []), *(names or [])],
        tool_ids=tool_ids,
        search=search,
        tool_types=tool_types,
        exclude_tool_types=exclude_tool_types,
        only_letta=return_only_letta_tools,
    )


Filter = Annotated[service.ToolFilter, Depends(tool_filter)]


@router.get("/", response_model=list[ToolResponse])
async def list_tools(
    actor: ActorDep,
    session: SessionDep,
    page: ToolPage,
    filters: Filter,
    order_by: Literal["created_at"] = "created_at",
) -> list[ToolResponse]:
    """The built-in tools and the organization's registered ones."""
    tools = await service.list_tools(session, actor.organization_id, filters, page)
    return [ToolResponse.of(tool) for tool in tools]


@router.get("/count", response_model=int)
async def count_tools(
    actor: ActorDep,
    session: SessionDep,
    filters: Filter,
    exclude_letta_tools: bool = False,
) -> int:
    filters = replace(filters, exclude_letta=exclude_letta_tools)
    return await service.count_tools(session, actor.organization_id, filters)


@router.post("/", response_model=ToolResponse)
async def create_tool(body: ToolCreate, actor: ActorDep, session: SessionDep) -> ToolResponse:
    """Register a tool from Python source; its schema is derived from the source (never run)
    unless given. A name already taken in the organization answers 409."""
    return ToolResponse.of(await service.create(session, actor, body))


@router.put("/", response_model=ToolResponse)
async def upsert_tool(body: ToolCreate, actor: ActorDep, session: SessionDep) -> ToolResponse:
    """Create the tool, or update the organization's tool of the same name."""
    return ToolResponse.of(await service.upsert(session, actor, body))


@router.post("/generate-schema", response_model=dict[str, Any])
async def generate_json_schema(body: CodeInput, actor: ActorDep) -> dict[str, Any]:
    """The JSON schema of the function defined in Python source, read without running it."""
    return service.generate_schema(body)


@router.post("/add-base-tools", response_model=list[ToolResponse])
async def add_base_tools(actor: ActorDep) -> list[ToolResponse]:
    """The built-in tools. They are always present here, so there is nothing to add."""
    return [ToolResponse.of(tool) for tool in BUILTIN_TOOLS.values()]


@router.get("/{tool_id}", response_model=ToolResponse)
async def retrieve_tool(tool_id: ToolIdPath, actor: ActorDep, session: SessionDep) -> ToolResponse:
    return ToolResponse.of(await service.get(session, actor.organization_id, tool_id))


@router.patch("/{tool_id}", response_model=ToolResponse)
async def modify_tool(
    tool_id: ToolIdPath, body: ToolUpdate, actor: ActorDep, session: SessionDep
) -> ToolResponse:
    """Update a registered tool; built-in tools cannot be modified."""
    return ToolResponse.of(await service.modify(session, actor, tool_id, body))


@router.delete("/{tool_id}", response_model=None)
async def delete_tool(tool_id: ToolIdPath, actor: ActorDep, session: SessionDep) -> None:
    """Delete a registered tool and detach it from every agent; built-in tools stay."""
    await service.delete(session, actor, tool_id)
