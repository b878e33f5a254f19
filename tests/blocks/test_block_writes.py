"""The block write path under concurrency, and at the service level."""

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from app.auth.deps import Actor
from app.blocks import service
from app.blocks.models import Block
from app.blocks.repository import BlockRepository
from app.blocks.schemas import BlockCreate, BlockUpdate
from app.kit.db import Database
from app.kit.errors import BlockLimitExceeded
from app.kit.ids import DEFAULT_ORG_ID, Prefix, new_id
from app.kit.pagination import Order, PageParams
from tests.helpers import create_block, ok

ACTOR = Actor(organization_id=DEFAULT_ORG_ID)


async def test_concurrent_edits_are_serialised_not_lost(client: httpx.AsyncClient) -> None:
    block = await create_block(client, label="log", value="", limit=10_000)
    values = [f"edit-{i}" for i in range(20)]
    responses = await asyncio.gather(
        *(client.patch(f"/v1/blocks/{block['id']}", json={"value": v}) for v in values)
    )
    assert [r.status_code for r in responses] == [200] * len(values)
    history = await ok(client.get(f"/v1/blocks/{block['id']}/history", params={"limit": 100}))
    assert sorted(h["version"] for h in history) == list(range(1, len(values) + 2))
    assert sorted(h["value"] for h in history if h["version"] > 1) == sorted(values)
    final = await ok(client.get(f"/v1/blocks/{block['id']}"))
    assert final["version"] == len(values) + 1
    assert final["value"] == history[0]["value"]


async def test_concurrent_creates(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(
        *(client.post("/v1/blocks/", json={"label": f"b{i}", "value": "x"}) for i in range(25))
    )
    assert [r.status_code for r in responses] == [200] * 25
    assert len(await ok(client.get("/v1/blocks/", params={"limit": 100}))) == 25


async def test_write_path_records_the_source(db: Database) -> None:
    async with db.session() as session:
        block = await service.create(
            session, ACTOR, BlockCreate(label="human", value="a"), default_limit=100
        )
    async with db.session() as session:
        repo = BlockRepository(session, DEFAULT_ORG_ID)
        loaded = await repo.get(block.id, for_update=True)
        assert loaded is not None
        source = service.ChangeSource(actor_type="agent", agent_id="agent-x", run_id="run-y")
        await service.write(repo, loaded, BlockUpdate(value="b"), source)
    async with db.session() as session:
        entries = await service.history(
            session, ACTOR, block.id, limit=10, order=Order.asc, before=None, after=None
        )
    assert [(e.version, e.value, e.actor_type, e.agent_id, e.run_id) for e in entries] == [
        (1, "a", "api", None, None),
        (2, "b", "agent", "agent-x", "run-y"),
    ]


async def test_write_path_never_truncates(db: Database) -> None:
    async with db.session() as session:
        block = await service.create(
            session, ACTOR, BlockCreate(label="h", value="abc", limit=5), default_limit=100
        )

    async def overwrite() -> None:
        async with db.session() as session:
            repo = BlockRepository(session, DEFAULT_ORG_ID)
            loaded = await repo.get(block.id, for_update=True)
            assert loaded is not None
            await service.write(repo, loaded, BlockUpdate(value="abcdef"), service.API_CHANGE)

    with pytest.raises(BlockLimitExceeded):
        await overwrite()
    async with db.session() as session:
        again = await BlockRepository(session, DEFAULT_ORG_ID).get(block.id)
        assert again is not None
        assert (again.value, again.version) == ("abc", 1)


async def test_paging_is_total_when_timestamps_tie(db: Database) -> None:
    """Rows created in the same microsecond still page without skips or repeats."""
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    async with db.session() as session:
        ids = sorted(new_id(Prefix.block) for _ in range(7))
        session.add_all(
            Block(
                id=i,
                organization_id=DEFAULT_ORG_ID,
                label=i[-4:],
                value="",
                limit=10,
                read_only=False,
                metadata_={},
                tags=[],
                version=1,
                created_at=stamp,
                updated_at=stamp,
            )
            for i in ids
        )
    for order in (Order.asc, Order.desc):
        seen: list[str] = []
        cursor: str | None = None
        while True:
            async with db.session(write=False) as session:
                page = await BlockRepository(session, DEFAULT_ORG_ID).list_page(
                    PageParams(limit=3, order=order, after=cursor)
                )
            if not page:
                break
            seen += [b.id for b in page]
            cursor = page[-1].id
        assert seen == (ids if order is Order.asc else ids[::-1])
