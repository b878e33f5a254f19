"""Ranking passages: exact cosine similarity over stored vectors, and reciprocal rank fusion
of the vector and full-text rankings (Letta ranks hybrid search the same way).

Vectors are stored as little-endian float32 (``app.archival.vectors`` ranks them); no vector
is ever compared with one from another model."""

import struct
from collections.abc import Sequence

RRF_K = 60


def pack(vector: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


def unpack(blob: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(blob) // 4}f", blob))


def fuse(rankings: Sequence[Sequence[str]], limit: int) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: an id's score is the sum of ``1 / (RRF_K + rank)`` over the
    rankings it appears in; ties keep the order of the first ranking."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, pid in enumerate(ranking, start=1):
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (RRF_K + rank)
    ordered = sorted(scores.items(), key=lambda item: -item[1])
    return ordered[:limit]
