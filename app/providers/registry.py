"""Which LLM providers are configured, and what a model handle resolves to.

A handle is ``provider/model-name``: ``openai/...`` goes to the OpenAI-compatible endpoint
(any base URL), ``anthropic/...`` to Anthropic. A provider exists only when configured.
"""

import time
from dataclasses import dataclass

import httpx
import structlog

from app.config import Settings
from app.kit.errors import BadRequest

log = structlog.get_logger("app.providers")

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_VERSION = "2023-06-01"
_LISTING_TTL_SECONDS = 60.0
_NONE_CONFIGURED = (
    "none (set SLEEPTIME_OPENAI_BASE_URL or SLEEPTIME_OPENAI_API_KEY, "
    "or SLEEPTIME_ANTHROPIC_API_KEY)"
)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    provider: str
    model: str
    endpoint: str
    context_window: int

    @property
    def handle(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class _Provider:
    name: str
    endpoint: str
    api_key: str | None
    models: tuple[str, ...]


class ProviderRegistry:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http
        self._providers: dict[str, _Provider] = {}
        if settings.openai_enabled:
            self._providers["openai"] = _Provider(
                "openai",
                (settings.openai_base_url or OPENAI_DEFAULT_BASE_URL).rstrip("/"),
                settings.openai_api_key,
                tuple(settings.openai_models),
            )
        if settings.anthropic_enabled:
            self._providers["anthropic"] = _Provider(
                "anthropic",
                settings.anthropic_base_url.rstrip("/"),
                settings.anthropic_api_key,
                tuple(settings.anthropic_models),
            )
        self._listing: tuple[float, list[ModelInfo]] | None = None

    @property
    def configured(self) -> list[str]:
        return list(self._providers)

    def _info(self, provider: _Provider, model: str, context_window: int | None) -> ModelInfo:
        window = context_window or self._settings.default_context_window
        return ModelInfo(provider.name, model, provider.endpoint, window)

    def resolve(
        self, handle: str, *, context_window: int | None = None, field: str = "model"
    ) -> ModelInfo:
        """The model behind a handle, or a 400 that says what is configured (naming the
        request ``field`` the handle came in)."""
        provider_name, sep, model = handle.partition("/")
        if not sep or not provider_name or not model:
            raise BadRequest(
                f"{field}: {handle!r} is not a handle of the form `provider/model-name`"
            )
        provider = self._providers.get(provider_name)
        if provider is None:
            available = ", ".join(self.configured) or _NONE_CONFIGURED
            raise BadRequest(
                f"{field}: provider {provider_name!r} is not configured; configured providers: "
                f"{available}"
            )
        if provider.models and model not in provider.models:
            raise BadRequest(
                f"{field}: {model!r} is not offered by provider {provider_name!r}; available: "
                + ", ".join(f"{provider_name}/{m}" for m in provider.models)
            )
        return self._info(provider, model, context_window)

    def resolve_stored(self, handle: str, *, context_window: int | None = None) -> ModelInfo:
        """Describe a stored agent's model even if its provider was unconfigured since."""
        try:
            return self.resolve(handle, context_window=context_window)
        except BadRequest:
            provider_name, _, model = handle.partition("/")
            window = context_window or self._settings.default_context_window
            return ModelInfo(provider_name, model, "", window)

    async def list_models(self) -> list[ModelInfo]:
        now = time.monotonic()
        if self._listing is not None and now - self._listing[0] < _LISTING_TTL_SECONDS:
            return self._listing[1]
        models: list[ModelInfo] = []
        for provider in self._providers.values():
            names = provider.models or await self._fetch_names(provider)
            models.extend(self._info(provider, name, None) for name in names)
        self._listing = (now, models)
        return models

    async def _fetch_names(self, provider: _Provider) -> tuple[str, ...]:
        headers: dict[str, str] = {}
        if provider.name == "anthropic":
            url = f"{provider.endpoint}/v1/models"
            headers = {"x-api-key": provider.api_key or "", "anthropic-version": ANTHROPIC_VERSION}
        else:
            url = f"{provider.endpoint}/models"
            if provider.api_key:
                headers = {"Authorization": f"Bearer {provider.api_key}"}
        try:
            response = await self._http.get(url, headers=headers, timeout=10.0)
            response.raise_for_status()
            data = response.json().get("data", [])
            return tuple(sorted(str(item["id"]) for item in data if "id" in item))
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # The listing is advisory: a provider that is down lists nothing, it is not an error.
            log.warning("providers.list_failed", provider=provider.name, url=url, error=str(exc))
            return ()
