"""The official SDKs that cannot live in the project's environment, made ready on demand, and
scripts run with them against a live server.

- Python ``letta-client`` 1.7.0 (the last with the groups resource) cannot be installed next
  to the project's 1.12.x: ``uv`` builds a venv of its own, pinned by
  ``py/letta-client-<version>.txt``, under ``.cache/sdk/`` in the repository (ignored by git)
  and reuses it while the pins are unchanged.
- The TypeScript SDK ``@letta-ai/letta-client`` runs on the machine's Node.js: ``npm ci``
  installs ``ts/package-lock.json`` into ``ts/node_modules`` when it is missing or stale.

A script reads one JSON request on stdin and writes one JSON answer on stdout. A missing tool
(uv, node, npm) fails the test with a message saying what to install; it never skips.
"""

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CACHE = ROOT / ".cache" / "sdk"
PY_DIR = HERE / "py"
TS_DIR = HERE / "ts"
TS_PACKAGE = "@letta-ai/letta-client"
SETUP_TIMEOUT = 600
SCRIPT_TIMEOUT = 300
NODE_MAJOR = 18  # the oldest Node.js the TypeScript SDK supports (global fetch)


def _env() -> dict[str, str]:
    """The environment for tools and scripts, without the project's virtualenv in it."""
    return {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}


def _tool(name: str, install: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` is not on PATH; the SDK compatibility tests need it: {install}")
    return found


def _run(args: list[str], *, cwd: Path | None = None) -> None:
    done = subprocess.run(
        args,
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=SETUP_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(args)}` failed ({done.returncode}):\n{done.stderr[-4000:]}")


@contextmanager
def _locked() -> Iterator[None]:
    """One builder at a time, should two test sessions share the repository."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def python_sdk(version: str) -> Path:
    """The Python of a venv holding ``letta-client==version`` (built once, then reused)."""
    pins = PY_DIR / f"letta-client-{version}.txt"
    venv = CACHE / f"python-letta-client-{version}"
    python, stamp = venv / "bin" / "python", venv / "pins.txt"
    with _locked():
        if python.exists() and stamp.exists() and stamp.read_text() == pins.read_text():
            return python
        # `uv run` names itself in UV; otherwise look on PATH
        uv = os.environ.get("UV") or _tool("uv", "pip install uv")
        shutil.rmtree(venv, ignore_errors=True)
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
        _run([uv, "pip", "install", "--quiet", "--python", str(python), "-r", str(pins)])
        stamp.write_text(pins.read_text())  # written last: a half-built venv is rebuilt
    return python


def _locked_version() -> str:
    lock = json.loads((TS_DIR / "package-lock.json").read_text())
    version: str = lock["packages"][f"node_modules/{TS_PACKAGE}"]["version"]
    return version


def _installed_version() -> str | None:
    manifest = TS_DIR / "node_modules" / TS_PACKAGE / "package.json"
    if not manifest.exists():
        return None
    version: str = json.loads(manifest.read_text())["version"]
    return version


def typescript_sdk() -> str:
    """The ``node`` to run scripts in ``ts/`` with, after ``npm ci`` if needed."""
    install = "install Node.js 18 or newer with npm (Debian: apt-get install nodejs npm)"
    node = _tool("node", install)
    npm = _tool("npm", install)
    done = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    major = int(done.stdout.strip().lstrip("v").split(".")[0] or 0)
    if major < NODE_MAJOR:
        pytest.fail(f"Node.js {done.stdout.strip()} is too old for the TypeScript SDK: {install}")
    with _locked():
        if _installed_version() != _locked_version():
            _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=TS_DIR)
    return node


def run_script(interpreter: str | Path, script: Path, request: dict[str, Any]) -> dict[str, Any]:
    """Run ``script`` (in its own folder) with ``request`` on stdin; its JSON answer."""
    command = [str(interpreter), str(script)]
    done = subprocess.run(
        command,
        input=json.dumps(request),
        cwd=script.parent,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stderr[-4000:]}"
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer
