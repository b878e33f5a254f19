"""Walk every list with the official Python SDK's own pagination (``for x in ...list()``).

Runs in any environment that has ``letta_client`` (the project's 1.12.x, or 1.7.0 in a venv
of its own) and nothing of this project. Reads ``{"base_url", "world", "page"}`` as JSON on
stdin; writes ``{"version", "walks": {name: [keys]}, "unpaged": {...}}`` as JSON on stdout.
SDKs without a groups resource (1.7.1 and later) walk the group lists through the client's
generic ``get_api_list``, with the same paginator.
"""

import json
import sys
from collections.abc import Callable, Iterable
from importlib.metadata import version
from typing import Any

from letta_client import Letta
from letta_client.pagination import SyncArrayPage

ENDLESS = 1000  # no list here is that long: a walk past it would never have ended


def collect(items: Iterable[Any], key: Callable[[Any], str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        seen.append(key(item))
        if len(seen) > ENDLESS:
            raise SystemExit(f"the walk did not end: {seen[:10]} ...")
    return seen


def by_id(item: Any) -> str:
    return str(item.id)


def message_key(message: Any) -> str:
    return f"{message.id}/{message.message_type}"


def generic(client: Letta, path: str, model: Any, **params: Any) -> Any:
    page: Any = SyncArrayPage[model]
    return client.get_api_list(path, model=model, page=page, options={"params": params})


def group_walks(client: Letta, world: dict[str, str], page: int) -> dict[str, list[str]]:
    agent_groups = f"/v1/agents/{world['sleeptime']}/groups"
    messages = f"/v1/groups/{world['group']}/messages"
    if hasattr(client, "groups"):
        return {
            "groups": collect(client.groups.list(limit=page), by_id),
            "agent_groups": collect(
                client.agents.groups.list(world["sleeptime"], limit=page), by_id
            ),
            "group_messages": collect(
                client.groups.messages.list(world["group"], limit=page, order="asc"),
                message_key,
            ),
        }
    from letta_client.types.agent_state import ManagedGroup  # noqa: PLC0415
    from letta_client.types.agents.message import Message  # noqa: PLC0415

    return {
        "groups": collect(generic(client, "/v1/groups/", ManagedGroup, limit=page), by_id),
        "agent_groups": collect(generic(client, agent_groups, ManagedGroup, limit=page), by_id),
        "group_messages": collect(
            generic(client, messages, Message, limit=page, order="asc"), message_key
        ),
    }


def tags(client: Letta, page: int) -> list[str]:
    """Tags come as a plain list of strings, without the SDK's paginator: page by hand."""
    seen: list[str] = []
    batch = client.tags.list(limit=page)
    while batch:
        seen.extend(batch)
        if len(seen) > ENDLESS:
            raise SystemExit("the tag walk did not end")
        batch = client.tags.list(limit=page, after=batch[-1])
    return seen


def walks(client: Letta, world: dict[str, str], page: int) -> dict[str, list[str]]:
    agent, run = world["agent"], world["run"]
    return {
        "agents": collect(client.agents.list(limit=page), by_id),
        "agent_tools": collect(client.agents.tools.list(agent, limit=page), by_id),
        "core_memory": collect(client.agents.blocks.list(agent, limit=page), by_id),
        "blocks": collect(client.blocks.list(limit=page), by_id),
        "block_agents": collect(
            client.blocks.agents.list(world["shared_block"], limit=page), by_id
        ),
        "runs": collect(client.runs.list(limit=page), by_id),
        "run_steps": collect(client.runs.steps.list(run, limit=page), by_id),
        "tools": collect(client.tools.list(limit=page), by_id),
        "agent_messages": collect(
            client.agents.messages.list(agent, limit=page, order="asc"), message_key
        ),
        "run_messages": collect(client.runs.messages.list(run, limit=page), message_key),
        "tags": tags(client, page),
        **group_walks(client, world, page),
    }


def main() -> None:
    request = json.load(sys.stdin)
    client = Letta(base_url=request["base_url"], max_retries=0, timeout=30)
    result = {
        "version": version("letta-client"),
        "walks": walks(client, request["world"], request["page"]),
        "unpaged": {
            "models": [m.handle for m in client.models.list()],
            "embedding_models": [m.handle for m in client.models.embeddings.list()],
        },
    }
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
