"""What is checked before a command touches anything, so that the common mistakes of a first
start end in one line saying what to change, not in a driver's traceback.

- Settings that do not validate (a database URL of another kind, a provider URL without
  ``http://``, a key pasted with quotes, a negative lease): ``settings_problem``.
- A SQLite file in a directory that does not exist or cannot be written; a PostgreSQL server
  that does not answer, does not know the user, its password or the database:
  ``check_database``.
- The API's port taken by another process, or a host that is not this machine's:
  ``check_listen``.
"""

import errno
import os
import socket
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.kit.dialect import CONNECT_TIMEOUT

_URL_SETTING = "SLEEPTIME_DATABASE_URL"


class StartupError(Exception):
    """A misconfiguration, described in one line that says what to change."""


def settings_problem(error: ValidationError) -> str:
    """The settings' validation errors, on one line, named by their environment variables."""
    problems = []
    for item in error.errors():
        name = "SLEEPTIME_" + "_".join(str(part) for part in item["loc"]).upper()
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"{name} {message}" if name in message else f"{name}: {message}")
    return "; ".join(problems)


async def check_database(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        _check_sqlite_file(url.database)
    else:
        await _check_postgresql(url)


def _check_sqlite_file(database: str | None) -> None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    folder = path.parent
    if not folder.is_dir():
        raise StartupError(
            f"{_URL_SETTING} puts the database in {folder}, which does not exist: create it "
            f"(mkdir -p {folder}) or point the URL at another directory"
        )
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK):
        raise StartupError(
            f"{_URL_SETTING} names {path}, but this user cannot write {target}: change its "
            "permissions or point the URL somewhere writable"
        )


async def _check_postgresql(url: URL) -> None:
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    engine = create_async_engine(url, connect_args={"timeout": CONNECT_TIMEOUT})
    try:
        async with engine.connect():
            pass
    except socket.gaierror:
        raise StartupError(
            f"cannot find the database host {url.host!r} (no such name): fix the host in "
            f"{_URL_SETTING}"
        ) from None
    except (OSError, TimeoutError) as exc:
        raise StartupError(
            f"cannot reach PostgreSQL at {where} ({_unreachable(exc)}): start it, or fix the "
            f"host and port in {_URL_SETTING}"
        ) from None
    except sa_exc.DBAPIError as exc:
        raise StartupError(_refused(url, where, exc)) from None
    finally:
        await engine.dispose()


def _unreachable(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer in {CONNECT_TIMEOUT:g} s"
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return "connection refused"
    return (exc.strerror or str(exc)).lower()


def _refused(url: URL, where: str, exc: sa_exc.DBAPIError) -> str:
    code = getattr(exc.orig, "sqlstate", None)
    if code in {"28P01", "28000"}:
        return (
            f"PostgreSQL at {where} refused user {url.username!r} (wrong password or user): "
            f"fix the user and password in {_URL_SETTING}"
        )
    if code == "3D000":
        return (
            f"database {url.database!r} does not exist on {where}: create it "
            f"(createdb {url.database}) or fix the name in {_URL_SETTING}"
        )
    detail = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
    return f"cannot connect to PostgreSQL at {where}: {detail}"


def check_listen(host: str, port: int) -> None:
    """Bind the address once, as the server will, and let it go: a port another process holds
    or a host that is not this machine's is told before anything else starts."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror:
        raise StartupError(
            f"cannot listen on --host {host}: no such name; pass an address of this machine "
            "(127.0.0.1, or 0.0.0.0 for every interface)"
        ) from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise StartupError(_bind_problem(host, port, exc)) from None


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use (another sleeptime serve?): stop that "
            "process or pass another --port"
        )
    if exc.errno == errno.EACCES:
        return f"port {port} needs privileges this user lacks: pass a --port above 1023"
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"cannot listen on --host {host}: not an address of this machine; pass 127.0.0.1, "
            "or 0.0.0.0 for every interface"
        )
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
