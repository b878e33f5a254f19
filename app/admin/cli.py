"""``sleeptime agents list``, ``runs list|show`` and ``blocks history``: what an operator
looks at first, read from the configured database directly (no server needs to run).

Every organization is shown unless ``--org`` names one; output is plain columns for a
terminal (or ``grep`` and ``awk``), times in UTC.
"""

import argparse
import difflib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias

from app.admin.queries import AdminQueries
from app.admin.table import duration, table, when
from app.config import Settings
from app.kit import migrate
from app.kit.db import Database
from app.kit.errors import NotFound
from app.runs.lifecycle import RunKind
from app.runs.models import Run, Step
from app.runs.states import RunStatus

_SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _org(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--org",
        metavar="ORG_ID",
        help="only rows of this organization (default: every organization)",
    )


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _limit(parser: argparse.ArgumentParser, default: int) -> None:
    parser.add_argument(
        "--limit",
        type=_positive,
        default=default,
        metavar="N",
        help=f"show at most N (default {default})",
    )


def add_commands(commands: _SubParsers, agents: _SubParsers) -> None:
    """``list`` under ``agents`` (beside export and import), and the ``runs`` and ``blocks``
    commands."""
    listing = agents.add_parser("list", help="list agents, newest first")
    listing.add_argument("--search", metavar="TEXT", help="only agents whose name contains TEXT")
    listing.add_argument("--tag", help="only agents with this tag")
    _org(listing)
    _limit(listing, 50)

    runs = commands.add_parser("runs", help="look at runs: foreground, async and sleeptime")
    verbs = runs.add_subparsers(dest="runs_command", required=True)
    run_list = verbs.add_parser("list", help="list runs, newest first")
    run_list.add_argument(
        "--status",
        action="append",
        choices=[s.value for s in RunStatus],
        help="only runs in this status (repeat for several)",
    )
    run_list.add_argument(
        "--kind",
        action="append",
        choices=[k.value for k in RunKind],
        help="only runs of this kind (repeat for several)",
    )
    run_list.add_argument("--agent", metavar="AGENT_ID", help="only this agent's runs")
    _org(run_list)
    _limit(run_list, 20)
    show = verbs.add_parser("show", help="one run in full: timings, usage, error and its steps")
    show.add_argument("run_id", metavar="RUN_ID", help="the run's id (run-...)")
    _org(show)

    blocks = commands.add_parser("blocks", help="look at memory blocks")
    block_verbs = blocks.add_subparsers(dest="blocks_command", required=True)
    history = block_verbs.add_parser(
        "history", help="a block's versions: when, by whom (the API, an agent, which run)"
    )
    history.add_argument("block_id", metavar="BLOCK_ID", help="the block's id (block-...)")
    history.add_argument(
        "--diff", action="store_true", help="print each version as a diff of the one before"
    )
    _org(history)
    _limit(history, 50)


async def run(args: argparse.Namespace, settings: Settings) -> list[str]:
    """The command's output lines."""
    db = Database(settings.database_url)
    try:
        await migrate.ensure_schema(db.engine, migrate=settings.migrate_on_start)
        async with db.session(write=False) as session:
            queries = AdminQueries(session, args.org)
            if args.command == "agents":
                return await _agents(queries, args)
            if args.command == "runs":
                if args.runs_command == "list":
                    return await _runs(queries, args)
                return await _show(queries, args.run_id)
            return await _history(queries, args.block_id, limit=args.limit, diff=args.diff)
    finally:
        await db.dispose()


async def _agents(queries: AdminQueries, args: argparse.Namespace) -> list[str]:
    rows = await queries.agents(search=args.search, tag=args.tag, limit=args.limit)
    return table(
        ("ID", "NAME", "TYPE", "MODEL", "SLEEPTIME", "TAGS", "ORG", "CREATED"),
        [
            (
                r.agent.id,
                r.agent.name,
                r.agent.agent_type,
                r.agent.model,
                "yes" if r.agent.enable_sleeptime else "no",
                ",".join(r.tags),
                r.organization,
                when(r.agent.created_at),
            )
            for r in rows
        ],
        empty="no agents",
    )


def _run_seconds(run: Run) -> float | None:
    if run.total_duration_ns is not None:
        return run.total_duration_ns / 1e9
    if run.started_at is not None and run.completed_at is not None:
        return (run.completed_at - run.started_at).total_seconds()
    return None


async def _runs(queries: AdminQueries, args: argparse.Namespace) -> list[str]:
    rows = await queries.runs(
        statuses=args.status or (),
        kinds=args.kind or (),
        agent_id=args.agent,
        limit=args.limit,
    )
    return table(
        ("ID", "KIND", "STATUS", "STOP REASON", "AGENT", "STEPS", "TOKENS", "TOOK", "CREATED"),
        [
            (
                r.run.id,
                r.run.kind,
                r.run.status,
                r.run.stop_reason,
                r.run.agent_id,
                str(r.steps),
                str(r.tokens),
                duration(_run_seconds(r.run)),
                when(r.run.created_at),
            )
            for r in rows
        ],
        empty="no runs",
    )


def _fields(pairs: Sequence[tuple[str, object]]) -> list[str]:
    width = max(len(name) for name, _ in pairs) + 1
    return [f"{name + ':':<{width}} {'-' if v is None else v}" for name, v in pairs]


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else when(value)


async def _show(queries: AdminQueries, run_id: str) -> list[str]:
    run = await queries.run(run_id)
    if run is None:
        raise NotFound(f"Run {run_id} not found")
    steps = await queries.steps(run.id)
    pairs: list[tuple[str, object]] = [
        ("id", run.id),
        ("kind", run.kind),
        ("status", run.status),
        ("stop reason", run.stop_reason),
        ("agent", run.agent_id),
        ("group", run.group_id),
        ("conversation", run.conversation_id),
        ("organization", run.organization_id),
        ("attempts", run.attempts),
        ("created", _stamp(run.created_at)),
        ("started", _stamp(run.started_at)),
        ("completed", _stamp(run.completed_at)),
        ("took", duration(_run_seconds(run))),
        ("tokens", _tokens(steps)),
    ]
    if run.lease_owner is not None:
        pairs.append(("lease", f"{run.lease_owner} until {_stamp(run.lease_expires_at)}"))
    if run.callback_url is not None:
        pairs.append(("callback", f"{run.callback_url} -> {_callback(run)}"))
    if run.error:
        pairs.append(("error", _compact(run.error)))
    lines = _fields(pairs)
    lines += ["", f"steps ({len(steps)}):"]
    lines += table(
        ("STEP", "STATUS", "MODEL", "PROMPT", "COMPLETION", "TOOK", "STOP REASON", "ERROR"),
        [
            (
                s.id,
                s.status,
                s.model,
                str(s.prompt_tokens),
                str(s.completion_tokens),
                duration(None if s.duration_ns is None else s.duration_ns / 1e9),
                s.stop_reason,
                _step_error(s),
            )
            for s in steps
        ],
        empty="no steps",
    )
    return lines


def _tokens(steps: Sequence[Step]) -> str:
    prompt = sum(s.prompt_tokens for s in steps)
    completion = sum(s.completion_tokens for s in steps)
    return f"{prompt + completion} ({prompt} prompt, {completion} completion)"


def _callback(run: Run) -> str:
    if run.callback_error:
        return f"failed: {run.callback_error}"
    if run.callback_status_code is not None:
        return f"HTTP {run.callback_status_code}"
    return "not sent yet"


def _compact(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _step_error(step: Step) -> str | None:
    if step.error_type is None and not step.error_data:
        return None
    detail = (step.error_data or {}).get("message")
    return f"{step.error_type or 'error'}: {detail}" if detail else step.error_type


async def _history(queries: AdminQueries, block_id: str, *, limit: int, diff: bool) -> list[str]:
    block = await queries.block(block_id)
    if block is None:
        raise NotFound(f"Block {block_id} not found")
    entries = await queries.history(block.id, limit=limit)
    lines = [f"block {block.id} ({block.label}), now at version {block.version}"]
    if not diff:
        return lines + table(
            ("VERSION", "WHEN", "BY", "AGENT", "RUN", "CHARS"),
            [
                (
                    str(e.version),
                    when(e.created_at),
                    e.actor_type,
                    e.agent_id,
                    e.run_id,
                    str(len(e.value)),
                )
                for e in entries
            ],
            empty="no history",
        )
    before = ""
    for entry in entries:
        by = " ".join(x for x in (entry.actor_type, entry.agent_id, entry.run_id) if x)
        lines += ["", f"version {entry.version}  {when(entry.created_at)}  by {by}"]
        changed = difflib.unified_diff(
            before.splitlines(), entry.value.splitlines(), lineterm="", n=2
        )
        lines += list(changed)[2:] or ["(no change to the value)"]
        before = entry.value
    return lines
