"""Archival search latency: top-k over 1,000, 10,000 and 100,000 passages in one archive.

    uv run python scripts/bench_archival.py [--db sqlite|postgresql|both] [--sizes 1000,10000]
                                            [--dim 384] [--queries 100] [--top-k 10]

For each database it makes a fresh one (a temporary SQLite file, or a new PostgreSQL database
on the local server), migrates it, fills one archive up to each size with passages of random
words and unit vectors of ``--dim`` values drawn around 1,000 topics (as embeddings of real
text cluster), and times ``app.archival.service.search`` in this process, the way the routes
call it once the query is embedded (the embedding call is the provider's time, not ours):
hybrid (vectors and full text, fused) and full text alone, with queries near a topic. It
prints per size the median and the 99th percentile, the median of the vector ranking alone
(in this process, no database), the first search after one passage was inserted (the cache
reads that passage only), the first search of a process that has none of the archive's
vectors yet ("cold"), the recall of the vector ranking's top ``--top-k`` against exact cosine
ranking, and which vector backend ran. Figures from one run on a shared machine;
nothing is asserted.
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

from app.archival import service, vectors
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

BACKEND = (
    f"numpy in this process (exact cosine up to {vectors.EXACT_UP_TO:,} rows; above, a"
    f" sign-bit pass then exact cosine over the best {vectors.RESCORE:,})"
)
ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
MODEL = "openai/bench-embedding"
ACTOR = Actor(organization_id=DEFAULT_ORG_ID)
BATCH = 1000
VOCABULARY = [f"w{i}" for i in range(5000)]
TOPICS = 1000
SPREAD = 0.07  # per value: a passage's cosine to its topic is about 0.6


def out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def unit(rng: random.Random, dim: int) -> list[float]:
    values = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


def near(rng: random.Random, topics: list[list[float]]) -> list[float]:
    values = [v + rng.gauss(0.0, SPREAD) for v in rng.choice(topics)]
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


async def fill(
    db: Database, archive: Archive, count: int, topics: list[list[float]], rng: random.Random
) -> None:
    for start in range(0, count, BATCH):
        items = [PassageCreate(text=sentence(rng)) for _ in range(min(BATCH, count - start))]
        embedded = Embedded(MODEL, [near(rng, topics) for _ in items])
        async with db.session() as session:
            await service.store(session, ACTOR, archive, items, embedded)


async def time_searches(
    db: Database,
    archive: Archive,
    topics: list[list[float]],
    queries: int,
    top_k: int,
    rng: random.Random,
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"hybrid": [], "fulltext": [], "recall": [], "ranking": []}
    where = PassageFilter([archive.id])
    for _ in range(queries):
        query = " ".join(rng.choices(VOCABULARY, k=3))
        vector = near(rng, topics)
        for mode, by_model in (("hybrid", {MODEL: vector}), ("fulltext", {})):
            started = time.perf_counter()
            async with db.session(write=False) as session:
                await service.search(session, ACTOR, [archive], query, by_model, where, top_k)
            times[mode].append((time.perf_counter() - started) * 1000)
        found, took = recall(archive, vector, top_k)
        times["recall"].append(found)
        times["ranking"].append(took)
    return times


def recall(archive: Archive, vector: list[float], top_k: int) -> tuple[float, float]:
    """The share of the exact top ``top_k`` (cosine over every row) the vector ranking found,
    and the time that ranking took alone (ms; the service asks it for 100 candidates)."""
    import numpy as np  # noqa: PLC0415

    key = (DEFAULT_ORG_ID, archive.id, MODEL, len(vector))
    matrix = vectors.CACHE.get(key)
    if matrix is None:
        return float("nan"), float("nan")
    started = time.perf_counter()
    vectors.top(vector, [matrix], 100)
    took = (time.perf_counter() - started) * 1000
    q = np.asarray(vector, dtype=np.float32)
    scores = matrix.rows[: len(matrix)] @ (q / np.linalg.norm(q))
    exact = {matrix.ids[int(i)] for i in np.argsort(-scores)[:top_k]}
    return len(exact & set(vectors.top(vector, [matrix], top_k))) / len(exact), took


async def once(
    db: Database,
    archive: Archive,
    topics: list[list[float]],
    args: argparse.Namespace,
    rng: random.Random,
) -> float:
    return (await time_searches(db, archive, topics, 1, args.top_k, rng))["hybrid"][0]


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{statistics.median(ordered):6.1f} / {p99:5.1f} ms"


async def bench(url: str, label: str, sizes: list[int], args: argparse.Namespace) -> None:
    db = Database(url)
    rng = random.Random(7)  # noqa: S311 - benchmark data, not a secret
    topics = [unit(rng, args.dim) for _ in range(TOPICS)]
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
        out(f"\n{label}: {BACKEND}")
        out(
            f"{'passages':>9} {'hybrid p50 / p99':>18} {'full text p50 / p99':>20}"
            f" {'ranking p50':>12} {'after insert':>13} {'cold':>9} {'recall':>7}"
        )
        for size in sizes:
            started = time.perf_counter()
            await fill(db, archive, size - filled, topics, rng)
            filled = size
            load = time.perf_counter() - started
            if db.engine.dialect.name == "postgresql":  # as autovacuum would, in time
                async with db.engine.connect() as conn:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    await conn.execute(text("ANALYZE passages"))
            vectors.CACHE.clear()
            cold = await once(db, archive, topics, args, rng)
            times = await time_searches(db, archive, topics, args.queries, args.top_k, rng)
            await fill(db, archive, 1, topics, rng)
            filled += 1
            after_insert = await once(db, archive, topics, args, rng)
            out(
                f"{size:>9} {percentiles(times['hybrid']):>18} {percentiles(times['fulltext']):>20}"
                f" {statistics.median(times['ranking']):9.1f} ms"
                f" {after_insert:10.1f} ms {cold:6.0f} ms {statistics.mean(times['recall']):7.3f}"
                f"   (filled in {load:.0f}s)"
            )
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--top-k", type=int, default=10)
    args = parser.parse_args()
    configure_logging("WARNING", LogFormat.console)
    import numpy  # noqa: F401, PLC0415 - loaded before timing (the server loads it on first search)

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
