"""``sleeptime agents list``, ``runs list|show``, ``blocks history`` and ``--version``: the real
command in a subprocess, against a test database holding an agent, its sleeptime agent, their
runs (one failed) and a block the sleeptime run rewrote."""

import argparse
import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from app import __version__, commands
from tests.conftest import AppAndClient
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok
from tests.processes import run_cli


@dataclass(frozen=True)
class World:
    database_url: str
    primary: str
    helper: str
    block: str
    foreground: list[str]
    edited: str  # the sleeptime run that wrote the block
    failed: str  # the sleeptime run the provider failed


@pytest.fixture
async def world(make_app: Any, fake_llm: FakeLLMServer, settings: Any) -> World:
    app, client = await make_app(provider_max_retries=0)
    primary = await create_agent(
        client,
        name="pilot-notes",
        tags=["team-a"],
        enable_sleeptime=True,
        memory_blocks=[{"label": "human", "value": "Ana"}],
    )
    group = primary["managed_group"]
    body = {"manager_config": {"manager_type": "sleeptime", "sleeptime_agent_frequency": 1}}
    await ok(client.patch(f"/v1/groups/{group['id']}", json=body))
    fake_llm.state.add(
        Reply(text="Nice to meet you."),
        Reply(tool_calls=[("memory_insert", {"label": "human", "new_string": "Works as a pilot"})]),
        Reply(tool_calls=[("memory_finish_edits", {})]),
    )
    first = await _turn((app, client), primary["id"], "I'm a pilot")
    fake_llm.state.add(Reply(text="ok"), Reply(status=500))
    second = await _turn((app, client), primary["id"], "second")
    block = await ok(client.get(f"/v1/agents/{primary['id']}/core-memory/blocks/human"))
    assert block["value"] == "Ana\nWorks as a pilot"
    return World(
        database_url=settings.database_url,
        primary=primary["id"],
        helper=group["agent_ids"][0],
        block=block["id"],
        foreground=[first["run_id"], second["run_id"]],
        edited=first["sleeptime"],
        failed=second["sleeptime"],
    )


async def _turn(app_client: AppAndClient, agent_id: str, text: str) -> dict[str, str]:
    app, client = app_client
    response = await ok(client.post(f"/v1/agents/{agent_id}/messages", json={"input": text}))
    [sleeptime] = response["usage"]["run_ids"]
    await asyncio.wait_for(app.state.runtime.dispatcher.settled(), 30)
    runs = await ok(client.get("/v1/runs/", params={"agent_id": agent_id, "limit": 1}))
    return {"run_id": runs[0]["id"], "sleeptime": sleeptime}


async def sleeptime(world: World, *args: str) -> str:
    code, out, err = await run_cli(*args, env={"SLEEPTIME_DATABASE_URL": world.database_url})
    assert code == 0, err
    return out


def rows(out: str) -> dict[str, list[str]]:
    """A table's rows by their first column, each split into its columns."""
    header, *lines = out.splitlines()
    assert header.split()[0] in {"ID", "VERSION", "STEP"}, out
    return {line.split()[0]: line.split() for line in lines}


async def test_version() -> None:
    code, out, _ = await run_cli("--version", env={})
    assert code == 0 and out.strip() == f"sleeptime {__version__}"


async def test_agents_list(world: World) -> None:
    listed = rows(await sleeptime(world, "agents", "list"))
    assert set(listed) == {world.primary, world.helper}
    primary = listed[world.primary]
    assert primary[1:2] == ["pilot-notes"] and "team-a" in primary and "yes" in primary
    assert "openai/gpt-4o-mini" in primary and "default" in primary  # model, organization
    only = rows(await sleeptime(world, "agents", "list", "--tag", "team-a"))
    assert set(only) == {world.primary}
    searched = rows(await sleeptime(world, "agents", "list", "--search", "PILOT-N"))
    assert set(searched) == {world.primary, world.helper}  # pilot-notes-sleeptime
    newest = await sleeptime(world, "agents", "list", "--search", "pilot", "--limit", "1")
    assert set(rows(newest)) == {world.helper}
    none = await sleeptime(world, "agents", "list", "--org", "org-00000000-0000-4000-8000-0")
    assert none.strip() == "(no agents)"


async def test_runs_list_and_its_filters(world: World) -> None:
    every = rows(await sleeptime(world, "runs", "list"))
    assert set(every) == {*world.foreground, world.edited, world.failed}
    edited = every[world.edited]
    assert edited[1:3] == ["sleeptime", "completed"] and world.helper in edited
    assert edited[5] == "2" and int(edited[6]) > 0  # steps, tokens
    assert every[world.failed][1:3] == ["sleeptime", "failed"]
    assert all(every[r][1] == "foreground" for r in world.foreground)
    failed = await sleeptime(world, "runs", "list", "--kind", "sleeptime", "--status", "failed")
    assert set(rows(failed)) == {world.failed}
    both = await sleeptime(
        world, "runs", "list", "--status", "failed", "--status", "completed", "--kind", "async"
    )
    assert both.strip() == "(no runs)"
    newest = await sleeptime(world, "runs", "list", "--agent", world.primary, "--limit", "1")
    assert set(rows(newest)) == {world.foreground[1]}


async def test_runs_show(world: World) -> None:
    out = await sleeptime(world, "runs", "show", world.failed)
    fields = dict(line.split(":", 1) for line in out.split("\n\n")[0].splitlines())
    assert fields["status"].strip() == "failed" and fields["kind"].strip() == "sleeptime"
    assert fields["agent"].strip() == world.helper
    assert "500" in fields["error"] or "error" in fields["error"].lower()
    steps = out.split("steps (1):\n")[1]
    [step] = rows(steps).values()
    assert step[1] == "failed" and "500" in steps
    done = await sleeptime(world, "runs", "show", world.edited)
    assert "steps (2):" in done and "error:" not in done
    assert "success" in done.split("steps (2):")[1]


async def test_blocks_history(world: World) -> None:
    out = await sleeptime(world, "blocks", "history", world.block)
    title, table = out.split("\n", 1)
    assert title == f"block {world.block} (human), now at version 2"
    versions = rows(table)
    assert versions["1"][3] == "api" and versions["1"][-1] == "3"
    assert versions["2"][3:6] == ["agent", world.helper, world.edited]
    diff = await sleeptime(world, "blocks", "history", world.block, "--diff")
    assert "+Ana" in diff and "+Works as a pilot" in diff
    assert f"by agent {world.helper} {world.edited}" in diff


async def test_mistakes_are_one_line(world: World) -> None:
    env = {"SLEEPTIME_DATABASE_URL": world.database_url}
    missing = "run-00000000-0000-4000-8000-000000000000"
    code, out, err = await run_cli("runs", "show", missing, env=env)
    assert code == 1 and out == "" and f"Run {missing} not found" in err
    assert "Traceback" not in err
    code, _, err = await run_cli("runs", "list", "--limit", "0", env=env)
    assert code == 2 and "must be at least 1" in err
    code, _, err = await run_cli("runs", "list", "--kind", "nightly", env=env)
    assert code == 2 and "sleeptime" in err  # the choices are listed


def _every_action(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _every_action(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            found.append((path, action))
    return found


def test_every_option_has_help() -> None:
    actions = _every_action(commands._parser(), "sleeptime")
    missing = [f"{path} {a.dest}" for path, a in actions if not a.help]
    assert missing == []
    assert len(actions) > 30
