"""The common mistakes of a first start, each in a real ``sleeptime`` process: one line on
stderr saying what to change, status 1, no traceback; and the URLs people paste, accepted."""

import socket
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import BACKEND, DatabaseFactory
from tests.processes import free_port, run_cli

POSTGRESQL_ONLY = pytest.mark.skipif(BACKEND != "postgresql", reason="a PostgreSQL server to ask")


async def refused(command: str, env: dict[str, str], *extra: str) -> str:
    """The one line ``sleeptime COMMAND`` printed before exiting with status 1."""
    code, out, err = await run_cli(command, *extra, env={"SLEEPTIME_LOG_LEVEL": "INFO", **env})
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and out == "", (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("sleeptime: error: "), err
    return lines[0]


def closed_port_url() -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/sleeptime"


@pytest.mark.parametrize("command", ["serve", "worker", "migrate"])
async def test_a_missing_sqlite_directory(command: str, tmp_path: Path) -> None:
    folder = tmp_path / "not" / "there"
    line = await refused(
        command, {"SLEEPTIME_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'sleeptime.db'}"}
    )
    assert f"{folder}, which does not exist" in line and f"mkdir -p {folder}" in line
    assert not (tmp_path / "not").exists()


@pytest.mark.parametrize("command", ["serve", "worker", "migrate"])
async def test_an_unreachable_database(command: str) -> None:
    line = await refused(command, {"SLEEPTIME_DATABASE_URL": closed_port_url()})
    assert "cannot reach PostgreSQL at 127.0.0.1:" in line and "(connection refused)" in line
    assert "SLEEPTIME_DATABASE_URL" in line


async def test_a_database_host_that_does_not_exist() -> None:
    url = "postgresql://postgres@no-such-host.invalid:5432/sleeptime"
    line = await refused("migrate", {"SLEEPTIME_DATABASE_URL": url})
    assert "cannot find the database host 'no-such-host.invalid'" in line


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://root@127.0.0.1/sleeptime", "'mysql' databases are not supported"),
        ("sleeptime.db", "not a database URL"),
    ],
)
async def test_a_database_url_of_another_kind(url: str, says: str) -> None:
    line = await refused("serve", {"SLEEPTIME_DATABASE_URL": url})
    assert f"SLEEPTIME_DATABASE_URL: {says}" in line
    assert "sqlite+aiosqlite:///" in line and "postgresql+asyncpg://" in line


async def test_a_plain_sqlite_url_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    env = {"SLEEPTIME_DATABASE_URL": f"sqlite:///{path}", "SLEEPTIME_LOG_LEVEL": "INFO"}
    code, out, err = await run_cli("migrate", env=env)
    assert code == 0, err
    assert "database at revision" in out and path.exists()
    assert "config.database_url_normalized" in err and "using=sqlite+aiosqlite" in err


@POSTGRESQL_ONLY
@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
async def test_libpq_urls_are_accepted(database_factory: DatabaseFactory, scheme: str) -> None:
    url = make_url(await database_factory.create()).set(drivername=scheme)
    env = {"SLEEPTIME_DATABASE_URL": url.render_as_string(hide_password=False)}
    code, out, err = await run_cli("migrate", env={**env, "SLEEPTIME_LOG_LEVEL": "INFO"})
    assert code == 0, err
    assert "database at revision" in out
    assert f"given={scheme} using=postgresql+asyncpg" in err


@POSTGRESQL_ONLY
async def test_a_database_that_does_not_exist(database_factory: DatabaseFactory) -> None:
    url = make_url(await database_factory.create()).set(database="no_such_database")
    env = {"SLEEPTIME_DATABASE_URL": url.render_as_string(hide_password=False)}
    line = await refused("migrate", env)
    assert "database 'no_such_database' does not exist" in line
    assert "createdb no_such_database" in line


@POSTGRESQL_ONLY
async def test_a_user_postgresql_does_not_know(database_factory: DatabaseFactory) -> None:
    url = make_url(await database_factory.create()).set(username="nobody_here")
    env = {"SLEEPTIME_DATABASE_URL": url.render_as_string(hide_password=False)}
    line = await refused("worker", env)
    assert "refused user 'nobody_here'" in line and "user and password" in line


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SLEEPTIME_OPENAI_BASE_URL", "localhost:11434/v1", "must be an http:// or https:// URL"),
        ("SLEEPTIME_ANTHROPIC_BASE_URL", "api.anthropic.com", "must be an http:// or https://"),
        ("SLEEPTIME_OPENAI_API_KEY", '"sk-abc"', "has quotes or spaces in it"),
        ("SLEEPTIME_ANTHROPIC_API_KEY", "Bearer sk-ant", "has quotes or spaces in it"),
        ("SLEEPTIME_LEASE_SECONDS", "-1", "greater than 0"),
    ],
)
async def test_a_bad_setting(name: str, value: str, says: str, tmp_path: Path) -> None:
    env = {"SLEEPTIME_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", name: value}
    line = await refused("serve", env)
    assert line.startswith(f"sleeptime: error: {name}: ") and says in line
    if name.endswith("_KEY"):
        assert value.strip('"').split()[-1] not in line  # a key is never printed
    assert not (tmp_path / "x.db").exists()


async def test_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"SLEEPTIME_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
        line = await refused("serve", env, "--port", str(port))
    assert f"port {port} on 127.0.0.1 is already in use" in line and "--port" in line


async def test_a_host_that_is_not_this_machine(tmp_path: Path) -> None:
    env = {"SLEEPTIME_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
    line = await refused("serve", env, "--host", "no-such-host.invalid")
    assert "cannot listen on --host no-such-host.invalid" in line
