"""The stored vectors of an archive, kept in this process as one contiguous matrix and
brought up to date by what changed, not reloaded.

Reading and decoding 100,000 stored vectors takes a second or more, so a process keeps each
archive's vectors (one entry per archive and model) with the archive's ``passages_version``
and ``passages_deleted`` counters it reflects. When the counters have moved, only the
passages written since (``passages.written_version`` above the entry's) are read and
appended; when passages were deleted, the ids still stored are read (no vectors) and the
others dropped. So no process ranks with vectors another process has since changed, and a
write costs the next search a few rows, not the archive.

Ranking is exact cosine similarity up to ``EXACT_UP_TO`` rows. Above that, reading every
float32 row per query costs tens of milliseconds (the memory traffic of 1.5 KB a row), so a
first pass ranks the rows' sign bits (one bit per value, centred on the archive's mean
vector, 48 bytes a row at 384 values) by Hamming distance, and the best ``RESCORE`` rows (at
least ``RESCORE_FACTOR`` times those asked for) are ranked again by exact cosine. The
order returned is always by exact cosine; the bit pass can only miss a row whose bits
disagree with the query far more than its float values do (the benchmark reports the recall).

The cache holds at most ``MAX_VECTORS`` vectors; the least recently used archives leave first.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy loads with the first search, not at start-up
    import numpy as np
    import numpy.typing as npt

# A product of one query with a few thousand rows is over before a pool of BLAS threads
# wakes; on a busy machine waking them costs more than the product (the ranking runs on the
# event loop, so one thread is all it should take). Set before numpy first loads; an
# operator's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

MAX_VECTORS = 400_000
EXACT_UP_TO = 20_000
RESCORE = 2_000
RESCORE_FACTOR = 20

Key = tuple[str, str, str, int]  # organization, archive, model, dimension


class Matrix:
    """Unit-length rows of one model's vectors of one archive, with their passage ids, and
    their sign bits for the first pass. Rows are appended in place (the arrays keep a
    quarter spare, so only one write in many copies them) and dropped by compaction."""

    def __init__(self, dim: int) -> None:
        import numpy as np  # noqa: PLC0415 (numpy loads with the first search)

        self.dim = dim
        self.ids: list[str] = []
        self.index: dict[str, int] = {}
        self.rows: npt.NDArray[np.float32] = np.zeros((0, dim), dtype=np.float32)
        self.words = (dim + 63) // 64
        self.bits: npt.NDArray[np.uint64] = np.zeros((self.words, 0), dtype=np.uint64)
        self.center: npt.NDArray[np.float32] | None = None
        self.version = -1  # the archive's passages_version these rows reflect (-1: none)
        self.deleted = 0  # and its passages_deleted

    def __len__(self) -> int:
        return len(self.ids)

    def append(self, stored: Sequence[tuple[str, bytes]]) -> None:
        """Add the vectors of passages not yet present (``stored``: id and float32 bytes)."""
        import numpy as np  # noqa: PLC0415

        fresh = [(pid, blob) for pid, blob in stored if len(blob) == self.dim * 4]
        fresh = [(pid, blob) for pid, blob in dict(fresh).items() if pid not in self.index]
        if not fresh:
            return
        raw = np.frombuffer(b"".join(b for _, b in fresh), dtype="<f4").reshape(-1, self.dim)
        n, grown = len(self.ids), len(self.ids) + len(fresh)
        if grown > self.rows.shape[0]:
            capacity = grown + grown // 4 + 64  # room for the writes to come
            self.rows = _resized(self.rows, capacity, n, axis=0)
            self.bits = _resized(self.bits, capacity, n, axis=1)
        norms = np.sqrt(np.einsum("ij,ij->i", raw, raw))[:, None]
        norms[norms == 0] = np.inf
        np.divide(raw, norms, out=self.rows[n:grown])
        if self.center is None and grown >= 64:  # fixed once: old and new bits stay comparable
            self.center = self.rows[:grown].mean(axis=0, dtype=np.float32)
            self.bits[:, :n] = self._sign_bits(self.rows[:n])
        self.bits[:, n:grown] = self._sign_bits(self.rows[n:grown])
        for position, (pid, _) in enumerate(fresh, start=n):
            self.ids.append(pid)
            self.index[pid] = position

    def keep(self, present: Collection[str]) -> None:
        """Drop the rows whose passage is not in ``present`` (deleted since)."""
        import numpy as np  # noqa: PLC0415

        kept = [i for i, pid in enumerate(self.ids) if pid in present]
        if len(kept) == len(self.ids):
            return
        positions = np.asarray(kept, dtype=np.int64)
        self.rows = self.rows[positions]
        self.bits = np.ascontiguousarray(self.bits[:, positions])
        self.ids = [self.ids[i] for i in kept]
        self.index = {pid: i for i, pid in enumerate(self.ids)}

    def _sign_bits(self, rows: npt.NDArray[np.float32]) -> npt.NDArray[np.uint64]:
        import numpy as np  # noqa: PLC0415

        above = rows > (self.center if self.center is not None else 0)
        if self.dim != self.words * 64:
            above = np.pad(above, ((0, 0), (0, self.words * 64 - self.dim)))
        packed = np.packbits(above, axis=1).view(np.uint64)
        return np.ascontiguousarray(packed.T)

    def scored(
        self, query: npt.NDArray[np.float32], k: int, only: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """The ``k`` rows most similar to unit-length ``query`` (among ``only`` if given)."""
        import numpy as np  # noqa: PLC0415

        n = len(self.ids)
        if only is not None:
            chosen = np.fromiter((self.index[p] for p in only if p in self.index), np.int64)
        else:
            chosen = None
        size = n if chosen is None else len(chosen)
        if size == 0 or k <= 0:
            return []
        if size <= EXACT_UP_TO:
            positions = np.arange(n) if chosen is None else chosen
            rows = self.rows[:n] if chosen is None else self.rows[chosen]
        else:
            positions = self._candidates(query, max(RESCORE, k * RESCORE_FACTOR), chosen)
            rows = self.rows[positions]
        scores = rows @ query
        k = min(k, len(positions))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.ids[int(positions[i])], float(scores[i])) for i in best]

    def _candidates(
        self, query: npt.NDArray[np.float32], count: int, chosen: npt.NDArray[np.int64] | None
    ) -> npt.NDArray[np.int64]:
        """Positions of the ``count`` rows whose sign bits are nearest the query's."""
        import numpy as np  # noqa: PLC0415

        n = len(self.ids)
        q = self._sign_bits(query.reshape(1, -1))[:, 0]
        distance = np.zeros(n, dtype=np.uint16)
        scratch = np.empty(n, dtype=np.uint64)
        for word in range(self.words):
            np.bitwise_xor(self.bits[word, :n], q[word], out=scratch)
            distance += np.bitwise_count(scratch)
        if chosen is not None:
            allowed = np.zeros(n, dtype=bool)
            allowed[chosen] = True
            distance[~allowed] = np.iinfo(np.uint16).max
            n = len(chosen)
        count = min(count, n)
        return np.argpartition(distance, count - 1)[:count].astype(np.int64)


def _resized(array: npt.NDArray[Any], capacity: int, used: int, axis: int) -> npt.NDArray[Any]:
    import numpy as np  # noqa: PLC0415

    shape = list(array.shape)
    shape[axis] = capacity
    grown = np.zeros(shape, dtype=array.dtype)
    if axis == 0:
        grown[:used] = array[:used]
    else:
        grown[:, :used] = array[:, :used]
    return grown


class VectorCache:
    def __init__(self, max_vectors: int = MAX_VECTORS) -> None:
        self._entries: OrderedDict[Key, Matrix] = OrderedDict()
        self._max = max_vectors

    def get(self, key: Key) -> Matrix | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: Key, matrix: Matrix) -> None:
        """Keep ``matrix`` (or a newer state of it), evicting the least recently used."""
        self._entries[key] = matrix
        self._entries.move_to_end(key)
        size = sum(len(m) for m in self._entries.values())
        while size > self._max and self._entries:
            _, evicted = self._entries.popitem(last=False)
            size -= len(evicted)

    def clear(self) -> None:
        self._entries.clear()


CACHE = VectorCache()


def top(
    query: Sequence[float],
    matrices: Sequence[Matrix],
    k: int,
    only: Collection[str] | None = None,
) -> list[str]:
    """Ids of the ``k`` rows most similar to ``query`` (cosine) across ``matrices``, among
    the passages ``only`` names if given."""
    import numpy as np  # noqa: PLC0415 (numpy loads with the first search)

    q = np.asarray(query, dtype=np.float32)
    norm = float(np.linalg.norm(q))
    if k <= 0 or norm == 0:
        return []
    q = q / norm
    found = [hit for m in matrices if len(m) for hit in m.scored(q, k, only)]
    found.sort(key=lambda hit: -hit[1])
    return [pid for pid, _ in found[:k]]
