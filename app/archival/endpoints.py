"""Archival memory routes: an agent's passages, archives, and search across them.

Writes embed first and store after, each in a short unit of work of its own: an embedding is
a provider call, and no transaction (on SQLite, the write lock) is held across one."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import service as agents
from app.agents import views as agent_views
from app.agents.schemas import AgentState
from app.archival import service
from app.archival.models import Archive
from app.archival.repository import PassageFilter
from app.archival.schemas import (
    AgentSearchResponse,
    AgentSearchResult,
    ArchiveCreate,
    ArchiveResponse,
    ArchiveUpdate,
    PassageBatchCreate,
    PassageCreate,
    PassageResponse,
    PassageSearchItem,
    PassageSearchRequest,
    TagMatchMode,
    as_utc,
)
from app.auth.deps import Actor, ActorDep
from app.kit.deps import DatabaseDep, SessionDep
from app.kit.errors import BadRequest
from app.kit.ids import AgentIdPath, Prefix, _path_id
from app.kit.pagination import Order, PageParams, page_params

router = APIRouter(tags=["archival memory"])

ArchiveIdPath = Annotated[str, _path_id(Prefix.archive, "An archive id, `archive-<uuid4>`.")]
PassageIdPath = Annotated[str, _path_id(Prefix.passage, "A passage id, `passage-<uuid4>`.")]
ArchivePage = Annotated[PageParams, Depends(page_params(50, Order.desc))]
SEARCH_MODE_HEADER = "X-Archival-Search"
_AGENT = "/v1/agents/{agent_id}"


async def get_deps(request: Request) -> service.Deps:
    state = request.app.state
    return service.Deps(registry=state.providers, http=state.http, settings=state.settings)


ArchivalDeps = Annotated[service.Deps, Depends(get_deps)]
ArchiveOf = Callable[[AsyncSession], Awaitable[Archive]]


def _mode(response: Response, search: service.Search) -> None:
    """Say which search ran: ``hybrid`` (vectors and full text) or ``fulltext`` alone."""
    response.headers[SEARCH_MODE_HEADER] = "hybrid" if search.semantic else "fulltext"


async def _insert(
    db: DatabaseDep,
    actor: Actor,
    deps: service.Deps,
    archive_of: ArchiveOf,
    items: list[PassageCreate],
    agent_id: str | None = None,
) -> list[PassageResponse]:
    async with db.session() as session:
        archive = await archive_of(session)
        handle, archive_id = archive.embedding, archive.id
    embedded = await service.embed(deps, handle, [item.text for item in items])
    async with db.session() as session:
        archive = await service.get_archive(session, actor, archive_id)
        passages = await service.store(session, actor, archive, items, embedded, agent_id=agent_id)
        return [PassageResponse.of(p) for p in passages]


ArchivesOf = Callable[[AsyncSession], Awaitable[list[Archive]]]


async def _search(
    db: DatabaseDep,
    actor: Actor,
    deps: service.Deps,
    archives_of: ArchivesOf,
    query: str | None,
    where: PassageFilter,
    limit: int,
    response: Response,
) -> service.Search:
    """Read which archives, embed the query with no transaction open, then search."""
    async with db.session(write=False) as session:
        archives = await archives_of(session)
    vectors = await service.query_vectors(deps, archives, query)
    scoped = PassageFilter(
        [a.id for a in archives], where.tags, where.match_all, where.start, where.end
    )
    async with db.session(write=False) as session:
        found = await service.search(session, actor, archives, query, vectors, scoped, limit)
    _mode(response, found)
    return found


def _named(actor: Actor, archive_id: str) -> ArchiveOf:
    async def named(session: AsyncSession) -> Archive:
        return await service.get_archive(session, actor, archive_id)

    return named


# --- an agent's archival memory -----------------------------------------------------------


@router.get(f"{_AGENT}/archival-memory", response_model=list[PassageResponse])
async def list_agent_passages(
    agent_id: AgentIdPath,
    session: SessionDep,
    actor: ActorDep,
    after: str | None = None,
    before: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    search: str | None = None,
    ascending: bool = True,
) -> list[PassageResponse]:
    agent = await agents.get(session, actor, agent_id)
    archive_ids = [a.id for a in await service.agent_archives(session, actor, agent)]
    order = Order.asc if ascending else Order.desc
    page = PageParams(limit=limit, order=order, before=before, after=after)
    passages = await service.list_passages(session, actor, archive_ids, page, search=search)
    return [PassageResponse.of(p) for p in passages]


@router.post(f"{_AGENT}/archival-memory", response_model=list[PassageResponse])
async def insert_agent_passage(
    agent_id: AgentIdPath, body: PassageCreate, db: DatabaseDep, actor: ActorDep, deps: ArchivalDeps
) -> list[PassageResponse]:
    async def own(session: AsyncSession) -> Archive:
        agent = await agents.get(session, actor, agent_id)
        return await service.default_archive(session, actor, agent)

    return await _insert(db, actor, deps, own, [body], agent_id=agent_id)


@router.get(f"{_AGENT}/archival-memory/search", response_model=AgentSearchResponse)
async def search_agent_passages(
    agent_id: AgentIdPath,
    db: DatabaseDep,
    actor: ActorDep,
    deps: ArchivalDeps,
    response: Response,
    query: str,
    tags: Annotated[list[str] | None, Query()] = None,
    tag_match_mode: TagMatchMode = "any",
    top_k: Annotated[int | None, Query(ge=1, le=100)] = None,
    start_datetime: datetime | None = None,
    end_datetime: datetime | None = None,
) -> AgentSearchResponse:
    async def of_agent(session: AsyncSession) -> list[Archive]:
        agent = await agents.get(session, actor, agent_id)
        return await service.agent_archives(session, actor, agent)

    start, end = as_utc(start_datetime), as_utc(end_datetime)
    where = PassageFilter((), tags or (), tag_match_mode == "all", start, end)
    found = await _search(db, actor, deps, of_agent, query, where, top_k or 10, response)
    results = [
        AgentSearchResult(id=p.id, content=p.text, timestamp=p.created_at.isoformat(), tags=p.tags)
        for p, _ in found.hits
    ]
    return AgentSearchResponse(count=len(results), results=results)


@router.delete(f"{_AGENT}/archival-memory/{{memory_id}}", response_model=None)
async def delete_agent_passage(
    agent_id: AgentIdPath, memory_id: PassageIdPath, session: SessionDep, actor: ActorDep
) -> None:
    agent = await agents.get(session, actor, agent_id)
    archive_ids = [a.id for a in await service.agent_archives(session, actor, agent)]
    await service.delete_passage(session, actor, archive_ids, memory_id)


@router.patch(f"{_AGENT}/archives/attach/{{archive_id}}", response_model=None)
async def attach_archive(
    agent_id: AgentIdPath, archive_id: ArchiveIdPath, session: SessionDep, actor: ActorDep
) -> None:
    agent = await agents.get(session, actor, agent_id)
    await service.attach(session, actor, agent, archive_id)


@router.patch(f"{_AGENT}/archives/detach/{{archive_id}}", response_model=None)
async def detach_archive(
    agent_id: AgentIdPath, archive_id: ArchiveIdPath, session: SessionDep, actor: ActorDep
) -> None:
    agent = await agents.get(session, actor, agent_id)
    await service.detach(session, actor, agent, archive_id)


# --- archives -----------------------------------------------------------------------------


@router.post("/v1/archives/", response_model=ArchiveResponse)
async def create_archive(
    body: ArchiveCreate, session: SessionDep, actor: ActorDep, deps: ArchivalDeps
) -> ArchiveResponse:
    return ArchiveResponse.of(await service.create_archive(session, actor, deps, body))


@router.get("/v1/archives/", response_model=list[ArchiveResponse])
async def list_archives(
    session: SessionDep,
    actor: ActorDep,
    page: ArchivePage,
    name: str | None = None,
    agent_id: str | None = None,
) -> list[ArchiveResponse]:
    archives = await service.list_archives(session, actor, page, name=name, agent_id=agent_id)
    return [ArchiveResponse.of(a) for a in archives]


@router.get("/v1/archives/{archive_id}", response_model=ArchiveResponse)
async def retrieve_archive(
    archive_id: ArchiveIdPath, session: SessionDep, actor: ActorDep
) -> ArchiveResponse:
    return ArchiveResponse.of(await service.get_archive(session, actor, archive_id))


@router.patch("/v1/archives/{archive_id}", response_model=ArchiveResponse)
async def modify_archive(
    archive_id: ArchiveIdPath, body: ArchiveUpdate, session: SessionDep, actor: ActorDep
) -> ArchiveResponse:
    return ArchiveResponse.of(await service.update_archive(session, actor, archive_id, body))


@router.delete("/v1/archives/{archive_id}", response_model=None)
async def delete_archive(archive_id: ArchiveIdPath, session: SessionDep, actor: ActorDep) -> None:
    await service.delete_archive(session, actor, archive_id)


@router.get("/v1/archives/{archive_id}/agents", response_model=list[AgentState])
async def list_archive_agents(
    archive_id: ArchiveIdPath,
    session: SessionDep,
    actor: ActorDep,
    deps: ArchivalDeps,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[AgentState]:
    """The agents an archive is attached to, in the order they were attached."""
    found = await service.archive_agents(session, actor, archive_id, limit)
    return await agent_views.agent_states(session, actor, found, deps.registry)


@router.get("/v1/archives/{archive_id}/passages", response_model=list[PassageResponse])
async def list_archive_passages(
    archive_id: ArchiveIdPath,
    session: SessionDep,
    actor: ActorDep,
    page: ArchivePage,
    search: str | None = None,
) -> list[PassageResponse]:
    archive = await service.get_archive(session, actor, archive_id)
    passages = await service.list_passages(session, actor, [archive.id], page, search=search)
    return [PassageResponse.of(p) for p in passages]


@router.post("/v1/archives/{archive_id}/passages", response_model=PassageResponse)
async def create_archive_passage(
    archive_id: ArchiveIdPath,
    body: PassageCreate,
    db: DatabaseDep,
    actor: ActorDep,
    deps: ArchivalDeps,
) -> PassageResponse:
    return (await _insert(db, actor, deps, _named(actor, archive_id), [body]))[0]


@router.post("/v1/archives/{archive_id}/passages/batch", response_model=list[PassageResponse])
async def create_archive_passages(
    archive_id: ArchiveIdPath,
    body: PassageBatchCreate,
    db: DatabaseDep,
    actor: ActorDep,
    deps: ArchivalDeps,
) -> list[PassageResponse]:
    return await _insert(db, actor, deps, _named(actor, archive_id), body.passages)


@router.delete("/v1/archives/{archive_id}/passages/{passage_id}", response_model=None)
async def delete_archive_passage(
    archive_id: ArchiveIdPath, passage_id: PassageIdPath, session: SessionDep, actor: ActorDep
) -> None:
    archive = await service.get_archive(session, actor, archive_id)
    await service.delete_passage(session, actor, [archive.id], passage_id)


@router.get("/v1/embeddings/total_storage_size", response_model=float)
async def total_storage_size(
    session: SessionDep,
    actor: ActorDep,
    storage_unit: Annotated[str, Header(alias="storage_unit")] = "GB",
) -> float:
    """The size of the organization's stored embeddings, in the ``storage_unit`` header's
    unit (B, KB, MB, GB, TB; 1 KB = 1024 B): the bytes actually stored, where Letta
    estimates every passage at its largest embedding size."""
    return await service.storage_size(session, actor, storage_unit)


# --- search across archives ---------------------------------------------------------------


@router.post("/v1/passages/search", response_model=list[PassageSearchItem])
async def search_passages(
    body: PassageSearchRequest,
    db: DatabaseDep,
    actor: ActorDep,
    deps: ArchivalDeps,
    response: Response,
) -> list[PassageSearchItem]:
    """Passages of one archive or of one agent's archives, best match first."""
    if body.archive_id is None and body.agent_id is None:
        raise BadRequest("agent_id or archive_id: one of them is required")

    async def chosen(session: AsyncSession) -> list[Archive]:
        if body.archive_id is not None:
            return [await service.get_archive(session, actor, body.archive_id)]
        agent = await agents.get(session, actor, body.agent_id or "")
        return await service.agent_archives(session, actor, agent)

    where = PassageFilter(
        (), body.tags or (), body.tag_match_mode == "all", body.start_date, body.end_date
    )
    found = await _search(db, actor, deps, chosen, body.query, where, body.limit, response)
    return [
        PassageSearchItem(passage=PassageResponse.of(p), score=score) for p, score in found.hits
    ]
