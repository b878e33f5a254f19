"""The in-process vectors of an archive: ranked exactly or by sign bits then exactly, kept up
to date by what was written and deleted since, and narrowed by filters without re-reading."""

import random
from collections.abc import Iterator

import numpy as np
import pytest

from app.archival import service, vectors
from app.archival.models import Archive
from app.archival.repository import PassageFilter, PassageRepository
from app.archival.schemas import PassageCreate
from app.archival.vectors import CACHE, Matrix, top
from app.auth.deps import Actor
from app.kit.db import Database
from app.kit.ids import DEFAULT_ORG_ID, Prefix, new_id
from app.providers.embeddings import Embedded

MODEL = "openai/test-embedding"
ACTOR = Actor(organization_id=DEFAULT_ORG_ID)
DIM = 16


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    CACHE.clear()
    yield
    CACHE.clear()


def _unit(rng: random.Random, dim: int = DIM) -> list[float]:
    values = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


def _blob(vector: list[float]) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def _exact(query: list[float], stored: dict[str, list[float]], k: int) -> list[str]:
    scores = {pid: float(np.dot(query, v)) for pid, v in stored.items()}
    return sorted(scores, key=lambda pid: -scores[pid])[:k]


def test_the_bit_pass_then_exact_rescoring_ranks_like_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(3)
    stored = {f"p{i}": _unit(rng) for i in range(300)}
    matrix = Matrix(DIM)
    matrix.append([(pid, _blob(v)) for pid, v in stored.items()])
    query = _unit(rng)
    exact = top(query, [matrix], 10)
    assert exact == _exact(query, stored, 10)

    monkeypatch.setattr(vectors, "EXACT_UP_TO", 0)  # every search takes the bit pass
    monkeypatch.setattr(vectors, "RESCORE", 300)  # that keeps every row: same answer
    assert top(query, [matrix], 10) == exact
    monkeypatch.setattr(vectors, "RESCORE", 30)  # a near copy of a row still comes first
    monkeypatch.setattr(vectors, "RESCORE_FACTOR", 1)
    near = np.asarray(stored["p42"]) + 0.05 * np.asarray(_unit(rng))
    assert top(list(near), [matrix], 1) == ["p42"]
    only = {"p1", "p2", "p3"}
    assert set(top(query, [matrix], 10, only)) == only


def test_rows_are_appended_in_place_and_dropped_by_id() -> None:
    rng = random.Random(5)
    matrix = Matrix(DIM)
    first = {f"a{i}": _unit(rng) for i in range(100)}
    matrix.append([(pid, _blob(v)) for pid, v in first.items()])
    matrix.append([("a0", _blob(_unit(rng))), ("short", b"\x00" * 8)])  # known id, bad size
    assert len(matrix) == 100
    more = {f"b{i}": _unit(rng) for i in range(50)}
    matrix.append([(pid, _blob(v)) for pid, v in more.items()])
    matrix.keep(set(first) - {"a7"} | set(more))
    stored = {**first, **more}
    del stored["a7"]
    assert len(matrix) == 149
    query = _unit(rng)
    assert top(query, [matrix], 5) == _exact(query, stored, 5)


async def _store(
    db: Database,
    archive: Archive,
    vecs: list[list[float]],
    name: str,
    tags: list[str] | None = None,
) -> None:
    items = [PassageCreate(text=f"{name} {i}", tags=tags) for i in range(len(vecs))]
    async with db.session() as session:
        await service.store(session, ACTOR, archive, items, Embedded(MODEL, vecs))


async def _search(
    db: Database, archive: Archive, query: list[float], tags: tuple[str, ...] = ()
) -> list[str]:
    async with db.session(write=False) as session:
        found = await service.search(
            session,
            ACTOR,
            [archive],
            "unmatched",
            {MODEL: query},
            PassageFilter([archive.id], tags),
            3,
        )
    return [p.text for p, _ in found.hits]


async def test_writes_since_the_last_search_are_read_not_the_archive(db: Database) -> None:
    rng = random.Random(11)
    archive = Archive(
        id=new_id(Prefix.archive), organization_id=DEFAULT_ORG_ID, name="a", embedding=MODEL
    )
    async with db.session() as session:
        session.add(archive)
    await _store(db, archive, [_unit(rng) for _ in range(20)], "old")
    target = _unit(rng)
    assert "new 0" not in (await _search(db, archive, target))[:1]
    matrix = CACHE.get((DEFAULT_ORG_ID, archive.id, MODEL, DIM))
    assert matrix is not None and len(matrix) == 20

    await _store(db, archive, [target], "new", ["new"])  # as another process would
    assert (await _search(db, archive, target))[0] == "new 0"
    assert CACHE.get((DEFAULT_ORG_ID, archive.id, MODEL, DIM)) is matrix  # updated, not remade
    assert len(matrix) == 21
    assert await _search(db, archive, target, tags=("new",)) == ["new 0"]

    async with db.session() as session:
        repo = PassageRepository(session, DEFAULT_ORG_ID)
        newest = await repo.recent_ids(PassageFilter([archive.id]), 1)
        passage = await repo.get(newest[0], [archive.id])
        assert passage is not None
        await repo.delete(passage)
    assert "new 0" not in (await _search(db, archive, target))[:1]
    assert len(matrix) == 20
