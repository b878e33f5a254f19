"""The program a sandboxed process runs, before and around the tool's own code.

It is passed to the interpreter with ``-c`` and imports only the standard library. It reads
its job (JSON) from stdin, sets its resource limits, runs the tool, and writes one JSON
object on the result channel (a descriptor named in the job), which the tool's prints never
reach: stdout and stderr stay the tool's own. This module is never imported by the server.
"""

import ast
import asyncio
import inspect
import json
import os
import resource
import sys
import traceback
from pathlib import Path
from types import MappingProxyType
from typing import Any

LIMITS = {
    "cpu_seconds": resource.RLIMIT_CPU,
    "memory_bytes": resource.RLIMIT_AS,
    "file_size_bytes": resource.RLIMIT_FSIZE,
    "processes": resource.RLIMIT_NPROC,
    "open_files": resource.RLIMIT_NOFILE,
}


class Frozen:
    """A read-only object: attributes from a mapping, nested mappings frozen in turn."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        object.__setattr__(self, "_fields", MappingProxyType(dict(fields)))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"agent_state is read-only (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"agent_state is read-only (cannot delete {name!r})")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self._fields)!r})"


class Block(Frozen):
    pass


class Memory(Frozen):
    def get_block(self, label: str) -> Block:
        for block in self.blocks:
            if block.label == label:
                found: Block = block
                return found
        raise KeyError(
            f"Block field {label} does not exist (available sections = {self.list_block_labels()})"
        )

    def list_block_labels(self) -> list[str]:
        return [block.label for block in self.blocks]


class AgentState(Frozen):
    def get_agent_env_vars_as_dict(self) -> dict[str, str]:
        return dict(os.environ)


def _agent_state(raw: dict[str, Any]) -> AgentState:
    memory = raw.get("memory") or {}
    blocks = tuple(Block(b) for b in memory.get("blocks") or ())
    return AgentState({**raw, "memory": Memory({"blocks": blocks}), "tools": (), "tool_rules": ()})


def _set_limits(limits: dict[str, int]) -> None:
    for name, which in LIMITS.items():
        value = limits.get(name)
        if value:
            # CPU: the soft limit sends SIGXCPU, a second more SIGKILL.
            hard = value + 1 if which == resource.RLIMIT_CPU else value
            resource.setrlimit(which, (value, hard))


def _text(value: Any) -> str:
    """The return as the model sees it, stringified as Letta does."""
    if isinstance(value, str):
        return value
    if value is None:
        return "None"
    if isinstance(value, dict):
        return json.dumps(value, indent=2, ensure_ascii=False)
    return str(value)


def _call(job: dict[str, Any]) -> str:
    scope: dict[str, Any] = {"__name__": "__sandbox_tool__", "__builtins__": __builtins__}
    exec(compile(job["source"], "<tool>", "exec"), scope)
    name = job["function"]
    function = scope.get(name)
    if not callable(function):
        message = f"the tool's source defines no function named {name!r}"
        raise NameError(message)  # noqa: TRY004 - a missing name, as Python reports one
    args = dict(job.get("args") or {})
    if "agent_state" in inspect.signature(function).parameters:
        raw = job.get("agent_state")
        args["agent_state"] = _agent_state(raw) if raw is not None else None
    value = function(**args)
    if inspect.isawaitable(value):
        value = asyncio.run(_awaited(value))
    return _text(value)


async def _awaited(value: Any) -> Any:
    return await value


def _script(job: dict[str, Any]) -> str:
    """Run code as a notebook cell: the value of a last bare expression is its result."""
    tree = ast.parse(job["source"], "<code>", "exec")
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    scope: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    exec(compile(tree, "<code>", "exec"), scope)
    if last is None:
        return ""
    value = eval(compile(ast.Expression(last.value), "<code>", "eval"), scope)
    return "" if value is None else repr(value)


def main() -> None:
    job = json.loads(sys.stdin.buffer.read())
    channel = os.fdopen(job["result_fd"], "w", encoding="utf-8")
    os.set_inheritable(channel.fileno(), False)
    sys.stdin = Path(os.devnull).open(encoding="utf-8")  # noqa: SIM115
    os.environ.update(job.get("env") or {})
    _set_limits(job.get("limits") or {})
    try:
        value = _script(job) if job.get("mode") == "script" else _call(job)
        outcome: dict[str, Any] = {"ok": True, "value": value}
    except BaseException as exc:  # noqa: BLE001 - everything the tool raised is its result
        outcome = {
            "ok": False,
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": traceback.format_exc(),
        }
    sys.stdout.flush()
    sys.stderr.flush()
    json.dump(outcome, channel, ensure_ascii=False)
    channel.close()


if __name__ == "__main__":
    main()
