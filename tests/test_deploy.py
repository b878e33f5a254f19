"""The deployment files: the compose file's structure (always), and the image built and run
(where a Docker daemon answers; skipped elsewhere, saying so)."""

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.config import Settings
from app.healthcheck import livez_url
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
APP_SERVICES = ("migrate", "api", "worker")
_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``, for the tests."""

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if env.get(name):
            return env[name]
        if kind == "?":
            raise LookupError(f"{name}: {rest}")
        return rest if kind == "-" else ""

    return _VARIABLE.sub(one, value)


def seconds(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([smh])", text))


def test_one_image_built_once_for_every_role(compose: dict[str, Any]) -> None:
    found = services(compose)
    assert set(found) == {"postgres", *APP_SERVICES}
    assert [name for name, s in found.items() if "build" in s] == ["migrate"]
    images = {found[name]["image"] for name in APP_SERVICES}
    assert images == {"${SLEEPTIME_IMAGE:-sleeptime-server:local}"}
    assert found["api"]["command"][:2] == ["sleeptime", "serve"]
    assert found["worker"]["command"] == ["sleeptime", "worker"]


def test_migrations_run_once_before_the_api_and_the_worker(compose: dict[str, Any]) -> None:
    found = services(compose)
    assert found["migrate"]["command"] == ["sleeptime", "migrate"]
    assert found["migrate"]["restart"] == "no"
    assert found["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("api", "worker"):
        assert found[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
        assert "--migrate" not in found[name]["command"]
    assert found["api"]["environment"]["SLEEPTIME_DISPATCHER"] == "false"


def test_each_service_has_its_own_healthcheck(compose: dict[str, Any]) -> None:
    found = services(compose)
    assert "pg_isready" in " ".join(found["postgres"]["healthcheck"]["test"])
    assert found["migrate"]["healthcheck"] == {"disable": True}
    urls = {}
    for name in ("api", "worker"):
        check = found[name]["healthcheck"]
        assert check["test"] == ["CMD", "python", "-m", "app.healthcheck"]
        argv = ["/app/.venv/bin/python", "/app/.venv/bin/sleeptime", *found[name]["command"]]
        urls[name] = livez_url(argv, found[name]["environment"])
    assert urls == {
        "api": "http://127.0.0.1:8283/livez",
        "worker": "http://127.0.0.1:8284/livez",  # the worker's own port, not the API's
    }
    assert found["api"]["ports"] == ["${SLEEPTIME_PORT:-8283}:8283"]


def test_the_image_check_follows_the_role() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "app.healthcheck"]' in dockerfile
    python = ["/app/.venv/bin/python", "/app/.venv/bin/sleeptime"]
    assert livez_url([*python, "serve", "--port", "9000"], {}) == "http://127.0.0.1:9000/livez"
    assert livez_url([*python, "serve", "--port=9001"], {}) == "http://127.0.0.1:9001/livez"
    assert livez_url([*python, "worker"], {}) is None  # no probe port: nothing to ask
    assert "SLEEPTIME_WORKER_HTTP_PORT=8284" in dockerfile  # which the image sets
    env = {"SLEEPTIME_WORKER_HTTP_PORT": "9100"}
    assert livez_url([*python, "worker"], env) == "http://127.0.0.1:9100/livez"
    assert livez_url([*python, "migrate"], {}) is None


def test_stop_grace_periods_cover_a_drain(compose: dict[str, Any]) -> None:
    found = services(compose)
    defaults = Settings(database_url="sqlite+aiosqlite://")
    assert seconds(found["worker"]["stop_grace_period"]) > defaults.sleeptime_max_seconds
    assert seconds(found["api"]["stop_grace_period"]) > 30  # uvicorn's graceful shutdown


def test_secrets_come_from_the_env_file(compose: dict[str, Any]) -> None:
    found = services(compose)
    text = (ROOT / "docker-compose.yml").read_text()
    example = (ROOT / ".env.example").read_text()
    given = dict(
        line.split("=", 1) for line in example.splitlines() if re.match(r"^[A-Z_]+=", line)
    )
    assert given["POSTGRES_PASSWORD"] == ""  # no password shipped, not even an example one
    assert found["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    for name in APP_SERVICES:
        assert found[name]["env_file"] == ".env"
    required = {m[0] for m in _VARIABLE.findall(text) if m[1] != "-"}
    assert required <= set(given), required - set(given)
    url = found["api"]["environment"]["SLEEPTIME_DATABASE_URL"]
    with pytest.raises(LookupError, match="POSTGRES_PASSWORD"):
        interpolate(url, {**given})
    env = {**given, "POSTGRES_PASSWORD": "0f3a9c"}
    rendered = interpolate(url, env)
    assert rendered == "postgresql+asyncpg://sleeptime:0f3a9c@postgres:5432/sleeptime"
    assert Settings(database_url=rendered).database_url == rendered
    # The example's empty provider lines stand for "not configured".
    blank = Settings(
        database_url=rendered,
        openai_base_url=given["SLEEPTIME_OPENAI_BASE_URL"],
        openai_api_key=given["SLEEPTIME_OPENAI_API_KEY"],
    )
    assert not blank.openai_enabled


def test_dockerignore_keeps_secrets_out_and_what_the_image_needs_in() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".env", ".git", ".venv", "*.db", "tests", "**/node_modules"):
        assert entry in ignored
    copied = re.findall(r"^COPY (.+) \S+$", (ROOT / "Dockerfile").read_text(), re.M)
    needed = {path for line in copied for path in line.split()}
    assert needed == {"pyproject.toml", "uv.lock", "README.md", "alembic.ini", "migrations", "app"}
    assert not needed & set(ignored)


def _docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return "no docker command here"
    info = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if info.returncode != 0:
        return "no Docker daemon reachable: " + (info.stderr.strip().splitlines() or ["?"])[-1]
    return None


def _docker(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_image_builds_runs_and_answers_livez() -> None:
    problem = _docker_problem()
    if problem is not None:
        pytest.skip(problem)
    tag = "sleeptime-server:smoke-test"
    _docker("build", "--tag", tag, str(ROOT), timeout=1800)
    port = free_port()
    container = _docker("run", "--detach", "--publish", f"127.0.0.1:{port}:8283", tag)
    try:
        # Read the container's log as it is written until the server says it listens.
        with subprocess.Popen(
            ["docker", "logs", "--follow", container],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as logs:
            assert logs.stdout is not None
            seen = []
            for line in logs.stdout:
                seen.append(line)
                if "Uvicorn running on" in line:
                    break
            logs.terminate()
        assert any("Uvicorn running on" in line for line in seen), "".join(seen)
        response = httpx.get(f"http://127.0.0.1:{port}/livez", timeout=10)
        assert response.status_code == 200, response.text
        _docker("exec", container, "python", "-m", "app.healthcheck")
        assert _docker("exec", container, "sleeptime", "--version").startswith("sleeptime ")
    finally:
        subprocess.run(["docker", "rm", "--force", container], capture_output=True, check=False)
        subprocess.run(["docker", "image", "rm", tag], capture_output=True, check=False)
