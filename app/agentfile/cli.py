"""``sleeptime agents export|import``: agent files for operators, read from and written to
the configured database directly (no server needs to run)."""

import argparse
import json
import sys
from pathlib import Path

import httpx

from app.agentfile.export import export_agent
from app.agentfile.importer import ImportOptions
from app.agentfile.restore import import_file
from app.auth.deps import Actor
from app.config import Settings
from app.kit import migrate
from app.kit.db import Database
from app.kit.errors import BadRequest
from app.kit.ids import DEFAULT_ORG_ID
from app.providers.registry import ProviderRegistry


def add_commands(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
) -> "argparse._SubParsersAction[argparse.ArgumentParser]":
    """The ``agents`` command with export and import; returns its verbs for others to add to."""
    agents = commands.add_parser("agents", help="list, export and import agents")
    verbs = agents.add_subparsers(dest="agents_command", required=True)
    export = verbs.add_parser("export", help="write an agent's file to standard output")
    export.add_argument("agent_id", help="the agent's id (agent-...)")
    export.add_argument("--scrub-messages", action="store_true", help="leave messages out")
    importing = verbs.add_parser("import", help="import an agent file; prints the new ids")
    importing.add_argument("path", help="the .af file ('-' for standard input)")
    importing.add_argument("--name", help="the imported agent's name")
    importing.add_argument("--model", help="model handle to use instead of the file's")
    importing.add_argument("--embedding", help="embedding handle to use instead of the file's")
    importing.add_argument("--strip-messages", action="store_true", help="import no messages")
    importing.add_argument(
        "--copy-suffix", action="store_true", help="append '_copy' to the names (Letta's default)"
    )
    importing.add_argument(
        "--keep-existing-tools",
        action="store_true",
        help="reuse the organization's tools of the same name instead of overwriting them",
    )
    importing.add_argument("--secrets", help='tool variables as JSON, e.g. \'{"KEY": "value"}\'')
    for parser in (export, importing):
        parser.add_argument(
            "--org", default=DEFAULT_ORG_ID, help="organization id (default: the default one)"
        )
    return verbs


def _options(args: argparse.Namespace) -> ImportOptions:
    secrets = json.loads(args.secrets) if args.secrets else {}
    if not isinstance(secrets, dict):
        raise BadRequest("--secrets must be a JSON object")
    return ImportOptions(
        append_copy_suffix=args.copy_suffix,
        override_existing_tools=not args.keep_existing_tools,
        strip_messages=args.strip_messages,
        name=args.name,
        model=args.model,
        embedding=args.embedding,
        secrets={str(k): str(v) for k, v in secrets.items()},
    )


def _read(path: str) -> bytes:
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


async def run(args: argparse.Namespace, settings: Settings) -> list[str]:
    """The command's output lines."""
    actor = Actor(organization_id=args.org)
    db = Database(settings.database_url)
    try:
        await migrate.ensure_schema(db.engine, migrate=settings.migrate_on_start)
        async with httpx.AsyncClient() as http:
            registry = ProviderRegistry(settings, http)
            if args.agents_command == "export":
                async with db.session(write=False) as session:
                    data = await export_agent(
                        session, actor, args.agent_id, registry, scrub_messages=args.scrub_messages
                    )
                return [json.dumps(data, indent=2, ensure_ascii=False)]
            options, raw = _options(args), _read(args.path)
            async with db.session() as session:
                result = await import_file(session, actor, raw, options, registry, settings)
            lines = list(result.agent_ids)
            lines += [f"skipped tool (not available here): {t}" for t in result.skipped_tools]
            return lines
    finally:
        await db.dispose()
