"""Archival search latency: top-k over 1,000, 10,000 and 100,000 passages in one archive.

    uv run python scripts/bench_archival.py [--db sqlite|postgresql|both] [--sizes 1000,10000]
                                            [--dim 384] [--queries 20] [--top-k 10]

For each database it makes a fresh one (a temporary SQLite file, or a new PostgreSQL database
on the server of ``SLEEPTIME_TEST_POSTGRES_URL``), migrates it, fills one archive up to each
size with passages of random words and random unit vectors of ``--dim`` values, and times
``app.archival.service.search`` in this process, the way the routes call it once the query is
embedded (the embedding call is the provider's time, not ours): hybrid (vectors and full
text, fused) and full text alone. It prints the median and the 95th percentile per size, the
first hybrid search after the archive changed (it reads and decodes the archive's vectors;
later ones find them cached, see ``app.archival.vectors``) and which vector backend ran.
Figures from one run on a shared machine; nothing is asserted.
"""

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid

from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.archival import service
from app.archival.models import Archive
from app.archival.repository import PassageFilter
from app.archival.schemas import PassageCreate
from app.auth.deps import Actor
from app.config import LogFormat
from app.kit import migrate
from app.kit.db import Database
from app.kit.ids import DEFAULT_ORG_ID, Prefix, new_id
from app.kit.logging import configure_logging
from app.providers.embeddings import Embedded

ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
MODEL = "openai/bench-embedding"
ACTOR = Actor(organization_id=DEFAULT_ORG_ID)
BATCH = 1000
VOCABULARY = [f"w{i}" for i in range(5000)]


def out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def unit(rng: random.Random, dim: int) -> list[float]:
    values = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choices(VOCABULARY, k=12))


async def admin(sql: str) -> None:
    db = Database(ADMIN_URL)
    try:
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
    finally:
        await db.dispose()


async def fill(db: Database, archive: Archive, count: int, dim: int, rng: random.Random) -> None:
    for start in range(0, count, BATCH):
        items = [PassageCreate(text=sentence(rng)) for _ in range(min(BATCH, count - start))]
        embedded = Embedded(MODEL, [unit(rng, dim) for _ in items])
        async with db.session() as session:
            await service.store(session, ACTOR, archive, items, embedded)


async def time_searches(
    db: Database, archive: Archive, dim: int, queries: int, top_k: int, rng: random.Random
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"hybrid": [], "fulltext": []}
    where = PassageFilter([archive.id])
    for _ in range(queries):
        query = " ".join(rng.choices(VOCABULARY, k=3))
        for mode, vectors in (("hybrid", {MODEL: unit(rng, dim)}), ("fulltext", {})):
            started = time.perf_counter()
            async with db.session(write=False) as session:
                await service.search(session, ACTOR, [archive], query, vectors, where, top_k)
            times[mode].append((time.perf_counter() - started) * 1000)
    return times


async def bench(url: str, label: str, sizes: list[int], args: argparse.Namespace) -> None:
    db = Database(url)
    rng = random.Random(7)  # noqa: S311 - benchmark data, not a secret
    try:
        await migrate.upgrade(db.engine)
        archive = Archive(
            id=new_id(Prefix.archive),
            organization_id=DEFAULT_ORG_ID,
            name="bench",
            embedding=MODEL,
            metadata_={},
        )
        async with db.session() as session:
            session.add(archive)
        filled = 0
        out(f"\n{label}: vectors ranked exactly in process (no vector extension loadable)")
        head = f"{'passages':>9} {'hybrid p50':>11} {'p95':>8} {'fulltext p50':>13} {'p95':>8}"
        out(f"{head} {'first (cold)':>13}")
        for size in sizes:
            started = time.perf_counter()
            await fill(db, archive, size - filled, args.dim, rng)
            filled = size
            load = time.perf_counter() - started
            if db.engine.dialect.name == "postgresql":  # as autovacuum would, in time
                async with db.engine.connect() as conn:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    await conn.execute(text("ANALYZE passages"))
            cold = (await time_searches(db, archive, args.dim, 1, args.top_k, rng))["hybrid"][0]
            times = await time_searches(db, archive, args.dim, args.queries, args.top_k, rng)
            cells = []
            for mode in ("hybrid", "fulltext"):
                ordered = sorted(times[mode])
                p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
                cells.append(f"{statistics.median(ordered):9.1f}ms {p95:6.1f}ms")
            out(f"{size:>9} {cells[0]:>20} {cells[1]:>22} {cold:9.1f}ms   (filled in {load:.0f}s)")
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--top-k", type=int, default=10)
    args = parser.parse_args()
    configure_logging("WARNING", LogFormat.console)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    out(f"top-{args.top_k} search, {args.dim}-dimensional vectors, {args.queries} queries/size")
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            await bench(f"sqlite+aiosqlite:///{tmp}/bench.db", "SQLite", sizes, args)
    if args.db in ("postgresql", "both"):
        name = f"sleeptime_bench_{uuid.uuid4().hex[:8]}"
        await admin(f'CREATE DATABASE "{name}"')
        try:
            url = make_url(ADMIN_URL).set(database=name).render_as_string(False)
            await bench(url, "PostgreSQL", sizes, args)
        finally:
            await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
