"""Service settings, read from the environment with the ``SLEEPTIME_`` prefix."""

from enum import StrEnum
from functools import lru_cache
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.kit.urls import check_http_url, normalize_database_url


class AuthMode(StrEnum):
    disabled = "disabled"
    required = "required"


class SandboxChoice(StrEnum):
    auto = "auto"  # bubblewrap when it works here, else a plain subprocess
    bwrap = "bwrap"  # bubblewrap or refuse to start
    subprocess = "subprocess"  # a plain subprocess with rlimits


class SandboxNetwork(StrEnum):
    off = "off"  # no sandboxed tool reaches the network
    opt_in = "opt_in"  # a tool or agent with metadata {"sandbox_network": true} does
    on = "on"  # every sandboxed tool does


class LogFormat(StrEnum):
    console = "console"
    json = "json"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class SearchBackend(StrEnum):
    exa = "exa"
    searxng = "searxng"


class Settings(BaseSettings):
    """Everything the service reads from its environment.

    Lists (model names) are given as comma-separated strings, e.g.
    ``SLEEPTIME_OPENAI_MODELS=gpt-4o-mini,gpt-4.1``.
    """

    model_config = SettingsConfigDict(
        env_prefix="SLEEPTIME_", extra="ignore", populate_by_name=True
    )

    database_url: str = "sqlite+aiosqlite:///./sleeptime.db"
    auth: AuthMode = AuthMode.disabled
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.console
    # None: migrate automatically on SQLite, require `sleeptime migrate` on PostgreSQL.
    auto_migrate: bool | None = None

    openai_base_url: str | None = None
    openai_api_key: str | None = None
    openai_models: Annotated[list[str], NoDecode] = Field(default_factory=list)
    anthropic_base_url: str = "https://api.anthropic.com"
    anthropic_api_key: str | None = None
    anthropic_models: Annotated[list[str], NoDecode] = Field(default_factory=list)
    default_context_window: int = Field(default=128_000, gt=0)
    provider_timeout_seconds: float = Field(default=60.0, gt=0)
    provider_max_retries: int = Field(default=3, ge=0)
    provider_retry_base_seconds: float = Field(default=0.5, ge=0)
    provider_retry_max_seconds: float = Field(default=20.0, ge=0)

    # Background runs (async turns, sleeptime runs): leases, retries, dispatch.
    dispatcher: bool = True  # run the dispatcher inside `sleeptime serve`
    lease_seconds: float = Field(default=30.0, gt=0)
    reaper_seconds: float = Field(default=5.0, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    worker_concurrency: int = Field(default=8, ge=1)
    # `sleeptime worker` serves /livez, /readyz and /metrics on this port (unset: none).
    worker_http_port: int | None = Field(default=None, ge=1, le=65535)
    worker_http_host: str = "0.0.0.0"  # noqa: S104 - a probe port, reached from outside
    # /metrics reads the database series (runs, queue, lag) at most once per this long.
    metrics_refresh_seconds: float = Field(default=5.0, ge=0)
    # OpenTelemetry traces (the `otel` extra), exported over OTLP/HTTP to the endpoint of the
    # standard OTEL_EXPORTER_OTLP_ENDPOINT, under OTEL_SERVICE_NAME.
    otel_enabled: bool = False
    sleeptime_max_steps: int = Field(default=10, ge=1)
    sleeptime_max_tokens: int = Field(default=200_000, ge=1)
    sleeptime_max_seconds: float = Field(default=300.0, gt=0)

    # Streams: events of every run are kept this long for `GET /v1/runs/{id}/stream`.
    stream_retention_seconds: float = Field(default=3 * 3600, gt=0)
    stream_keepalive_seconds: float = Field(default=15.0, gt=0)
    stream_send_timeout_seconds: float = Field(default=30.0, gt=0)

    # Letta 0.16.7+ gives a block created without a limit 100000 characters.
    block_default_limit: int = Field(default=100_000, gt=0)
    # A turn sent while another is active waits this long (policy `enqueue`) before AGENT_BUSY.
    turn_wait_seconds: float = Field(default=60.0, ge=0)
    # At most this many recent messages are loaded into a step's context (older ones stay
    # in history, reachable with conversation_search); the token budget may keep fewer.
    context_max_messages: int = Field(default=100, ge=2)
    # Context compaction: when a step's window would overflow, its older messages are
    # summarised into a summary message (off: they are only evicted). Summaries are written
    # by the agent's compaction_settings.model, else this model, else the agent's own; a
    # turn that compacted runs its sleeptime agents at once when the last setting is on.
    compaction_enabled: bool = True
    compaction_model: str | None = None
    compaction_triggers_sleeptime: bool = False
    sleeptime_default_frequency: int = Field(default=5, gt=0)
    # Browser origins allowed to call the API (CORS); empty: no CORS headers at all.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # The completion callback of a `messages/async` run (its `callback_url`): each POST gets
    # this long, failures (connection errors, timeouts, 429, 5xx) are retried up to the
    # attempt count with doubling waits from the base.
    callback_timeout_seconds: float = Field(default=5.0, gt=0)
    callback_max_attempts: int = Field(default=3, ge=1)
    callback_retry_base_seconds: float = Field(default=1.0, ge=0)

    # Tools run outside the database (registered Python, run_code, web and MCP tools): each
    # call's wall-clock limit. Registered Python runs in a sandbox with these limits.
    tool_timeout_seconds: float = Field(default=60.0, gt=0)
    sandbox: SandboxChoice = SandboxChoice.auto
    sandbox_network: SandboxNetwork = SandboxNetwork.off
    sandbox_cpu_seconds: int = Field(default=30, ge=1)
    sandbox_memory_mb: int = Field(default=512, ge=64)
    sandbox_file_size_mb: int = Field(default=16, ge=1)
    sandbox_max_processes: int = Field(default=32, ge=4)
    sandbox_open_files: int = Field(default=64, ge=16)
    sandbox_output_bytes: int = Field(default=1_000_000, ge=1024)
    # Run sandboxed tools as this user when the server runs as root (ignored otherwise).
    sandbox_uid: int = Field(default=65534, ge=1)
    # Install a tool's pip_requirements into a cached environment of its own.
    tool_pip_install: bool = False
    tool_venv_dir: str | None = None  # default: <user cache dir>/sleeptime-server/tool-venvs
    # Letta's built-in web tools. `fetch_webpage` gets this long for a page (every redirect
    # and the body included), reads at most `fetch_max_bytes` of it and returns at most
    # `fetch_max_chars` characters of text; it refuses addresses that are not public
    # (private, loopback, link-local, ...) unless `fetch_allow_private` is set.
    fetch_timeout_seconds: float = Field(default=20.0, gt=0)
    fetch_max_bytes: int = Field(default=5_000_000, gt=0)
    fetch_max_chars: int = Field(default=40_000, gt=0)
    fetch_max_redirects: int = Field(default=5, ge=0)
    fetch_allow_private: bool = False
    # `web_search`'s backend; unset: Exa when an Exa key is known, else SearXNG when its URL
    # is set, else the tool tells the model how to configure one.
    web_search_backend: SearchBackend | None = None
    web_search_timeout_seconds: float = Field(default=20.0, gt=0)
    exa_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("SLEEPTIME_EXA_API_KEY", "EXA_API_KEY")
    )
    exa_base_url: str = "https://api.exa.ai"
    searxng_url: str | None = None

    # MCP servers. A stdio server is a command this server runs, as its own user, from a
    # configuration any API key of an organization can write: off where keys are handed to
    # people who must not run commands on the host.
    mcp_stdio: bool = True
    mcp_connect_timeout_seconds: float = Field(default=30.0, gt=0)
    mcp_timeout_seconds: float = Field(default=60.0, gt=0)  # one call: list tools, run a tool

    @field_validator("openai_models", "anthropic_models", "cors_origins", mode="before")
    @classmethod
    def _parse_model_list(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("database_url")
    @classmethod
    def _database_driver(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("openai_base_url", "searxng_url", mode="before")
    @classmethod
    def _optional_http_url(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None  # set but empty, as compose passes an unset variable: not configured
        if isinstance(value, str):
            return check_http_url(value, example="http://127.0.0.1:11434/v1")
        return value

    @field_validator("anthropic_base_url", "exa_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value, example="https://api.anthropic.com")

    @field_validator("openai_api_key", "anthropic_api_key", "exa_api_key", mode="before")
    @classmethod
    def _api_key(cls, value: object) -> object:
        """A key pasted with a newline is trimmed; one with quotes or spaces inside is a
        paste of more than the key (``"sk-..."``, ``Bearer sk-...``) and is refused."""
        if not isinstance(value, str):
            return value
        key = value.strip()
        if not key:
            return None
        if any(c.isspace() or c in "\"'" for c in key):
            raise ValueError("has quotes or spaces in it: give the key alone, like sk-...")
        return key

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def openai_enabled(self) -> bool:
        return bool(self.openai_base_url or self.openai_api_key)

    @property
    def anthropic_enabled(self) -> bool:
        return bool(self.anthropic_api_key)

    @property
    def migrate_on_start(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
