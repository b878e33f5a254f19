"""Real ``sleeptime`` processes for tests: started, waited for (by their own log lines, read
from a thread that drains stderr), stopped or killed."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 60


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run ``sleeptime ARGS`` to its end with ``env`` over this environment: (exit code,
    stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def server_env(database_url: str, model_url: str, **settings: str) -> dict[str, str]:
    """The settings of a server process on ``database_url`` whose one model, gpt-4o-mini, is
    the fake OpenAI-compatible server at ``model_url``; ``settings`` adds to them."""
    return {
        "SLEEPTIME_DATABASE_URL": database_url,
        "SLEEPTIME_OPENAI_BASE_URL": model_url,
        "SLEEPTIME_OPENAI_MODELS": "gpt-4o-mini",
        "SLEEPTIME_AUTO_MIGRATE": "true",
        **settings,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Process:
    def __init__(self, args: list[str], env: dict[str, str], ready: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._logged = threading.Condition()
        self._ready = threading.Event()
        self._marker = ready
        self._reader = threading.Thread(target=self._drain)
        self._reader.start()
        self._ready.wait(STARTUP_TIMEOUT)
        if self.process.poll() is not None:
            self.close()
            raise AssertionError("process exited at start:\n" + "".join(self.lines[-30:]))

    def _drain(self) -> None:
        for line in self.process.stderr or ():
            with self._logged:
                self.lines.append(line)
                self._logged.notify_all()
            if self._marker in line:
                self._ready.set()
        self._ready.set()

    def _count(self, markers: tuple[str, ...]) -> int:
        return sum(all(m in line for m in markers) for line in self.lines)

    def logged(self, *markers: str) -> int:
        """How many lines so far contain every one of ``markers``."""
        with self._logged:
            return self._count(markers)

    def wait_for(self, *markers: str, count: int = 1, timeout: float = STARTUP_TIMEOUT) -> None:
        """Block (in a worker thread) until ``count`` lines contain every one of ``markers``."""
        with self._logged:
            found = self._logged.wait_for(lambda: self._count(markers) >= count, timeout)
        if not found:
            tail = "".join(self.lines[-30:])
            raise AssertionError(f"{count} x {markers} not logged within {timeout}s:\n{tail}")

    @classmethod
    def serve(cls, env: dict[str, str], *extra: str) -> tuple[Self, str]:
        port = free_port()
        proc = cls(["serve", "--port", str(port), *extra], env, "Uvicorn running on")
        return proc, f"http://127.0.0.1:{port}"

    @classmethod
    def worker(cls, env: dict[str, str]) -> Self:
        return cls(["worker"], env, "worker.started")

    def kill(self) -> None:
        """``kill -9``: no cleanup of any kind."""
        self.process.send_signal(signal.SIGKILL)
        self.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.close()

    def close(self) -> None:
        self.process.wait(STARTUP_TIMEOUT)
        self._reader.join(STARTUP_TIMEOUT)
        if self.process.stderr is not None:
            self.process.stderr.close()
