"""From a resolved model to a ready provider: the adapter for its vendor, behind retries."""

import asyncio

import httpx

from app.config import Settings
from app.providers.anthropic import AnthropicProvider
from app.providers.base import LLMProvider, ProviderBadRequestError
from app.providers.openai import OpenAIProvider
from app.providers.registry import ModelInfo
from app.providers.retry import RetryingProvider, RetryPolicy, Sleep


def make_provider(
    info: ModelInfo,
    *,
    http: httpx.AsyncClient,
    settings: Settings,
    sleep: Sleep = asyncio.sleep,
) -> LLMProvider:
    """The provider for ``info``, sharing the service's one HTTP client.

    Retries wrap the adapter here and nowhere else, and count each attempt in the provider
    series under the vendor's name. A model whose provider is unknown or no longer configured
    (``resolve_stored`` gives it an empty endpoint) raises a ``ProviderBadRequestError``, so
    the turn ends as an LLM error rather than a crash.
    ``sleep`` is injectable so tests can script failures without waiting.
    """
    if not info.endpoint:
        raise ProviderBadRequestError(f"provider {info.provider!r} is not configured")
    adapter: LLMProvider
    if info.provider == "openai":
        adapter = OpenAIProvider(
            http, base_url=info.endpoint, api_key=settings.openai_api_key, settings=settings
        )
    elif info.provider == "anthropic":
        adapter = AnthropicProvider(
            http, base_url=info.endpoint, api_key=settings.anthropic_api_key, settings=settings
        )
    else:
        raise ProviderBadRequestError(f"provider {info.provider!r} is not supported")
    policy = RetryPolicy.from_settings(settings, sleep=sleep)
    return RetryingProvider(adapter, policy, info.provider)


def make_token_counter(
    info: ModelInfo, *, http: httpx.AsyncClient, settings: Settings
) -> AnthropicProvider | None:
    """What counts a model's tokens exactly, where its provider offers it: Anthropic's
    count_tokens endpoint. None elsewhere (the counts are estimates there)."""
    if info.provider != "anthropic" or not info.endpoint:
        return None
    return AnthropicProvider(
        http, base_url=info.endpoint, api_key=settings.anthropic_api_key, settings=settings
    )
