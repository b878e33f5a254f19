"""The sandbox on its own: a normal tool's return and prints, and each limit proven by a
hostile tool that hits it, on bubblewrap and on the plain subprocess fallback (where the
fallback cannot give a guarantee, the test says so and runs on bubblewrap only)."""

import asyncio
import json
import os
import shutil
import textwrap
from pathlib import Path

import pytest

import app
from app.config import SandboxChoice, Settings
from app.sandbox.backend import Backend, Job, Sandbox
from app.sandbox.runner import outcome_result
from tests.sandbox.conftest import AS_ROOT, SANDBOX_UID, TEST_LIMITS, limits

REPO = Path(app.__file__).resolve().parent.parent


def tool(source: str) -> str:
    return textwrap.dedent(source).strip() + "\n"


async def test_a_tool_returns_its_value_and_keeps_its_prints(sandbox: Sandbox) -> None:
    source = tool(
        """
        def greet(name: str, times: int = 1):
            print("greeting", name)
            return {"greeting": "hello " + name, "times": times}
        """
    )
    outcome = await sandbox.run(Job(source, "greet", {"name": "ada", "times": 2}))
    assert outcome.ok, outcome
    assert json.loads(outcome.value or "") == {"greeting": "hello ada", "times": 2}
    assert outcome.stdout == "greeting ada\n"
    result = outcome_result("greet", outcome, TEST_LIMITS.memory_bytes)
    assert result.status == "success"
    assert result.stdout == ("greeting ada\n",)


@pytest.mark.parametrize(
    ("returned", "text"),
    [("None", "None"), ("'plain'", "plain"), ("[1, 2]", "[1, 2]"), ("3.5", "3.5")],
)
async def test_returns_are_stringified_as_letta_does(
    bwrap_sandbox: Sandbox, returned: str, text: str
) -> None:
    outcome = await bwrap_sandbox.run(Job(f"def f():\n    return {returned}\n", "f"))
    assert outcome.value == text


async def test_an_async_tool_is_awaited(sandbox: Sandbox) -> None:
    source = tool(
        """
        import asyncio
        async def later(x):
            await asyncio.sleep(0)
            return x * 2
        """
    )
    outcome = await sandbox.run(Job(source, "later", {"x": 21}))
    assert outcome.value == "42"


async def test_a_raising_tool_is_an_error_result_naming_the_exception(sandbox: Sandbox) -> None:
    source = "def explode():\n    raise ValueError('the fuse was short')\n"
    outcome = await sandbox.run(Job(source, "explode"))
    result = outcome_result("explode", outcome, TEST_LIMITS.memory_bytes)
    assert result.status == "error"
    assert result.text == "Error executing function explode: ValueError: the fuse was short"
    assert any("Traceback" in part for part in result.stderr)


async def test_a_missing_function_is_named(sandbox: Sandbox) -> None:
    outcome = await sandbox.run(Job("def other():\n    return 1\n", "wanted"))
    assert outcome.error_type == "NameError"
    assert "wanted" in (outcome.message or "")


async def test_agent_state_is_given_read_only_when_asked_for(sandbox: Sandbox) -> None:
    source = tool(
        """
        def peek(agent_state, label: str):
            block = agent_state.memory.get_block(label)
            try:
                agent_state.name = "changed"
            except AttributeError as exc:
                refused = str(exc)
            return {"id": agent_state.id, "value": block.value, "refused": refused}
        """
    )
    state = {"id": "agent-1", "name": "a", "memory": {"blocks": [{"label": "human", "value": "V"}]}}
    outcome = await sandbox.run(Job(source, "peek", {"label": "human"}, agent_state=state))
    answer = json.loads(outcome.value or "")
    assert answer["id"] == "agent-1"
    assert answer["value"] == "V"
    assert "read-only" in answer["refused"]


async def test_run_code_scripts_give_the_last_expression(sandbox: Sandbox) -> None:
    outcome = await sandbox.run(Job("x = 6\nprint('side')\nx * 7\n"))
    assert outcome.ok
    assert outcome.value == "42"
    assert outcome.stdout == "side\n"


# --- Hostile tools --------------------------------------------------------------------------


async def test_an_infinite_loop_is_stopped_at_its_cpu_limit(sandbox: Sandbox) -> None:
    outcome = await sandbox.run(Job("def spin():\n    while True:\n        pass\n", "spin"))
    assert not outcome.ok
    assert outcome.stopped is not None
    assert "CPU time limit of 2 seconds" in outcome.stopped
    result = outcome_result("spin", outcome, TEST_LIMITS.memory_bytes)
    assert result.text.startswith("Error executing function spin: the sandbox stopped it:")


async def test_a_sleeping_tool_is_stopped_at_its_wall_clock_limit(sandbox: Sandbox) -> None:
    source = "import time\ndef nap():\n    time.sleep(3600)\n"
    outcome = await sandbox.run(Job(source, "nap"), limits=limits(wall_seconds=1.0))
    assert outcome.stopped == "it ran longer than its wall-clock limit of 1s"


async def test_a_memory_hog_is_refused_its_memory(sandbox: Sandbox) -> None:
    source = "def hog():\n    blocks = [bytearray(64 * 1024 * 1024) for _ in range(64)]\n"
    outcome = await sandbox.run(Job(source, "hog"))
    result = outcome_result("hog", outcome, TEST_LIMITS.memory_bytes)
    assert result.status == "error"
    assert result.text == (
        "Error executing function hog: MemoryError: it exceeded its memory limit of 256 MB"
    )


async def test_huge_output_is_cut_off_and_stopped(sandbox: Sandbox) -> None:
    source = "import sys\ndef flood():\n    while True:\n        sys.stdout.write('x' * 4096)\n"
    outcome = await sandbox.run(Job(source, "flood"))
    assert outcome.stopped == "its stdout exceeded the output limit of 65536 bytes"
    assert len(outcome.stdout) == 65536


async def test_a_huge_file_is_refused(sandbox: Sandbox) -> None:
    source = tool(
        """
        def fill():
            with open("big", "wb") as f:
                f.write(b"x" * (4 * 1024 * 1024))
        """
    )
    outcome = await sandbox.run(Job(source, "fill"))
    assert not outcome.ok
    assert outcome.error_type == "OSError"
    assert "File too large" in (outcome.message or "")


@pytest.mark.skipif(not AS_ROOT, reason="the process-count limit applies to a user of its own")
async def test_a_fork_bomb_is_contained(sandbox: Sandbox) -> None:
    source = tool(
        """
        import os, time
        def bomb():
            children = 0
            while True:
                pid = os.fork()
                if pid == 0:
                    time.sleep(3600)
                    os._exit(0)
                children += 1
        """
    )
    outcome = await sandbox.run(Job(source, "bomb"))
    assert not outcome.ok
    assert outcome.error_type == "BlockingIOError"
    assert "Resource temporarily unavailable" in (outcome.message or "")
    # Every process it started was killed with it: each one's exit is awaited (a pidfd
    # becomes readable when its process has exited), with a generous guard.
    left = await asyncio.to_thread(_processes_of, SANDBOX_UID)
    await asyncio.wait_for(asyncio.gather(*(_exited(pid) for pid in left)), 30)


async def _exited(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_reader(fd, done.set)
    try:
        await done.wait()
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def _processes_of(uid: int) -> list[int]:
    """Processes of ``uid`` still alive (zombies being reaped are not)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)] and "Z" not in fields.get("State", ""):
            alive.append(int(entry.name))
    return alive


async def test_the_servers_environment_is_not_visible(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLEEPTIME_OPENAI_API_KEY", "sk-server-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-other-secret")
    source = tool(
        """
        import os
        def env():
            seen = dict(os.environ)
            try:
                seen["parent"] = open(f"/proc/{os.getppid()}/environ").read()
            except OSError as exc:
                seen["parent"] = type(exc).__name__
            return seen
        """
    )
    outcome = await sandbox.run(Job(source, "env", env={"AGENT_TOKEN": "given"}))
    assert outcome.ok, outcome
    assert "sk-server-secret" not in (outcome.value or "")
    assert "sk-other-secret" not in (outcome.value or "")
    seen = json.loads(outcome.value or "")
    assert seen["AGENT_TOKEN"] == "given"
    assert set(seen) - {"parent", "PWD"} == {"AGENT_TOKEN", "HOME", "LANG", "PATH", "TMPDIR"}


async def test_the_servers_files_are_not_there(bwrap_sandbox: Sandbox) -> None:
    source = tool(
        """
        import os
        def snoop(paths):
            found = {}
            for path in paths:
                try:
                    with open(path) as f:
                        found[path] = f.read(100)
                except OSError as exc:
                    found[path] = type(exc).__name__
            found["listing"] = sorted(os.listdir("/"))
            return found
        """
    )
    paths = [str(REPO / "app" / "config.py"), str(REPO / "pyproject.toml"), "/etc/passwd"]
    outcome = await bwrap_sandbox.run(Job(source, "snoop", {"paths": paths}))
    found = json.loads(outcome.value or "")
    for path in paths:
        assert found[path] == "FileNotFoundError", path
    assert "work" not in found["listing"]
    assert "home" not in found["listing"]


async def test_writing_outside_its_directory_fails(bwrap_sandbox: Sandbox, tmp_path: Path) -> None:
    outside = tmp_path / "escaped.txt"
    targets = [str(outside), str(REPO / "escaped.txt"), "/usr/escaped.txt", "/escaped.txt"]
    source = tool(
        """
        def scribble(paths):
            done = {}
            for path in paths:
                try:
                    with open(path, "w") as f:
                        f.write("x")
                    done[path] = "written"
                except OSError as exc:
                    done[path] = type(exc).__name__
            with open("inside.txt", "w") as f:
                f.write("fine")
            done["inside"] = open("inside.txt").read()
            return done
        """
    )
    outcome = await bwrap_sandbox.run(Job(source, "scribble", {"paths": targets}))
    done = json.loads(outcome.value or "")
    assert done["inside"] == "fine"
    for path in targets:
        assert done[path] != "written", path
    assert not any(await asyncio.to_thread(lambda: [Path(p).exists() for p in targets]))


async def test_the_network_is_off_unless_allowed(bwrap_sandbox: Sandbox) -> None:
    connected = asyncio.Event()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    source = tool(
        """
        import socket
        def call(port):
            with socket.create_connection(("127.0.0.1", port), timeout=10):
                return "connected"
        """
    )
    try:
        refused = await bwrap_sandbox.run(Job(source, "call", {"port": port}))
        assert not refused.ok
        assert refused.error_type == "ConnectionRefusedError"
        assert not connected.is_set()
        allowed = await bwrap_sandbox.run(Job(source, "call", {"port": port}, network=True))
        assert allowed.value == "connected"
        await asyncio.wait_for(connected.wait(), 30)
    finally:
        server.close()
        await server.wait_closed()


async def test_each_job_gets_a_fresh_directory_removed_afterwards(sandbox: Sandbox) -> None:
    source = tool(
        """
        import os
        def where():
            mine = os.listdir(".")
            open("mark", "w").write("1")
            return {"cwd": os.getcwd(), "home": os.environ["HOME"], "listing": mine}
        """
    )
    first = json.loads((await sandbox.run(Job(source, "where"))).value or "")
    second = json.loads((await sandbox.run(Job(source, "where"))).value or "")
    assert first["listing"] == second["listing"] == []
    assert first["home"] == first["cwd"]
    if sandbox.backend == Backend.subprocess:
        assert not await asyncio.to_thread(Path(first["cwd"]).exists)


async def test_start_reports_the_backend_it_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = await Sandbox.start(Settings(sandbox=SandboxChoice.subprocess))
    assert chosen.backend == Backend.subprocess
    found = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "bwrap" else found(name))
    fallback = await Sandbox.start(Settings(sandbox=SandboxChoice.auto))
    assert fallback.backend == Backend.subprocess
    with pytest.raises(RuntimeError, match="bwrap is not installed"):
        await Sandbox.start(Settings(sandbox=SandboxChoice.bwrap))


async def _first_job_then_backend(settings: Settings) -> Backend:
    """Start a sandbox checking later, run a job at once (it must succeed), and say which
    backend the check chose."""
    sandbox = await Sandbox.start(settings, check_later=True)
    try:
        outcome = await sandbox.run(Job("def f():\n    return 7\n", "f"))
        assert outcome.value == "7"
        return await sandbox.checked()
    finally:
        await sandbox.close()


async def test_a_later_check_decides_before_the_first_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process does not wait for ``auto``'s self-check to start; a job does, and runs on
    the backend the check chose, as the check at start would have chosen it."""
    settings = Settings(sandbox=SandboxChoice.auto)
    now = await Sandbox.start(settings)
    assert await _first_job_then_backend(settings) == now.backend
    # A bubblewrap that fails its check: the later check falls back, and the job still runs.
    found = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda name: "/bin/false" if name == "bwrap" else found(name)
    )
    assert await _first_job_then_backend(settings) == Backend.subprocess


async def test_closing_stops_a_check_still_running() -> None:
    sandbox = await Sandbox.start(Settings(sandbox=SandboxChoice.auto), check_later=True)
    await sandbox.close()
    check = sandbox._check
    assert check is None or check.done()
