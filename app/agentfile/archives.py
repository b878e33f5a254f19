"""Archival memory in agent files (an extension of Letta's format, written when asked):
the archives the exported agents read, with their passages and vectors."""

from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.agentfile.schemas import ArchiveFileSchema, PassageFileSchema
from app.agents.models import Agent
from app.archival import service
from app.archival.models import Archive, Passage
from app.archival.ranking import unpack
from app.archival.schemas import PassageCreate
from app.auth.deps import Actor
from app.kit.errors import BadRequest
from app.kit.ids import Prefix, new_id


def _passage(passage: Passage) -> PassageFileSchema:
    vector = unpack(passage.embedding) if passage.embedding is not None else None
    return PassageFileSchema(
        text=passage.text,
        tags=list(passage.tags),
        metadata=dict(passage.metadata_),
        created_at=passage.created_at,
        embedding=vector,
        embedding_model=passage.embedding_model if vector is not None else None,
    )


async def export_archives(
    session: AsyncSession, actor: Actor, agents: Sequence[Agent], agent_file_ids: Mapping[str, str]
) -> list[ArchiveFileSchema]:
    """Every archive the agents read, in the order the agents list them."""
    found: dict[str, ArchiveFileSchema] = {}
    for agent in agents:
        for archive, is_owner in await service.archives_of(session, actor, agent.id):
            entry = found.get(archive.id)
            if entry is None:
                passages = await service.all_passages(session, actor, archive.id)
                entry = found[archive.id] = ArchiveFileSchema(
                    id=f"archive-{len(found)}",
                    name=archive.name,
                    description=archive.description,
                    embedding=archive.embedding,
                    passages=[_passage(p) for p in passages],
                )
            entry.agent_ids.append(agent_file_ids[agent.id])
            if is_owner:
                entry.owner_agent_id = agent_file_ids[agent.id]
    return list(found.values())


async def import_archives(
    session: AsyncSession,
    actor: Actor,
    archives: Sequence[ArchiveFileSchema],
    agents: Mapping[str, Agent],
) -> None:
    """New archives for the file's, attached to the new agents (file agent id -> agent)."""
    for index, entry in enumerate(archives):
        unknown = [a for a in [*entry.agent_ids, entry.owner_agent_id] if a and a not in agents]
        if unknown:
            raise BadRequest(f"archives[{index}].agent_ids: no agent {unknown[0]!r} in the file")
        archive = Archive(
            id=new_id(Prefix.archive),
            organization_id=actor.organization_id,
            name=entry.name,
            description=entry.description,
            embedding=entry.embedding,
            metadata_={},
        )
        owner = agents[entry.owner_agent_id].id if entry.owner_agent_id else None
        linked = [agents[a].id for a in dict.fromkeys(entry.agent_ids) if a in agents]
        await service.restore_archive(session, actor, archive, linked, owner)
        items = [
            (
                PassageCreate(
                    text=p.text, tags=p.tags, metadata=p.metadata, created_at=p.created_at
                ),
                p.embedding if p.embedding_model == entry.embedding else None,
            )
            for p in entry.passages
        ]
        await service.restore_passages(session, actor, archive, items)
