"""Archives and passages: storing, listing and searching archival memory.

Embedding a text is an HTTP call to the model's provider, so callers that write compute the
vectors first (``embed``) with no transaction open, then store them (``store``). A search
embeds its query once per embedding model among the archives searched, ranks the stored
vectors of that model only, ranks full-text matches, and fuses the rankings. An archive with
no embedding model is searched by full text alone (``Search.semantic`` says which ran).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.agents.repository import AgentRepository
from app.archival import fulltext, ranking
from app.archival.models import Archive, Passage
from app.archival.repository import ArchiveRepository, PassageFilter, PassageRepository
from app.archival.schemas import ArchiveCreate, ArchiveUpdate, PassageCreate
from app.archival.vectors import CACHE, Matrix, top
from app.auth.deps import Actor
from app.config import Settings
from app.kit.db import utcnow
from app.kit.errors import BadGateway, BadRequest, NotFound
from app.kit.ids import Prefix, new_id
from app.kit.pagination import PageParams
from app.providers.base import ProviderError
from app.providers.embeddings import Embedded, Embedder
from app.providers.registry import ProviderRegistry

log = structlog.get_logger("app.archival")
_CANDIDATES = 100  # per ranking, before fusion


@dataclass(frozen=True, slots=True)
class Deps:
    registry: ProviderRegistry
    http: httpx.AsyncClient
    settings: Settings

    def embedder(self, handle: str | None) -> Embedder | None:
        if not handle:
            return None
        info = self.registry.resolve(handle, field="embedding")
        return Embedder(info, http=self.http, settings=self.settings)


@dataclass(slots=True)
class Search:
    hits: list[tuple[Passage, float]] = field(default_factory=list)
    semantic: bool = False  # whether a vector ranking took part


async def embed(deps: Deps, handle: str | None, texts: Sequence[str]) -> Embedded | None:
    """Vectors for ``texts`` by the model ``handle`` names (None: no model, none made)."""
    embedder = deps.embedder(handle)
    if embedder is None or not texts:
        return None
    try:
        return await embedder.embed(texts)
    except ProviderError as exc:
        raise BadGateway(f"embedding with {handle} failed: {exc.message}") from exc


# --- archives -----------------------------------------------------------------------------


async def get_archive(session: AsyncSession, actor: Actor, archive_id: str) -> Archive:
    archive = await ArchiveRepository(session, actor.organization_id).get(archive_id)
    if archive is None:
        raise NotFound(f"Archive {archive_id} not found")
    return archive


async def create_archive(
    session: AsyncSession, actor: Actor, deps: Deps, body: ArchiveCreate
) -> Archive:
    handle = body.embedding or _config_handle(body.embedding_config)
    if handle:
        deps.registry.resolve(handle, field="embedding")  # a 400 naming what is configured
    archive = Archive(
        id=new_id(Prefix.archive),
        organization_id=actor.organization_id,
        name=body.name,
        description=body.description,
        embedding=handle,
        metadata_={},
    )
    await ArchiveRepository(session, actor.organization_id).add(archive)
    return archive


def _config_handle(config: dict[str, object] | None) -> str | None:
    if not config:
        return None
    handle = config.get("handle")
    if isinstance(handle, str) and handle:
        return handle
    model = config.get("embedding_model")
    kind = config.get("embedding_endpoint_type") or "openai"
    return f"{kind}/{model}" if isinstance(model, str) and model else None


async def update_archive(
    session: AsyncSession, actor: Actor, archive_id: str, body: ArchiveUpdate
) -> Archive:
    archive = await get_archive(session, actor, archive_id)
    if body.name is not None:
        archive.name = body.name
    if "description" in body.model_fields_set:
        archive.description = body.description
    archive.updated_at = utcnow()
    await session.flush()
    return archive


async def delete_archive(session: AsyncSession, actor: Actor, archive_id: str) -> None:
    archive = await get_archive(session, actor, archive_id)
    await ArchiveRepository(session, actor.organization_id).delete(archive)


async def list_archives(
    session: AsyncSession,
    actor: Actor,
    page: PageParams,
    *,
    name: str | None,
    agent_id: str | None,
) -> Sequence[Archive]:
    repo = ArchiveRepository(session, actor.organization_id)
    return await repo.list_page(page, name=name, agent_id=agent_id)


async def attach(session: AsyncSession, actor: Actor, agent: Agent, archive_id: str) -> None:
    archive = await get_archive(session, actor, archive_id)
    await ArchiveRepository(session, actor.organization_id).attach(archive.id, agent.id)


async def detach(session: AsyncSession, actor: Actor, agent: Agent, archive_id: str) -> None:
    archive = await get_archive(session, actor, archive_id)
    await ArchiveRepository(session, actor.organization_id).detach(archive.id, agent.id)


async def archive_agents(
    session: AsyncSession, actor: Actor, archive_id: str, limit: int
) -> Sequence[Agent]:
    archive = await get_archive(session, actor, archive_id)
    ids = await ArchiveRepository(session, actor.organization_id).agent_ids(archive.id, limit)
    found = {a.id: a for a in await AgentRepository(session, actor.organization_id).get_many(ids)}
    return [found[i] for i in ids if i in found]


async def default_archive(session: AsyncSession, actor: Actor, agent: Agent) -> Archive:
    """The agent's own archive, made on first use with the agent's embedding model."""
    repo = ArchiveRepository(session, actor.organization_id)
    for link in await repo.links(agent.id):
        if link.is_owner:
            return await get_archive(session, actor, link.archive_id)
    archive = Archive(
        id=new_id(Prefix.archive),
        organization_id=actor.organization_id,
        name=f"{agent.name}'s archive",
        description=None,
        embedding=agent.embedding,
        metadata_={},
    )
    await repo.add(archive)
    await repo.attach(archive.id, agent.id, is_owner=True)
    return archive


async def delete_owned(session: AsyncSession, actor: Actor, agent_ids: Sequence[str]) -> None:
    """With agents being deleted: delete the archives they own that no other agent reads."""
    repo = ArchiveRepository(session, actor.organization_id)
    await repo.delete_ids(await repo.orphaned_by(agent_ids))


STORAGE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


async def storage_size(session: AsyncSession, actor: Actor, unit: str) -> float:
    """The size of the organization's stored vectors in ``unit`` (one of STORAGE_UNITS)."""
    if unit not in STORAGE_UNITS:
        raise BadRequest(f"storage_unit: {unit!r} is not one of {', '.join(STORAGE_UNITS)}")
    total = await ArchiveRepository(session, actor.organization_id).storage_bytes()
    return total / STORAGE_UNITS[unit]


async def filing_agent(
    session: AsyncSession, actor: Actor, agent_id: str, run_id: str | None
) -> str:
    return await ArchiveRepository(session, actor.organization_id).filing_agent(agent_id, run_id)


async def own_embedding(session: AsyncSession, actor: Actor, agent: Agent) -> str | None:
    """The model that embeds the agent's own archive (made on first use with the agent's)."""
    repo = ArchiveRepository(session, actor.organization_id)
    for link in await repo.links(agent.id):
        if link.is_owner:
            archive = await repo.get(link.archive_id)
            return archive.embedding if archive is not None else agent.embedding
    return agent.embedding


async def archives_of(
    session: AsyncSession, actor: Actor, agent_id: str
) -> list[tuple[Archive, bool]]:
    """The archives an agent reads, each with whether it is the agent's own."""
    repo = ArchiveRepository(session, actor.organization_id)
    found = []
    for link in await repo.links(agent_id):
        archive = await repo.get(link.archive_id)
        if archive is not None:
            found.append((archive, link.is_owner))
    return found


async def restore_archive(
    session: AsyncSession,
    actor: Actor,
    archive: Archive,
    agent_ids: Sequence[str],
    owner_id: str | None,
) -> None:
    """Write an imported archive and attach it to its agents."""
    repo = ArchiveRepository(session, actor.organization_id)
    await repo.add(archive)
    for agent_id in agent_ids:
        await repo.attach(archive.id, agent_id, is_owner=agent_id == owner_id)


async def all_passages(session: AsyncSession, actor: Actor, archive_id: str) -> list[Passage]:
    return await PassageRepository(session, actor.organization_id).all_in(archive_id)


async def agent_archives(session: AsyncSession, actor: Actor, agent: Agent) -> list[Archive]:
    """Every archive the agent reads, its own first."""
    repo = ArchiveRepository(session, actor.organization_id)
    links = sorted(await repo.links(agent.id), key=lambda link: not link.is_owner)
    archives = [await repo.get(link.archive_id) for link in links]
    return [a for a in archives if a is not None]


# --- passages -----------------------------------------------------------------------------


async def store(
    session: AsyncSession,
    actor: Actor,
    archive: Archive,
    items: Sequence[PassageCreate],
    embedded: Embedded | None,
    *,
    agent_id: str | None = None,
    run_id: str | None = None,
) -> list[Passage]:
    """Write passages with the vectors made for them (``embedded``, in the order of
    ``items``); vectors of a model other than the archive's are not stored."""
    now = utcnow()
    usable = embedded if embedded is not None and embedded.model == archive.embedding else None
    passages = []
    for position, item in enumerate(items):
        vector = usable.vectors[position] if usable is not None else None
        created = item.created_at or now
        passages.append(
            Passage(
                id=new_id(Prefix.passage),
                organization_id=actor.organization_id,
                archive_id=archive.id,
                text=item.text,
                tags=list(dict.fromkeys(item.tags or [])),
                metadata_=item.metadata or {},
                embedding=ranking.pack(vector) if vector is not None else None,
                embedding_model=usable.model if usable is not None else None,
                embedding_dim=len(vector) if vector is not None else None,
                agent_id=agent_id,
                run_id=run_id,
                created_at=created,
                updated_at=created,
            )
        )
    await PassageRepository(session, actor.organization_id).add(passages)
    return passages


async def restore_passages(
    session: AsyncSession,
    actor: Actor,
    archive: Archive,
    items: Sequence[tuple[PassageCreate, list[float] | None]],
) -> None:
    """Write imported passages with their vectors (made by the archive's model, or none)."""
    with_vectors = [(item, vector) for item, vector in items if vector is not None]
    without = [item for item, vector in items if vector is None]
    if with_vectors and archive.embedding:
        embedded = Embedded(archive.embedding, [vector for _, vector in with_vectors])
        await store(session, actor, archive, [item for item, _ in with_vectors], embedded)
    else:
        without = [item for item, _ in items]
    if without:
        await store(session, actor, archive, without, None)


async def delete_passage(
    session: AsyncSession, actor: Actor, archive_ids: Sequence[str], passage_id: str
) -> None:
    repo = PassageRepository(session, actor.organization_id)
    passage = await repo.get(passage_id, archive_ids)
    if passage is None:
        raise NotFound(f"Passage {passage_id} not found")
    await repo.delete(passage)


async def list_passages(
    session: AsyncSession,
    actor: Actor,
    archive_ids: Sequence[str],
    page: PageParams,
    *,
    search: str | None,
) -> Sequence[Passage]:
    repo = PassageRepository(session, actor.organization_id)
    return await repo.list_page(PassageFilter(archive_ids), page, search=search)


async def query_vectors(
    deps: Deps, archives: Sequence[Archive], query: str | None
) -> dict[str, list[float]]:
    """The query's vector by each embedding model among ``archives`` (call it with no
    transaction open: each is a provider call)."""
    vectors: dict[str, list[float]] = {}
    if not query or not query.strip():
        return vectors
    for handle in dict.fromkeys(a.embedding for a in archives if a.embedding):
        embedded = await embed(deps, handle, [query])
        if embedded is not None:
            vectors[embedded.model] = embedded.vectors[0]
    return vectors


async def search(
    session: AsyncSession,
    actor: Actor,
    archives: Sequence[Archive],
    query: str | None,
    vectors: Mapping[str, list[float]],
    where: PassageFilter,
    limit: int,
) -> Search:
    """The passages of ``archives`` that best match ``query`` under ``where``, best first
    (``vectors``: the query embedded by each archive's model); with no query, the newest."""
    repo = PassageRepository(session, actor.organization_id)
    result = Search()
    if not query or not query.strip():
        ids = await repo.recent_ids(where, limit)
        return await _hits(repo, [(pid, 1.0) for pid in ids], result)
    rankings: list[list[str]] = []
    only = await repo.matching_ids(where) if where.tags or where.start or where.end else None
    for handle, vector in vectors.items():
        scope = [a.id for a in archives if a.embedding == handle]
        matrices = [await _matrix(repo, archive_id, handle, len(vector)) for archive_id in scope]
        rankings.append(top(vector, matrices, _CANDIDATES, only))
        result.semantic = True
    words = fulltext.words(query)
    if words:
        rankings.append(await repo.fulltext_ids(where, words, _CANDIDATES))
    log.debug("archival.search", semantic=result.semantic, rankings=[len(r) for r in rankings])
    return await _hits(repo, ranking.fuse(rankings, limit), result)


async def _matrix(repo: PassageRepository, archive_id: str, model: str, dim: int) -> Matrix:
    """The archive's vectors of ``model``, from this process's cache, brought up to date by
    the passages written and deleted since (see ``app.archival.vectors``)."""
    state = await repo.state(archive_id)
    version, deleted = state if state is not None else (0, 0)
    key = (repo.organization_id, archive_id, model, dim)
    matrix = CACHE.get(key) or Matrix(dim)
    if matrix.version > version:  # the archive was deleted and made again: start over
        matrix = Matrix(dim)
    if matrix.version < version:
        base = matrix.version
        written = await repo.vectors_written(archive_id, model, dim, base, version)
        present = None
        if matrix.deleted != deleted:
            present = await repo.embedded_ids(archive_id, model, dim)
        if matrix.version == base:  # no other search of this process updated it meanwhile
            if present is not None:
                matrix.keep(present)
            matrix.append(written)
            matrix.version, matrix.deleted = version, deleted
    CACHE.put(key, matrix)
    return matrix


async def _hits(
    repo: PassageRepository, scored: Sequence[tuple[str, float]], result: Search
) -> Search:
    found = await repo.get_many([pid for pid, _ in scored])
    result.hits = [(found[pid], score) for pid, score in scored if pid in found]
    return result
