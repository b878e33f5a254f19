"""Embeddings from an OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Ollama, vLLM,
LM Studio ...), in batches, with the retries of chat calls.

A vector is only ever compared with vectors of the same model: callers keep the model's handle
next to every vector they store (``Embedded.model``).
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from app.config import Settings
from app.providers.assembly import as_dict
from app.providers.base import InvalidResponseError, ProviderBadRequestError, ProviderError
from app.providers.http import JsonEndpoint
from app.providers.openai import _status_error
from app.providers.registry import ModelInfo
from app.providers.retry import RetryPolicy, Sleep

BATCH_SIZE = 32


@dataclass(frozen=True, slots=True)
class Embedded:
    model: str  # the handle of the model that made the vectors
    vectors: list[list[float]]


class Embedder:
    """Turns texts into vectors with one embedding model, over the service's HTTP client."""

    def __init__(
        self,
        info: ModelInfo,
        *,
        http: httpx.AsyncClient,
        settings: Settings,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if info.provider != "openai" or not info.endpoint:
            raise ProviderBadRequestError(
                f"embedding: provider {info.provider!r} offers no OpenAI-compatible embeddings"
            )
        headers = {}
        if settings.openai_api_key:
            headers["Authorization"] = f"Bearer {settings.openai_api_key}"
        self.info = info
        self._endpoint = JsonEndpoint(
            http,
            url=f"{info.endpoint}/embeddings",
            headers=headers,
            timeout=settings.provider_timeout_seconds,
            provider="openai",
            status_error=_status_error,
        )
        self._policy = RetryPolicy.from_settings(settings, sleep=sleep)

    async def embed(self, texts: Sequence[str]) -> Embedded:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), BATCH_SIZE):
            vectors.extend(await self._batch(list(texts[start : start + BATCH_SIZE])))
        return Embedded(self.info.handle, vectors)

    async def _batch(self, texts: list[str]) -> list[list[float]]:
        attempt = 0
        while True:
            try:
                reply = await self._endpoint.post({"model": self.info.model, "input": texts})
                return _vectors(reply, len(texts))
            except ProviderError as exc:
                if not self._policy.should_retry(exc, attempt):
                    raise
                await self._policy.pause(exc, attempt)
                attempt += 1


def _vectors(reply: dict[str, object], count: int) -> list[list[float]]:
    """The reply's vectors in input order (servers may return them out of order)."""
    data = reply.get("data")
    if not isinstance(data, list) or len(data) != count:
        raise InvalidResponseError(f"openai embeddings: expected {count} vectors in `data`")
    ordered: list[list[float]] = [[] for _ in range(count)]
    for position, item in enumerate(data):
        entry = as_dict(item)
        index = entry.get("index", position)
        vector = entry.get("embedding")
        if not isinstance(index, int) or not 0 <= index < count or not isinstance(vector, list):
            raise InvalidResponseError("openai embeddings: an item has no usable `embedding`")
        ordered[index] = [float(x) for x in vector]
    if any(not v for v in ordered) or len({len(v) for v in ordered}) != 1:
        raise InvalidResponseError("openai embeddings: vectors are missing or of mixed sizes")
    return ordered
