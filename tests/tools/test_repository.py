"""``load_toolset`` and ``upsert``: the registry functions a step and the MCP code use."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from app.auth.models import Organization
from app.kit.db import Database
from app.kit.errors import BadRequest
from app.kit.ids import DEFAULT_ORG_ID, Prefix, new_id
from app.tools.builtin import BUILTIN_TOOLS
from app.tools.repository import load_toolset, upsert
from app.tools.toolset import ToolKind

SCHEMA = {"name": "roll", "description": "Roll a die.", "parameters": {"type": "object"}}


@contextmanager
def counting(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def test_builtins_need_no_query(db: Database) -> None:
    async with db.session() as session:
        await session.connection()
        with counting(db) as statements:
            toolset = await load_toolset(
                session,
                DEFAULT_ORG_ID,
                ["send_message", "memory_insert", "send_message", "run_code", "web_search"],
            )
        assert statements == []
    assert list(toolset) == ["send_message", "memory_insert", "run_code", "web_search"]
    assert toolset["send_message"].kind is ToolKind.session
    # The server built-ins run outside the step's transaction, like registered tools.
    assert toolset["run_code"].kind is ToolKind.server and toolset["run_code"].external
    assert toolset["web_search"].kind is ToolKind.server
    assert toolset["send_message"].id == BUILTIN_TOOLS["send_message"].id


async def test_registered_tools_load_by_name_per_organization(db: Database) -> None:
    other = new_id(Prefix.org)
    async with db.session() as session:
        session.add(Organization(id=other, name=f"other-{other}"))
        await session.flush()
        roll, created = await upsert(
            session,
            DEFAULT_ORG_ID,
            "roll",
            source_type="python",
            source_code="def roll() -> int:\n    return 4\n",
            json_schema=SCHEMA,
            pip_requirements=[{"name": "numpy"}],
            default_requires_approval=True,
        )
        assert created
        await upsert(
            session,
            DEFAULT_ORG_ID,
            "remote",
            tool_type="external_mcp",
            json_schema={**SCHEMA, "name": "remote"},
            metadata_={"mcp": {"server_name": "weather"}},
        )
        await upsert(session, other, "only_there", json_schema={**SCHEMA, "name": "only_there"})
        await session.commit()

    async with db.session() as session:
        toolset = await load_toolset(
            session, DEFAULT_ORG_ID, ["remote", "send_message", "roll", "only_there", "nope"]
        )
    assert list(toolset) == ["remote", "send_message", "roll"]
    assert toolset["roll"].kind is ToolKind.python
    assert toolset["roll"].id == roll.id
    assert toolset["roll"].source_code == "def roll() -> int:\n    return 4\n"
    assert toolset["roll"].pip_requirements == ({"name": "numpy"},)
    assert toolset["roll"].default_requires_approval
    assert toolset["roll"].json_schema == SCHEMA
    assert toolset["remote"].kind is ToolKind.mcp
    assert toolset["remote"].mcp_server_name == "weather"


async def test_upsert_updates_in_place_and_refuses_builtin_names(db: Database) -> None:
    async with db.session() as session:
        first, _ = await upsert(session, DEFAULT_ORG_ID, "roll", json_schema=SCHEMA, tags=["a"])
        second, created = await upsert(
            session, DEFAULT_ORG_ID, "roll", description="New.", actor_id="user-1"
        )
        assert not created
        assert second.id == first.id
        assert second.description == "New."
        assert second.tags == ["a"]
        assert second.last_updated_by_id == "user-1"
        with pytest.raises(BadRequest, match="reserved"):
            await upsert(session, DEFAULT_ORG_ID, "send_message", json_schema=SCHEMA)
        with pytest.raises(BadRequest, match="json_schema"):
            await upsert(session, DEFAULT_ORG_ID, "fresh")
        with pytest.raises(TypeError, match="colour"):
            await upsert(session, DEFAULT_ORG_ID, "roll", colour="red")
