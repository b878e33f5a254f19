"""Python environments for tools with ``pip_requirements``: one per set of requirements,
built once, cached on disk by a hash of the set, and bound read-only into the sandbox.

An environment is built (``uv venv`` and ``uv pip install``, or ``venv`` and ``pip`` where uv
is absent) in a temporary directory and renamed into place, so a reader never sees a half
built one, and two processes building the same set do the work twice at worst. Within a
process, one build per set runs at a time, as a task this object owns: a tool call that gives
up waiting leaves it running for the next call, and closing the object stops it.
"""

import asyncio
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog

from app.sandbox.command import Interpreter

log = structlog.get_logger("app.sandbox.venvs")

# Variables the installer may need from the server's environment (an index, a proxy);
# nothing else of it, provider keys least of all, reaches the build.
_PASSED = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
_PASSED_PREFIXES = ("PIP_", "UV_")
_OUTPUT_TAIL = 2000


class InstallFailed(Exception):
    pass


def requirement_specs(requirements: Sequence[Mapping[str, Any]]) -> list[str]:
    """Letta's PipRequirement objects ({name, version}) as pip specifiers."""
    specs = []
    for item in requirements:
        name = str(item.get("name") or "").strip()
        if not name:
            continue
        version = str(item.get("version") or "").strip()
        specs.append(f"{name}=={version}" if version else name)
    return sorted(set(specs))


def default_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME")
    return (Path(cache) if cache else Path.home() / ".cache") / "sleeptime-server" / "tool-venvs"


class Environments:
    def __init__(self, root: Path, interpreter: Interpreter, timeout_seconds: float) -> None:
        self.root = root
        self.interpreter = interpreter
        self.timeout_seconds = timeout_seconds
        self._builds: dict[str, asyncio.Task[str]] = {}

    def key(self, specs: Sequence[str]) -> str:
        material = json.dumps([sys.version, self.interpreter.executable, list(specs)])
        return hashlib.sha256(material.encode()).hexdigest()[:24]

    async def ensure(self, specs: Sequence[str]) -> str:
        """The environment's directory, built if need be (raises ``InstallFailed``)."""
        key = self.key(specs)
        target = self.root / key
        if await asyncio.to_thread((target / "bin" / "python").exists):
            return str(target)
        build = self._builds.get(key)
        if build is None or (build.done() and (build.cancelled() or build.exception() is not None)):
            build = asyncio.create_task(self._build(target, list(specs)))
            self._builds[key] = build
        return await asyncio.shield(build)

    async def aclose(self) -> None:
        """Stop builds still running; their outcome no longer matters to anyone."""
        for build in self._builds.values():
            build.cancel()
        await asyncio.gather(*self._builds.values(), return_exceptions=True)

    async def _build(self, target: Path, specs: list[str]) -> str:
        try:
            return await self._build_in(target, specs)
        except OSError as exc:
            raise InstallFailed(f"{type(exc).__name__}: {exc}") from exc

    async def _build_in(self, target: Path, specs: list[str]) -> str:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        staging = await asyncio.to_thread(tempfile.mkdtemp, prefix=".build-", dir=self.root)
        built = str(Path(staging) / "env")
        try:
            log.info("sandbox.venv.build", specs=specs, target=str(target))
            for argv in self._commands(built, specs):
                await self._step(argv, staging)
            await asyncio.to_thread(_publish, built, target)
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)
        return str(target)

    def _commands(self, staging: str, specs: list[str]) -> list[list[str]]:
        base, python = self.interpreter.executable, str(Path(staging) / "bin" / "python")
        uv = shutil.which("uv")
        if uv is not None:
            return [
                [uv, "venv", "--quiet", "--python", base, staging],
                [uv, "pip", "install", "--quiet", "--python", python, *specs],
            ]
        return [
            [base, "-m", "venv", staging],
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *specs],
        ]

    async def _step(self, argv: list[str], staging: str) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": staging}
        env |= {k: v for k, v in os.environ.items() if k in _PASSED}
        env |= {k: v for k, v in os.environ.items() if k.startswith(_PASSED_PREFIXES)}
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            async with asyncio.timeout(self.timeout_seconds):
                output, _ = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        if process.returncode != 0:
            tail = output.decode("utf-8", "replace")[-_OUTPUT_TAIL:]
            raise InstallFailed(f"`{' '.join(argv[:3])} ...` failed: {tail.strip()}")


def _publish(staging: str, target: Path) -> None:
    """Move the built environment into place (another process may have won the race)."""
    # Readable by the sandbox's own user, which runs it; never writable by it.
    for directory, _, _ in os.walk(staging):
        Path(directory).chmod(0o755)
    try:
        Path(staging).rename(target)
    except OSError:
        if not (target / "bin" / "python").exists():
            raise
