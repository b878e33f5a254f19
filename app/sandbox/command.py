"""The command line that starts a sandboxed process, for each backend.

bubblewrap: new user (when not root), pid, network (unless allowed), IPC, UTS and cgroup
namespaces; a root of its own holding read-only binds of the interpreter and the system
libraries only, ``/proc`` of its own pid namespace, a minimal ``/dev`` and the job's
directory as the one writable place. The server's own files (its code, its database, its
configuration) are not in it. When the server runs as root the process also drops to an
unprivileged user, so that the process-count limit applies to it.

The plain subprocess: the same interpreter, environment and limits, in a directory of its
own, but the host's filesystem and network as the user it runs as sees them.
"""

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

BOX = "/sandbox"  # the job's directory, inside a bubblewrap sandbox
PATH = "/usr/local/bin:/usr/bin:/bin"
# Files of /etc an interpreter may need: certificates and time zones; name resolution only
# with the network.
_ETC = ("/etc/ssl", "/etc/ca-certificates", "/etc/localtime", "/etc/alternatives")
_ETC_NETWORK = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf")
_TOP = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


@dataclass(frozen=True, slots=True)
class Interpreter:
    """The Python a job runs with: its executable and the directories it needs."""

    executable: str
    roots: tuple[str, ...]  # directories bound read-only (its prefix, a tool's environment)

    @classmethod
    def base(cls) -> "Interpreter":
        """The interpreter the server was built from, never the server's own environment:
        none of the server's packages are importable in a sandbox."""
        executable = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
        prefix = str(Path(sys.base_prefix).resolve())
        return cls(str(executable), _outside_usr(prefix, str(executable.parent)))

    def with_environment(self, venv: str) -> "Interpreter":
        """A tool environment made from this interpreter (its packages added)."""
        return Interpreter(str(Path(venv) / "bin" / "python"), (*self.roots, venv))


def _outside_usr(*paths: str) -> tuple[str, ...]:
    kept: list[str] = []
    for path in paths:
        if not path.startswith("/usr/") and not any(path.startswith(k + "/") for k in kept):
            kept.append(path)
    return tuple(dict.fromkeys(kept))


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the sandboxed process runs as: the server's user, or ``uid`` when the server is
    root (dropped with ``setpriv`` inside the sandbox)."""

    drop_to: int | None

    @classmethod
    def current(cls, uid: int) -> "Identity":
        return cls(uid if os.geteuid() == 0 else None)

    def prefix(self) -> list[str]:
        if self.drop_to is None:
            return []
        uid = str(self.drop_to)
        return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs"]


def python_argv(interpreter: Interpreter, child_source: str) -> list[str]:
    # -I: no PYTHON* variables, no user site, the script's directory not on sys.path.
    return [interpreter.executable, "-I", "-c", child_source]


def bwrap_argv(
    bwrap: str,
    interpreter: Interpreter,
    identity: Identity,
    workdir: str,
    *,
    network: bool,
    child_source: str,
) -> list[str]:
    argv = [bwrap, "--die-with-parent", "--new-session"]
    argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if identity.drop_to is None:
        argv.append("--unshare-user")
    if not network:
        argv.append("--unshare-net")
    argv += ["--ro-bind", "/usr", "/usr"]
    for top in _TOP:
        argv += _mirror(top)
    made: set[str] = set()
    for root in interpreter.roots:
        argv += [*_parents(root, made), "--ro-bind", root, root]
    for path in (*_ETC, *(_ETC_NETWORK if network else ())):
        if Path(path).exists():
            argv += [*_parents(path, made), "--ro-bind", path, path]
    argv += ["--proc", "/proc", "--dev", "/dev", "--bind", workdir, BOX, "--chdir", BOX]
    argv += ["--clearenv", "--setenv", "PATH", PATH, "--setenv", "HOME", BOX]
    argv += ["--setenv", "TMPDIR", BOX, "--setenv", "LANG", "C.UTF-8"]
    return [*argv, "--", *identity.prefix(), *python_argv(interpreter, child_source)]


def plain_env(workdir: str) -> dict[str, str]:
    return {"PATH": PATH, "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"}


def plain_argv(interpreter: Interpreter, identity: Identity, child_source: str) -> list[str]:
    return [*identity.prefix(), *python_argv(interpreter, child_source)]


def _mirror(top: str) -> list[str]:
    """A top-level directory as the host has it: a symlink (merged /usr) or a read-only bind."""
    path = Path(top)
    if path.is_symlink():
        return ["--symlink", str(path.readlink()), top]
    if path.is_dir():
        return ["--ro-bind", top, top]
    return []


def _parents(path: str, made: set[str]) -> list[str]:
    """Directories leading to a bind, made traversable (bubblewrap would make them 0700)."""
    argv: list[str] = []
    for parent in _ancestors(Path(path)):
        if parent in made or parent in ("/", "/usr") or parent.startswith("/usr/"):
            continue
        if any(parent == t or parent.startswith(t + "/") for t in _TOP):
            continue
        made.add(parent)
        argv += ["--perms", "0755", "--dir", parent]
    return argv


def _ancestors(path: Path) -> Iterable[str]:
    return [str(p) for p in reversed(path.parents)]
