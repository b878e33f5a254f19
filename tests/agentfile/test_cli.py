"""``sleeptime agents export ID > a.af`` and ``sleeptime agents import a.af``, on the
configured database."""

import json
from pathlib import Path

import httpx

from tests.conftest import Settings
from tests.helpers import create_agent, ok
from tests.processes import run_cli

ROOT = Path(__file__).resolve().parents[2]


async def _cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    env = {
        "SLEEPTIME_DATABASE_URL": settings.database_url,
        "SLEEPTIME_OPENAI_BASE_URL": settings.openai_base_url or "",
        "SLEEPTIME_OPENAI_MODELS": ",".join(settings.openai_models),
    }
    return await run_cli(*args, env=env)


async def test_export_then_import(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    agent = await create_agent(
        client, name="ops", memory_blocks=[{"label": "human", "value": "Ana"}], tags=["t"]
    )
    code, out, err = await _cli(settings, "agents", "export", agent["id"])
    assert code == 0, err
    data = json.loads(out)
    assert data["agents"][0]["name"] == "ops"
    path = tmp_path / "a.af"
    path.write_text(out)
    code, out, err = await _cli(
        settings, "agents", "import", str(path), "--name", "ops2", "--model", "openai/gpt-4.1"
    )
    assert code == 0, err
    [agent_id] = out.split()
    copy = await ok(client.get(f"/v1/agents/{agent_id}"))
    assert (copy["name"], copy["model"], copy["tags"]) == ("ops2", "openai/gpt-4.1", ["t"])
    assert [b["value"] for b in copy["blocks"]] == ["Ana"]


async def test_failures_say_why_and_exit_1(settings: Settings, tmp_path: Path) -> None:
    missing = "agent-00000000-0000-4000-8000-000000000000"
    code, out, err = await _cli(settings, "agents", "export", missing)
    assert code == 1 and out == "" and "not found" in err
    path = tmp_path / "bad.af"
    path.write_text("[]")
    code, out, err = await _cli(settings, "agents", "import", str(path))
    assert code == 1 and "Not an agent file" in err
