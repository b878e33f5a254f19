"""Database URLs as people paste them, rewritten to this server's drivers; provider URLs
checked for a shape that can work."""

import pytest

from app.config import Settings
from app.kit.urls import check_http_url, normalize_database_url


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db:5432/x", "postgresql+asyncpg://u:p@db:5432/x"),
        ("postgresql://u:p%40ss@db/x", "postgresql+asyncpg://u:p%40ss@db/x"),
        ("postgresql+psycopg2://u@db/x", "postgresql+asyncpg://u@db/x"),
        ("postgres://u@db/x?sslmode=require", "postgresql+asyncpg://u@db/x?ssl=require"),
        ("sqlite:///./data/s.db", "sqlite+aiosqlite:///./data/s.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        # Already right: kept exactly as written.
        ("postgresql+asyncpg://u:p@db/x", "postgresql+asyncpg://u:p@db/x"),
        ("sqlite+aiosqlite:////app/data/s.db", "sqlite+aiosqlite:////app/data/s.db"),
    ],
)
def test_normalised(given: str, used: str) -> None:
    assert normalize_database_url(given) == used
    assert Settings(database_url=given).database_url == used


@pytest.mark.parametrize("given", ["mysql://u@db/x", "oracle://db", "just-a-file.db", ""])
def test_refused(given: str) -> None:
    with pytest.raises(ValueError, match="sqlite\\+aiosqlite:///"):
        normalize_database_url(given)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:11434/v1", "https://user:k@llm.test:8443/v1?x=1", " http://h "]
)
def test_http_urls(url: str) -> None:
    assert check_http_url(url, example="e") == url.strip()


@pytest.mark.parametrize("url", ["localhost:11434", "ftp://h/x", "http://", "http:// h/v1"])
def test_not_http_urls(url: str) -> None:
    with pytest.raises(ValueError, match="must be an http"):
        check_http_url(url, example="e")


def test_empty_provider_settings_mean_unset() -> None:
    settings = Settings(openai_base_url="", openai_api_key=" ", anthropic_api_key="sk-a\n")
    assert (settings.openai_base_url, settings.openai_api_key) == (None, None)
    assert settings.anthropic_api_key == "sk-a" and not settings.openai_enabled
