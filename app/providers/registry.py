"""Which LLM providers are configured, and what a model handle resolves to.

A handle is ``provider/model-name``: ``openai/...`` goes to the OpenAI-compatible endpoint
(any base URL), ``anthropic/...`` to Anthropic. A provider exists only when configured.
"""

import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

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


@dataclass(frozen=True, slots=True)
class Unlisted:
    """A provider whose models could not be listed, and why."""

    provider: str
    base_url: str
    reason: str

    def as_log(self) -> dict[str, str]:
        return {"provider": self.provider, "base_url": self.base_url, "reason": self.reason}

    def __str__(self) -> str:
        return f"provider {self.provider!r} at {self.base_url} {self.reason}"


@dataclass(frozen=True, slots=True)
class Listing:
    models: list[ModelInfo]
    unlisted: list[Unlisted]


class UnlistedError(Exception):
    def __init__(self, provider: _Provider, reason: str) -> None:
        super().__init__(reason)
        self.unlisted = Unlisted(provider.name, public_url(provider.endpoint), reason)


def public_url(url: str) -> str:
    """``url`` fit for logs and answers: no user or password, no query (keys hide there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


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
        self._listed: dict[str, tuple[float, tuple[str, ...]]] = {}

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

    def describe(self) -> list[dict[str, object]]:
        """The configured providers as the startup log states them: no keys, no secrets in
        the URLs, and whether the model list is fixed or asked of the endpoint."""
        return [
            {
                "name": p.name,
                "base_url": public_url(p.endpoint),
                "models": list(p.models) if p.models else "listed by the endpoint",
            }
            for p in self._providers.values()
        ]

    async def list_models(self) -> Listing:
        """Every model the providers offer; a provider whose list cannot be fetched is named
        in ``unlisted`` (and logged) rather than passed over as having none."""
        listing = Listing([], [])
        for provider in self._providers.values():
            try:
                names = provider.models or await self._names(provider)
            except UnlistedError as exc:
                log.warning("providers.list_failed", **exc.unlisted.as_log())
                listing.unlisted.append(exc.unlisted)
                continue
            listing.models.extend(self._info(provider, name, None) for name in names)
        return listing

    async def _names(self, provider: _Provider) -> tuple[str, ...]:
        """The endpoint's model names, kept for a while once fetched (a failure is not kept:
        the next request asks again)."""
        now = time.monotonic()
        cached = self._listed.get(provider.name)
        if cached is not None and now - cached[0] < _LISTING_TTL_SECONDS:
            return cached[1]
        names = await self._fetch_names(provider)
        self._listed[provider.name] = (now, names)
        return names

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
        except httpx.HTTPError as exc:
            raise UnlistedError(provider, f"not reachable ({type(exc).__name__}: {exc})") from exc
        if response.is_error:
            raise UnlistedError(
                provider, f"answered {response.status_code} to GET {public_url(url)}"
            )
        try:
            data = response.json()["data"]
            return tuple(sorted(str(item["id"]) for item in data if "id" in item))
        except (ValueError, KeyError, TypeError) as exc:
            raise UnlistedError(
                provider, f"answered GET {public_url(url)} with no model list"
            ) from exc
