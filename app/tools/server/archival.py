"""``archival_memory_insert`` and ``archival_memory_search``, Letta's archival tools.

They run outside the step's transaction (``ToolKind.server``): embedding is a provider call,
and no transaction is held across one. Each reads what it needs in a short unit of work and
embeds with none open. A search then runs in a read of its own; an insert hands its write
back with its result, so the passage lands with the step, like a block edit (with a sleeptime
run's edits, at its end, when the run completes). A passage filed by a run carries the run's
id and the filing agent's; a sleeptime agent of a group with ``sleeptime_archival_insert``
files into the primary's own archive.
"""

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import service as agents
from app.agents.repository import AgentRepository
from app.archival import service
from app.archival.models import Archive
from app.archival.repository import PassageFilter
from app.archival.schemas import MAX_TAGS, MAX_TEXT, PassageCreate
from app.auth.deps import Actor
from app.kit.db import Database
from app.kit.errors import AppError
from app.providers.registry import ProviderRegistry
from app.tools import server
from app.tools.result import ToolResult, failed, ok
from app.tools.run import RunnerResources
from app.tools.toolset import ExternalContext, ExternalHandler

DEFAULT_TOP_K = 5
MAX_TOP_K = 50


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _tags(args: Mapping[str, Any]) -> list[str]:
    tags = args.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise _Refused("Error: `tags` must be a list of non-empty strings.")
    if len(tags) > MAX_TAGS or any("\x00" in t or len(t) > 255 for t in tags):
        raise _Refused(f"Error: at most {MAX_TAGS} tags of up to 255 characters each.")
    return tags


def _time(args: Mapping[str, Any], name: str) -> datetime | None:
    value = args.get(name)
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise _Refused(f"Error: `{name}` is not an ISO 8601 time.") from None
    return parsed if parsed.tzinfo else parsed.astimezone()


class ArchivalTools:
    def __init__(self, db: Database, deps: service.Deps) -> None:
        self._db = db
        self._deps = deps

    async def _archives(self, ctx: ExternalContext) -> list[Archive]:
        async with self._db.session(write=False) as session:
            actor = Actor(organization_id=ctx.organization_id)
            agent = await agents.get(session, actor, ctx.agent_id or "")
            return await service.agent_archives(session, actor, agent)

    async def insert(self, ctx: ExternalContext, args: dict[str, Any]) -> ToolResult:
        """Embed now (no transaction open); file the passage where the step's result is
        stored (``ToolResult.write``): with the step, or with a sleeptime run's edits."""
        content = args.get("content")
        if not isinstance(content, str) or not content.strip() or "\x00" in content:
            return failed("Error: `content` must be a non-empty string.")
        if len(content) > MAX_TEXT:
            return failed(f"Error: `content` is longer than {MAX_TEXT} characters.")
        try:
            item = PassageCreate(text=content, tags=_tags(args))
            actor = Actor(organization_id=ctx.organization_id)
            async with self._db.session(write=False) as session:
                owner_id = await service.filing_agent(
                    session, actor, ctx.agent_id or "", ctx.run_id
                )
                owner = await agents.get(session, actor, owner_id)
                handle = await service.own_embedding(session, actor, owner)
            embedded = await service.embed(self._deps, handle, [content])
        except _Refused as exc:
            return failed(exc.message)
        except AppError as exc:
            return failed(f"Error: {exc.message}")

        async def file(session: AsyncSession) -> None:
            owner = await AgentRepository(session, actor.organization_id).get(owner_id)
            if owner is None:
                return  # the agent was deleted meanwhile: there is no archive to file into
            archive = await service.default_archive(session, actor, owner)
            await service.store(
                session, actor, archive, [item], embedded, agent_id=ctx.agent_id, run_id=ctx.run_id
            )

        return ToolResult("success", "None", write=file)

    async def search(self, ctx: ExternalContext, args: dict[str, Any]) -> ToolResult:
        query = args.get("query")
        if not isinstance(query, str) or "\x00" in query:
            return failed("Error: `query` must be a string.")
        top_k = args.get("top_k") or DEFAULT_TOP_K
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            return failed("Error: `top_k` must be a positive integer.")
        mode = args.get("tag_match_mode") or "any"
        if mode not in ("any", "all"):
            return failed("Error: `tag_match_mode` must be `any` or `all`.")
        try:
            tags = _tags(args)
            start, end = _time(args, "start_datetime"), _time(args, "end_datetime")
            archives = await self._archives(ctx)
            vectors = await service.query_vectors(self._deps, archives, query)
            where = PassageFilter([a.id for a in archives], tags, mode == "all", start, end)
            actor = Actor(organization_id=ctx.organization_id)
            async with self._db.session(write=False) as session:
                found = await service.search(
                    session, actor, archives, query, vectors, where, min(top_k, MAX_TOP_K)
                )
        except _Refused as exc:
            return failed(exc.message)
        except AppError as exc:
            return failed(f"Error: {exc.message}")
        results = [
            {"timestamp": p.created_at.isoformat(), "content": p.text, "tags": p.tags}
            for p, _ in found.hits
        ]
        return ok(json.dumps(results, ensure_ascii=False))


@server.register
async def _archival_tools(resources: RunnerResources) -> dict[str, ExternalHandler]:
    if resources.db is None:
        return {}
    deps = service.Deps(
        registry=ProviderRegistry(resources.settings, resources.http),
        http=resources.http,
        settings=resources.settings,
    )
    tools = ArchivalTools(resources.db, deps)
    return {"archival_memory_insert": tools.insert, "archival_memory_search": tools.search}
