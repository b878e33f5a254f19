"""The database's rules on runs follow each kind's policy, never a list of kinds: a kind the
schema has never heard of is held by the flags its runs carry (``turn``, ``joins``), so a new
kind needs its policy and its executor, and no migration."""

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.kit import migrate
from app.runs.models import Run
from tests.helpers import create_agent
from tests.observability.helpers import insert_run
from tests.sleeptime.test_sleeptime_runs import AppMaker

NEW_KIND = "review"  # declared nowhere


def test_no_index_on_runs_names_a_kind() -> None:
    predicates = {
        index.name: str(index.dialect_options["sqlite"]["where"])
        for index in Run.__table__.indexes
        if index.dialect_options["sqlite"]["where"] is not None
    }
    assert len(predicates) >= 6
    assert not [name for name, where in predicates.items() if "kind" in where], predicates


def _as(flags: dict[str, bool], status: str) -> dict[str, Any]:
    running = {"lease_owner": "api:1:x", "attempts": 1} if status == "running" else {}
    return {"kind": NEW_KIND, "status": status, "turn": False, "joins": False, **flags, **running}


@pytest.mark.parametrize(
    ("flags", "status"),
    [
        ({"turn": True}, "created"),
        ({"turn": True}, "running"),
        ({"joins": True}, "created"),
        ({"joins": True}, "running"),
    ],
)
async def test_a_new_kind_is_held_by_its_flags(
    make_app: AppMaker, flags: dict[str, bool], status: str
) -> None:
    app, client = await make_app(dispatcher=False)
    agent = await create_agent(client)
    await insert_run(app.state.db, agent["id"], **_as(flags, status))
    with pytest.raises(IntegrityError):
        await insert_run(app.state.db, agent["id"], **_as(flags, status))
    # Without the flags nothing holds such runs: two of each may coexist.
    for _ in range(2):
        await insert_run(app.state.db, agent["id"], **_as({}, status))


async def test_runs_made_before_the_flags_get_those_of_their_kinds(
    make_app: AppMaker,
) -> None:
    """Downgraded to the revision before the flags and upgraded again, each run gets its
    kind's flags from the upgrade (the case of a database written by an older version)."""
    app, client = await make_app(dispatcher=False)
    db = app.state.db
    agent = await create_agent(client)
    for kind in ("foreground", "async", "sleeptime"):
        await insert_run(db, agent["id"], kind=kind, status="completed")
    await migrate.downgrade(db.engine, "0009")
    await migrate.upgrade(db.engine)
    async with db.session() as session:
        rows = (await session.execute(select(Run.kind, Run.turn, Run.joins))).all()
    assert sorted(rows) == [
        ("async", True, False),
        ("foreground", True, False),
        ("sleeptime", False, True),
    ]
