"""The ``sleeptime`` commands: serve, worker, migrate, manage API keys, list, export and
import agents, look at runs and block histories (``app.cli`` is the entry point)."""

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Coroutine, Sequence
from typing import Any

import structlog
import uvicorn
from pydantic import ValidationError

from app import __version__, preflight
from app.admin import cli as admin_cli
from app.agentfile import cli as agentfile_cli
from app.auth import service as auth_service
from app.config import AuthMode, Settings, get_settings
from app.kit import dialect, migrate, tracing, urls
from app.kit.db import Database
from app.kit.errors import AppError
from app.kit.logging import configure_logging
from app.runtime import runtime, started
from app.worker import http as worker_http

log = structlog.get_logger("app.cli")


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


async def _prepare_schema(settings: Settings, *, force_migrate: bool) -> None:
    db = Database(settings.database_url)
    try:
        await migrate.ensure_schema(db.engine, migrate=force_migrate or settings.migrate_on_start)
    finally:
        await db.dispose()


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    try:
        lock = dialect.acquire_process_lock(settings.database_url)
    except dialect.ProcessLockError as exc:
        log.error("serve.refused", reason=str(exc))
        return 1
    try:
        asyncio.run(_prepare_schema(settings, force_migrate=args.migrate))
    except migrate.SchemaNotReadyError as exc:
        log.error("serve.schema_not_ready", reason=str(exc))
        return 1
    if settings.auth is AuthMode.disabled and args.host not in {"127.0.0.1", "localhost", "::1"}:
        log.warning(
            "serve.unauthenticated_on_network",
            host=args.host,
            hint="SLEEPTIME_AUTH=disabled lets anyone who reaches this port act as the default "
            "organization; set SLEEPTIME_AUTH=required and create keys",
        )
    uvicorn.run(
        "app.main:create_served_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_config=None,
        timeout_graceful_shutdown=30,
        # Named, not "auto": a missing extra must fail at start, not quietly cost the
        # per-request speed of libuv's loop and the C HTTP parser.
        loop="uvloop",
        http="httptools",
    )
    if lock is not None:
        lock.close()
    return 0


async def _work(settings: Settings) -> int:
    """Run only the dispatcher until SIGTERM or SIGINT, or until one of its loops stops on a
    bug: then the process exits with status 1, for its supervisor to restart it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with (
            runtime(settings, dispatch=True, role="worker") as rt,
            worker_http.serving(rt),
        ):
            started()
            signals = asyncio.create_task(stop.wait())
            broken = asyncio.create_task(rt.vitals.broken.wait())
            await asyncio.wait({signals, broken}, return_when=asyncio.FIRST_COMPLETED)
            for task in (signals, broken):
                task.cancel()
            await asyncio.gather(signals, broken, return_exceptions=True)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    if rt.vitals.bug is not None:
        log.error("worker.stopped", reason=rt.vitals.bug)
        return 1
    log.info("worker.stopped")
    return 0


async def _migrate(settings: Settings) -> None:
    db = Database(settings.database_url)
    try:
        await migrate.upgrade(db.engine)
        _out(f"database at revision {await migrate.current_revision(db.engine)}")
    finally:
        await db.dispose()


async def _keys(args: argparse.Namespace, settings: Settings) -> None:
    db = Database(settings.database_url)
    try:
        await migrate.ensure_schema(db.engine, migrate=settings.migrate_on_start)
        async with db.session() as session:
            if args.keys_command == "create":
                issued = await auth_service.create_key(session, org_name=args.org, name=args.name)
                _out(f"key id:       {issued.key.id}")
                _out(f"organization: {issued.organization.name} ({issued.organization.id})")
                _out(f"api key:      {issued.secret}")
                _out("Store the key now: it is not shown again.")
            elif args.keys_command == "list":
                for key, org_name in await auth_service.list_keys(session):
                    state = "revoked" if key.revoked_at else "active"
                    label = key.name or "-"
                    _out(f"{key.id}  {key.prefix}...  org={org_name}  {state}  name={label}")
            else:
                key = await auth_service.revoke_key(session, args.key_id)
                _out(f"revoked {key.id}")
    finally:
        await db.dispose()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sleeptime",
        description=__doc__,
        epilog="Settings come from SLEEPTIME_* environment variables (see the README).",
    )
    parser.add_argument("--version", action="version", version=f"sleeptime {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API server")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)",
    )
    serve.add_argument("--port", type=int, default=8283, help="port to listen on (default 8283)")
    serve.add_argument("--migrate", action="store_true", help="apply migrations before starting")
    commands.add_parser("worker", help="run only the background-run dispatcher")
    commands.add_parser("migrate", help="upgrade the database schema to the latest revision")
    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key (shown once)")
    create.add_argument("--org", required=True, help="organization name (created if new)")
    create.add_argument("--name", default=None, help="a note to tell the key apart")
    key_commands.add_parser("list", help="list keys")
    revoke = key_commands.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id", help="the key's id (apikey-...), as `keys list` shows it")
    admin_cli.add_commands(commands, agentfile_cli.add_commands(commands))
    return parser


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return _parser().parse_args(argv)


def _refuse(problem: str) -> int:
    """A misconfiguration: one line on stderr, whatever the log format, and status 1."""
    sys.stderr.write(f"sleeptime: error: {problem}\n")
    return 1


def _preflight(args: argparse.Namespace, settings: Settings) -> None:
    if args.command in {"serve", "worker"} and (missing := tracing.problem(settings)):
        raise preflight.StartupError(missing)
    asyncio.run(preflight.check_database(settings.database_url))
    if args.command == "serve":
        preflight.check_listen(args.host, args.port)
    given = os.environ.get("SLEEPTIME_DATABASE_URL", "").strip()
    starting = args.command in {"serve", "worker", "migrate"}  # not the operator's lookups
    if starting and given and given != settings.database_url:
        log.info(
            "config.database_url_normalized",
            given=urls.scheme_of(given),
            using=urls.scheme_of(settings.database_url),
        )


async def _print(lines: Awaitable[list[str]]) -> None:
    for line in await lines:
        _out(line)


def _command(args: argparse.Namespace, settings: Settings) -> Coroutine[Any, Any, None]:
    """The coroutine that does a command other than serve and worker."""
    if args.command == "migrate":
        return _migrate(settings)
    if args.command == "keys":
        return _keys(args, settings)
    if args.command == "agents" and args.agents_command != "list":
        return _print(agentfile_cli.run(args, settings))
    return _print(admin_cli.run(args, settings))


def _worker(settings: Settings) -> int:
    if settings.is_sqlite:
        log.error("worker.refused", reason="on SQLite the API process runs the dispatcher")
        return 1
    return asyncio.run(_work(settings))


def run(args: argparse.Namespace) -> int:
    try:
        settings = get_settings()
    except ValidationError as exc:
        return _refuse(preflight.settings_problem(exc))
    configure_logging(settings.log_level, settings.log_format)
    try:
        _preflight(args, settings)
    except preflight.StartupError as exc:
        return _refuse(str(exc))
    if args.command == "serve":
        return _serve(args, settings)
    try:
        if args.command == "worker":
            return _worker(settings)
        asyncio.run(_command(args, settings))
    except (AppError, migrate.SchemaNotReadyError, OSError, ValueError) as exc:
        log.error("cli.failed", reason=str(exc))
        return 1
    return 0
