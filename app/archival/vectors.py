"""The stored vectors of an archive, decoded once and kept in this process while the
archive's passages do not change.

Exact ranking reads every vector of an archive; reading and decoding them is what costs,
not the product. An entry is keyed by the archive's ``passages_version`` (raised in the
transaction of every passage write), so a process never ranks with vectors another process
has since changed; a stale entry is simply never asked for again and ages out. The cache holds
at most ``MAX_VECTORS`` vectors; the least recently used archives leave first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads with the first search, not at start-up
    import numpy as np
    import numpy.typing as npt

MAX_VECTORS = 400_000


@dataclass(frozen=True, slots=True)
class Matrix:
    """Unit-length rows (one per passage, in ``ids`` order) of one model's vectors."""

    ids: list[str]
    rows: npt.NDArray[np.float32]

    @classmethod
    def of(cls, stored: Sequence[tuple[str, bytes]], dim: int) -> Matrix:
        import numpy as np  # noqa: PLC0415 (numpy loads with the first search)

        usable = [(pid, blob) for pid, blob in stored if len(blob) == dim * 4]
        if not usable:
            return cls([], np.zeros((0, dim), dtype=np.float32))
        rows = np.frombuffer(b"".join(b for _, b in usable), dtype="<f4").reshape(-1, dim)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        norms[norms == 0] = np.inf
        return cls([pid for pid, _ in usable], (rows / norms).astype(np.float32))


Key = tuple[str, str, str, int, int]  # organization, archive, model, version, dimension


class VectorCache:
    def __init__(self, max_vectors: int = MAX_VECTORS) -> None:
        self._entries: OrderedDict[Key, Matrix] = OrderedDict()
        self._size = 0
        self._max = max_vectors

    def get(self, key: Key) -> Matrix | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: Key, matrix: Matrix) -> None:
        for old in [k for k in self._entries if k[:3] == key[:3]]:  # older versions
            self._size -= len(self._entries.pop(old).ids)
        if len(matrix.ids) > self._max:
            return
        self._entries[key] = matrix
        self._size += len(matrix.ids)
        while self._size > self._max:
            _, evicted = self._entries.popitem(last=False)
            self._size -= len(evicted.ids)


CACHE = VectorCache()


def top(query: Sequence[float], matrices: Sequence[Matrix], k: int) -> list[str]:
    """Ids of the ``k`` rows most similar to ``query`` (cosine) across ``matrices``."""
    import numpy as np  # noqa: PLC0415 (numpy loads with the first search)

    q = np.asarray(query, dtype=np.float32)
    norm = float(np.linalg.norm(q))
    parts = [m for m in matrices if m.ids]
    if not parts or k <= 0 or norm == 0:
        return []
    rows = parts[0].rows if len(parts) == 1 else np.concatenate([m.rows for m in parts])
    ids = parts[0].ids if len(parts) == 1 else [pid for m in parts for pid in m.ids]
    scores = rows @ (q / norm)
    k = min(k, len(ids))
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [ids[int(i)] for i in best]
