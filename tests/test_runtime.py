"""The line a process logs once it runs: providers, database, auth mode and executors in
effect, and nothing secret."""

import logging
from typing import Any

import pytest

from app.config import LogFormat, Settings
from app.kit.logging import configure_logging
from app.runtime import Role, describe_database, runtime
from app.sandbox.backend import Sandbox
from tests.conftest import BACKEND


async def _started(
    settings: Settings, caplog: pytest.LogCaptureFixture, *, dispatch: bool, role: Role
) -> dict[str, Any]:
    configure_logging("WARNING", LogFormat.console)  # through stdlib logging, as in a process
    logging.getLogger().addHandler(caplog.handler)  # which replaced the root's handlers
    caplog.set_level(logging.INFO, logger="app.runtime")
    async with runtime(settings, dispatch=dispatch, role=role):
        pass
    [line] = [r.msg for r in caplog.records if r.name == "app.runtime"]
    assert isinstance(line, dict)
    return line


@pytest.mark.parametrize(
    ("dispatch", "role"), [(True, "serve"), (False, "serve"), (True, "worker")]
)
async def test_the_startup_line(
    settings: Settings, caplog: pytest.LogCaptureFixture, dispatch: bool, role: Role
) -> None:
    configured = settings.model_copy(
        update={
            "openai_api_key": "sk-s3cret",
            "anthropic_api_key": "ak-s3cret",
            "anthropic_models": ["claude-x"],
            "worker_concurrency": 3,
        }
    )
    line = await _started(configured, caplog, dispatch=dispatch, role=role)
    assert line["event"] == f"{role}.started"
    assert [(p["name"], p["base_url"]) for p in line["providers"]] == [
        ("openai", settings.openai_base_url),
        ("anthropic", "https://api.anthropic.com"),
    ]
    assert line["database"]["dialect"] == BACKEND
    assert line["auth"] == "disabled"
    assert (line["dispatcher"], line["worker_concurrency"]) == (
        ("on", 3) if dispatch else ("off", 0)
    )
    assert "s3cret" not in repr(line)
    # The sandbox in effect, checked (the check runs while the process starts).
    assert line["sandbox"] == (await Sandbox.start(configured)).backend.value


def test_database_locations() -> None:
    assert describe_database("postgresql+asyncpg://app:pw@db.internal:5432/sleeptime?ssl=x") == {
        "dialect": "postgresql",
        "location": "postgresql+asyncpg://app:***@db.internal:5432/sleeptime",
    }
    sqlite = describe_database("sqlite+aiosqlite:///./data/sleeptime.db")
    assert sqlite["dialect"] == "sqlite" and sqlite["location"].endswith("/data/sleeptime.db")
    assert sqlite["location"].startswith("/")
