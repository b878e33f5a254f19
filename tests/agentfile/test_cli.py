"""``sleeptime agents import a.af`` and ``sleeptime agents export ID > a.af``, on the
configured database."""

import json
from pathlib import Path

import pytest

from app import cli
from app.kit.db import Database
from tests.agentfile.conftest import FIXTURES
from tests.conftest import Settings
from tests.processes import run_cli


@pytest.fixture
def sleeptime(
    settings: Settings,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> "Run":
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    return Run(capsys)


class Run:
    """``sleeptime ARGS`` in this process: (exit code, what it printed)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str]:
        code = cli.main(list(args))
        return code, self.capsys.readouterr().out


def test_import_then_export(sleeptime: Run, tmp_path: Path) -> None:
    code, out = sleeptime(
        "agents",
        "import",
        str(FIXTURES / "customer_service.af"),
        "--name",
        "support",
        "--model",
        "openai/gpt-4.1",
        "--secrets",
        '{"CRM_KEY": "k"}',
    )
    assert code == 0
    [agent_id] = out.split()
    code, out = sleeptime("agents", "export", agent_id)
    assert code == 0
    data = json.loads(out)
    [agent] = data["agents"]
    assert (agent["name"], agent["model"]) == ("support", "openai/gpt-4.1")  # no _copy here
    assert agent["secrets"] == {"CRM_KEY": ""}
    assert "check_order_status" in {t["name"] for t in data["tools"]}
    path = tmp_path / "support.af"
    path.write_text(out)
    code, out = sleeptime("agents", "import", str(path), "--copy-suffix", "--strip-messages")
    assert code == 0 and len(out.split()) == 1
    code, out = sleeptime("agents", "export", out.split()[0], "--scrub-messages")
    assert json.loads(out)["agents"][0]["name"] == "support_copy"


def test_failures_exit_1(sleeptime: Run, tmp_path: Path) -> None:
    path = tmp_path / "bad.af"
    path.write_text("[]")
    assert sleeptime("agents", "import", str(path)) == (1, "")
    assert sleeptime("agents", "import", str(tmp_path / "missing.af")) == (1, "")


async def test_the_installed_command(settings: Settings) -> None:
    env = {"SLEEPTIME_DATABASE_URL": settings.database_url}
    missing = "agent-00000000-0000-4000-8000-000000000000"
    code, out, err = await run_cli("agents", "export", missing, env=env)
    assert code == 1 and out == "" and f"Agent {missing} not found" in err
