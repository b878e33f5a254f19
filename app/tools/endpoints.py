"""``/v1/tools``: the built-in tools, listed, counted and retrieved as Letta serves tools."""

from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from app.auth.deps import ActorDep
from app.kit.ids import ToolIdPath
from app.kit.pagination import Order, PageParams, page_params
from app.tools import service
from app.tools.schemas import ToolResponse

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
    page: ToolPage,
    filters: Filter,
    order_by: Literal["created_at"] = "created_at",
) -> list[ToolResponse]:
    return [ToolResponse.of(tool) for tool in service.page(filters.select(), page)]


@router.get("/count", response_model=int)
async def count_tools(actor: ActorDep, filters: Filter, exclude_letta_tools: bool = False) -> int:
    return len(replace(filters, exclude_letta=exclude_letta_tools).select())


@router.get("/{tool_id}", response_model=ToolResponse)
async def retrieve_tool(tool_id: ToolIdPath, actor: ActorDep) -> ToolResponse:
    return ToolResponse.of(service.get(tool_id))
