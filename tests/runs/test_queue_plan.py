"""The dispatcher's queue reads find waiting runs through the queue's partial index, however
many ended runs the table holds (SQLite proves a partial index usable only from literal terms,
so the statements carry its predicate verbatim)."""

import pytest

from app.kit.db import Database, utcnow
from app.runs import lifecycle
from app.runs.repository import RunQueue
from tests.conftest import BACKEND
from tests.helpers import create_agent
from tests.observability.helpers import Statements, insert_run
from tests.sleeptime.test_sleeptime_runs import AppMaker

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="reads SQLite's query plan")


async def test_the_claim_and_the_next_due_read_use_the_queue_index(make_app: AppMaker) -> None:
    app, client = await make_app(dispatcher=False)
    db: Database = app.state.db
    agent = await create_agent(client)
    waiting = await insert_run(db, agent["id"])
    with Statements(db) as statements:
        async with db.session() as session:
            claimed = await RunQueue(session).lock_next(lifecycle.QUEUED_KINDS, utcnow())
            await RunQueue(session).next_available_at(lifecycle.QUEUED_KINDS, utcnow())
    assert claimed is not None and claimed.id == waiting
    reads = [seen for seen in statements.seen if "FROM runs" in seen[0]]
    assert len(reads) == 2, statements.seen
    for sql, params in reads:
        async with db.engine.connect() as connection:
            raw = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = [str(row[-1]) for row in raw]
        # The waiting runs come from the queue's index; a thread's running run (the claim's
        # check) is looked up by its agent, never by scanning the table.
        assert "USING INDEX ix_runs_queue" in plan[0], plan
        assert not [step for step in plan if step.strip() in {"SCAN runs", "SCAN runs_1"}], plan
