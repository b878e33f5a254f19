"""Ranking passages: exact cosine similarity over stored vectors, and reciprocal rank fusion
of the vector and full-text rankings (Letta ranks hybrid search the same way).

Vectors are stored as little-endian float32. Scoring is one matrix product over the
candidates of one model; no vector is ever compared with one from another model."""

from collections.abc import Sequence

import numpy as np

RRF_K = 60


def pack(vector: Sequence[float]) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def unpack(blob: bytes) -> list[float]:
    return [float(x) for x in np.frombuffer(blob, dtype="<f4")]


def nearest(query: Sequence[float], stored: Sequence[tuple[str, bytes]], k: int) -> list[str]:
    """Ids of the ``k`` stored vectors most similar to ``query`` (cosine), best first.
    Vectors of another size than the query's are skipped."""
    q = np.asarray(query, dtype=np.float32)
    width = q.size * 4
    usable = [(pid, blob) for pid, blob in stored if len(blob) == width]
    if not usable or k <= 0 or not q.any():
        return []
    matrix = np.frombuffer(b"".join(blob for _, blob in usable), dtype="<f4").reshape(-1, q.size)
    norms = np.linalg.norm(matrix, axis=1)
    norms[norms == 0] = np.inf
    scores = (matrix @ q) / (norms * float(np.linalg.norm(q)))
    k = min(k, len(usable))
    top = np.argpartition(-scores, k - 1)[:k]
    best = top[np.argsort(-scores[top], kind="stable")]
    return [usable[int(i)][0] for i in best]


def fuse(rankings: Sequence[Sequence[str]], limit: int) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: an id's score is the sum of ``1 / (RRF_K + rank)`` over the
    rankings it appears in; ties keep the order of the first ranking."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, pid in enumerate(ranking, start=1):
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (RRF_K + rank)
    ordered = sorted(scores.items(), key=lambda item: -item[1])
    return ordered[:limit]
