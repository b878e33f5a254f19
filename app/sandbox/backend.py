"""The sandbox of a process: which backend runs tools out of process (chosen and checked at
start), and running one job in it under its limits.

A job is the tool's source, the function to call and its arguments (or a script, for
``run_code``), the environment the tool may see and, when the function asks for it, the
agent's state. The process gets them on stdin and answers on a channel of its own (see
``app.sandbox.child``); what it prints is read up to a byte limit.
"""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog

from app.config import SandboxChoice, Settings
from app.sandbox import command
from app.sandbox.command import Identity, Interpreter

log = structlog.get_logger("app.sandbox")

# The sandboxed program comes first on stdin, as one JSON line, so no command line shows it.
CHILD_LINE = json.dumps((Path(__file__).parent / "child.py").read_text(encoding="utf-8")).encode()
CHILD_LINE += b"\n"
BOOTSTRAP = "import json,sys;exec(json.loads(sys.stdin.buffer.readline()))"
MB = 1024 * 1024
DRAIN_SECONDS = 5.0  # after the process ends, how long its output may take to arrive
_KILL_REASONS = {
    signal.SIGXCPU: "it used more than its CPU time limit of {cpu} seconds",
    signal.SIGXFSZ: "it wrote a file larger than the limit of {fsize} bytes",
}


class Backend(StrEnum):
    bwrap = "bwrap"
    subprocess = "subprocess"


class SandboxUnavailable(RuntimeError):
    """``SLEEPTIME_SANDBOX=bwrap`` was asked for and bubblewrap does not work here."""


@dataclass(frozen=True, slots=True)
class Limits:
    cpu_seconds: int = 30
    memory_bytes: int = 512 * MB
    file_size_bytes: int = 16 * MB
    processes: int = 32
    open_files: int = 64
    output_bytes: int = 1_000_000
    wall_seconds: float = 60.0

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        return cls(
            cpu_seconds=settings.sandbox_cpu_seconds,
            memory_bytes=settings.sandbox_memory_mb * MB,
            file_size_bytes=settings.sandbox_file_size_mb * MB,
            processes=settings.sandbox_max_processes,
            open_files=settings.sandbox_open_files,
            output_bytes=settings.sandbox_output_bytes,
            wall_seconds=settings.tool_timeout_seconds,
        )


@dataclass(frozen=True, slots=True)
class Job:
    source: str
    function: str | None = None  # None: run ``source`` as a script (``run_code``)
    args: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    agent_state: Mapping[str, Any] | None = None
    network: bool = False
    venv: str | None = None  # a tool environment with the tool's pip requirements


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a job ended: its return (as text), or why it failed."""

    ok: bool
    value: str | None = None
    error_type: str | None = None
    message: str | None = None
    traceback: str | None = None
    stdout: str = ""
    stderr: str = ""
    stopped: str | None = None  # set when the sandbox stopped the process: which limit


class Sandbox:
    """Runs jobs with one backend and one set of limits."""

    def __init__(
        self,
        backend: Backend,
        limits: Limits,
        *,
        interpreter: Interpreter | None = None,
        identity: Identity | None = None,
        bwrap: str | None = None,
    ) -> None:
        self.backend = backend
        self.limits = limits
        self.interpreter = interpreter or Interpreter.base()
        self.identity = identity or Identity(None)
        self.bwrap = bwrap or "bwrap"
        self._check: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, settings: Settings, *, check_later: bool = False) -> "Sandbox":
        """The sandbox ``SLEEPTIME_SANDBOX`` asks for: bubblewrap when it passes a self-check
        (``auto`` falls back to a plain subprocess with one warning; ``bwrap`` refuses).

        With ``check_later``, ``auto``'s self-check (a sandboxed interpreter started, a tenth
        of a second) runs on a task of the sandbox's own instead of delaying the process's
        start: jobs wait for it (``checked``), and ``close`` ends it."""
        limits, identity = Limits.of(settings), Identity.current(settings.sandbox_uid)
        if identity.drop_to is not None and shutil.which("setpriv") is None:
            raise SandboxUnavailable(
                "the server runs as root and needs setpriv (util-linux) to run tools as "
                f"SLEEPTIME_SANDBOX_UID={identity.drop_to}; install it or run as another user"
            )
        plain = cls(Backend.subprocess, limits, identity=identity)
        if settings.sandbox == SandboxChoice.subprocess:
            return plain
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            return _fall_back(settings, plain, "bwrap is not installed")
        candidate = cls(Backend.bwrap, limits, identity=identity, bwrap=bwrap)
        if check_later and settings.sandbox == SandboxChoice.auto:
            candidate._check = asyncio.create_task(candidate._decide(), name="sandbox-check")
            return candidate
        problem = await _checked(candidate)
        return candidate if problem is None else _fall_back(settings, plain, problem)

    async def _decide(self) -> None:
        """``auto``'s self-check, later: bubblewrap stays if it passes, else the fallback."""
        problem = await _checked(self)
        if problem is not None:
            _warn_fallback(problem)
            self.backend = Backend.subprocess

    async def checked(self) -> Backend:
        """The backend in effect, once the self-check (when one is still running) has
        decided it."""
        if self._check is not None:
            # Shielded: a caller cancelled while it waits leaves the check running.
            await asyncio.shield(self._check)
        return self.backend

    async def close(self) -> None:
        """Stop a self-check still running (its process is killed)."""
        if self._check is not None and not self._check.done():
            self._check.cancel()
            await asyncio.gather(self._check, return_exceptions=True)

    async def run(self, job: Job, *, limits: Limits | None = None) -> Outcome:
        """Run the job to its end or to a limit; never raises for what the tool does."""
        await self.checked()
        return await self._run(job, limits or self.limits)

    async def _run(self, job: Job, limits: Limits) -> Outcome:
        workdir = await asyncio.to_thread(self._workdir)
        try:
            return await self._run_in(workdir, job, limits)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    def _workdir(self) -> str:
        workdir = tempfile.mkdtemp(prefix="sleeptime-tool-")
        if self.identity.drop_to is not None:
            os.chown(workdir, self.identity.drop_to, self.identity.drop_to)
        return workdir

    def _argv(self, job: Job, workdir: str) -> tuple[list[str], dict[str, str] | None, str]:
        interpreter = self.interpreter
        if job.venv is not None:
            interpreter = interpreter.with_environment(job.venv)
        if self.backend == Backend.bwrap:
            argv = command.bwrap_argv(
                self.bwrap,
                interpreter,
                self.identity,
                workdir,
                network=job.network,
                child_source=BOOTSTRAP,
            )
            return argv, {}, workdir
        argv = command.plain_argv(interpreter, self.identity, BOOTSTRAP)
        return argv, command.plain_env(workdir), workdir

    async def _run_in(self, workdir: str, job: Job, limits: Limits) -> Outcome:
        """Start the process with pipes of our own for its output and its result, so that
        its exit is seen when it exits, whoever else still holds them."""
        argv, env, cwd = self._argv(job, workdir)
        pipes = [os.pipe() for _ in range(3)]  # stdout, stderr, result
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=pipes[0][1],
                stderr=pipes[1][1],
                pass_fds=(pipes[2][1],),
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            for read_end, _ in pipes:
                os.close(read_end)
            return Outcome(False, error_type="SandboxError", message=f"cannot start: {exc}")
        finally:
            for _, write_end in pipes:
                os.close(write_end)
        payload = CHILD_LINE + self._payload(job, limits, pipes[2][1])
        return await _Watch(process, [r for r, _ in pipes], limits).outcome(payload)

    def _payload(self, job: Job, limits: Limits, result_fd: int) -> bytes:
        rlimits = {
            "cpu_seconds": limits.cpu_seconds,
            "memory_bytes": limits.memory_bytes,
            "file_size_bytes": limits.file_size_bytes,
            "open_files": limits.open_files,
            "processes": limits.processes if self.identity.drop_to is not None else None,
        }
        body = {
            "mode": "function" if job.function is not None else "script",
            "source": job.source,
            "function": job.function,
            "args": dict(job.args),
            "env": dict(job.env),
            "agent_state": dict(job.agent_state) if job.agent_state is not None else None,
            "limits": rlimits,
            "result_fd": result_fd,
        }
        return json.dumps(body, ensure_ascii=False).encode()


class _Watch:
    """One running process: feeds its job, reads its output up to the byte limit, and stops
    it (the whole process group) at the wall-clock limit or when it prints too much. When its
    first process exits, the group goes with it, so nothing it started outlives it."""

    def __init__(
        self, process: asyncio.subprocess.Process, read_fds: list[int], limits: Limits
    ) -> None:
        self.process = process
        self.read_fds = read_fds
        self.limits = limits
        self.stopped: str | None = None

    async def outcome(self, payload: bytes) -> Outcome:
        transports: list[asyncio.BaseTransport] = []
        readers = []
        try:
            for fd in self.read_fds:
                reader, transport = await _reader(fd)
                transports.append(transport)
                readers.append(reader)
            read = await self._communicate(payload, readers)
        finally:
            self._kill()
            for transport in transports:
                transport.close()
            await self.process.wait()
        return self._judge(*read)

    async def _communicate(
        self, payload: bytes, readers: list[asyncio.StreamReader]
    ) -> tuple[bytes, bytes, bytes]:
        names = ("stdout", "stderr", "result")
        feed = asyncio.create_task(self._feed(payload))
        reads = [asyncio.create_task(self._read(r, n)) for r, n in zip(readers, names, strict=True)]
        try:
            try:
                async with asyncio.timeout(self.limits.wall_seconds):
                    await self.process.wait()
            except TimeoutError:
                wall = self.limits.wall_seconds
                self._stop(f"it ran longer than its wall-clock limit of {wall:g}s")
            self._kill()  # its group goes with it; the pipes close
            # A process that left the group (a new session) may keep a pipe open: what was
            # read by then is what the tool printed.
            await asyncio.wait(reads, timeout=DRAIN_SECONDS)
            out, err, result = (t.result() if t.done() else b"" for t in reads)
            return out, err, result
        finally:
            for task in (feed, *reads):
                task.cancel()
            await asyncio.gather(feed, *reads, return_exceptions=True)

    async def _feed(self, payload: bytes) -> None:
        stdin = self.process.stdin
        if stdin is None:
            raise RuntimeError("the sandboxed process has no input pipe")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            stdin.write(payload)
            await stdin.drain()
            stdin.close()
            await stdin.wait_closed()

    async def _read(self, stream: asyncio.StreamReader, name: str) -> bytes:
        """The stream to its end, keeping ``output_bytes`` at most: past them the process
        is stopped (and the rest, until the pipe closes, dropped)."""
        cap = self.limits.output_bytes
        kept = bytearray()
        while chunk := await stream.read(65536):
            if len(kept) + len(chunk) > cap and self.stopped is None:
                self._stop(f"its {name} exceeded the output limit of {cap} bytes")
            kept += chunk[: max(cap - len(kept), 0)]
        return bytes(kept)

    def _stop(self, reason: str) -> None:
        self.stopped = self.stopped or reason
        self._kill()

    def _kill(self) -> None:
        """Kill the process group (bubblewrap's; inside it, the sandbox's pid namespace dies
        with it), whether or not its leader has exited already."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def _judge(self, out: bytes, err: bytes, result: bytes) -> Outcome:
        stdout = out.decode("utf-8", "replace")
        stderr = err.decode("utf-8", "replace")
        if self.stopped is not None:
            return Outcome(False, stdout=stdout, stderr=stderr, stopped=self.stopped)
        try:
            answer = json.loads(result)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and answer.get("ok") is True:
            return Outcome(True, value=str(answer.get("value")), stdout=stdout, stderr=stderr)
        if isinstance(answer, dict) and answer.get("ok") is False:
            return Outcome(
                False,
                error_type=str(answer.get("type")),
                message=str(answer.get("message")),
                traceback=str(answer.get("traceback")),
                stdout=stdout,
                stderr=stderr,
            )
        return Outcome(False, stdout=stdout, stderr=stderr, stopped=self._died())

    def _died(self) -> str:
        code = self.process.returncode or 0
        signum = -code if code < 0 else code - 128 if code > 128 else 0
        limits = self.limits
        if signum in _KILL_REASONS:
            reason = _KILL_REASONS[signal.Signals(signum)]
            return reason.format(cpu=limits.cpu_seconds, fsize=limits.file_size_bytes)
        if signum == signal.SIGKILL:
            return (
                "it was killed (most likely for exceeding its memory limit of "
                f"{limits.memory_bytes // MB} MB or its CPU time limit of {limits.cpu_seconds}s)"
            )
        if signum:
            return f"it was killed by signal {signal.Signals(signum).name}"
        return f"it exited with status {code} before returning a result"


async def _reader(fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    protocol = asyncio.StreamReaderProtocol(reader)
    transport, _ = await loop.connect_read_pipe(lambda: protocol, os.fdopen(fd, "rb", buffering=0))
    return reader, transport


# What the self-check found, per bubblewrap and interpreter: the host does not change while
# the process runs, so a process that builds its runtime again does not check again.
_CHECKS: dict[tuple[str, str, int | None], str | None] = {}


async def _checked(sandbox: Sandbox) -> str | None:
    key = (sandbox.bwrap, sandbox.interpreter.executable, sandbox.identity.drop_to)
    if key not in _CHECKS:
        _CHECKS[key] = await _self_check(sandbox)
    return _CHECKS[key]


async def _self_check(sandbox: Sandbox) -> str | None:
    """Why the sandbox cannot run a trivial tool here, or None when it can."""
    job = Job("def check():\n    return 'ok'\n", "check")
    check_limits = Limits(**{**_fields(sandbox.limits), "wall_seconds": 30.0})
    outcome = await sandbox._run(job, check_limits)  # not ``run``: it waits for this check
    if outcome.ok and outcome.value == "ok":
        return None
    detail = outcome.stopped or f"{outcome.error_type}: {outcome.message}"
    return f"{detail}; stderr: {outcome.stderr.strip()[-500:]}"


def _fall_back(settings: Settings, plain: Sandbox, problem: str) -> Sandbox:
    if settings.sandbox == SandboxChoice.bwrap:
        raise SandboxUnavailable(f"SLEEPTIME_SANDBOX=bwrap but bubblewrap fails: {problem}")
    _warn_fallback(problem)
    return plain


def _warn_fallback(problem: str) -> None:
    log.warning(
        "sandbox.fallback",
        reason=problem,
        backend=Backend.subprocess.value,
        note="tools run as plain subprocesses with rlimits: no filesystem or network "
        "isolation; install bubblewrap for both",
    )


def _fields(limits: Limits) -> dict[str, Any]:
    return {name: getattr(limits, name) for name in Limits.__dataclass_fields__}
