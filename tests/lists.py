"""A world with several pages in every list the API serves, and the list routes to walk.

Used in process (tests/test_lists.py) and against a live server by the official SDKs
(tests/sdk/). Walks use ``limit=2``; every list here holds at least three pages of that.
"""

from dataclasses import asdict, dataclass
from typing import Any

import httpx

from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, create_block, ok

PAGE = 2
ALL_TOOLS = [
    "send_message",
    "conversation_search",
    "memory_replace",
    "memory_insert",
    "memory_rethink",
    "memory_finish_edits",
    "core_memory_append",
    "core_memory_replace",
]


@dataclass(frozen=True)
class ListWorld:
    agent: str  # many tools, blocks, messages and runs
    sleeptime: str  # a member of several groups
    group: str  # a group with a conversation
    shared_block: str  # attached to several agents, edited several times
    run: str  # a run with several steps and messages

    def fill(self, path: str) -> str:
        return path.format(**asdict(self))


# Lists paged by the ids of their items, in their listing order.
PAGED = {
    "agents": "/v1/agents/",
    "agent_tools": "/v1/agents/{agent}/tools",
    "core_memory": "/v1/agents/{agent}/core-memory/blocks",
    "blocks": "/v1/blocks/",
    "block_agents": "/v1/blocks/{shared_block}/agents",
    "groups": "/v1/groups/",
    "agent_groups": "/v1/agents/{sleeptime}/groups",
    "runs": "/v1/runs/",
    "run_steps": "/v1/runs/{run}/steps",
    "tools": "/v1/tools/",
}
# Message lists: chronological cursors, as in Letta (walked forward with order=asc).
MESSAGES = {
    "agent_messages": "/v1/agents/{agent}/messages",
    "group_messages": "/v1/groups/{group}/messages",
    "run_messages": "/v1/runs/{run}/messages",
}


def message_key(message: dict[str, Any]) -> str:
    """Several Letta messages can come from one stored message and share its id."""
    return f"{message['id']}/{message['message_type']}"


async def _group(client: httpx.AsyncClient, manager: str, member: str) -> None:
    config = {"manager_type": "sleeptime", "manager_agent_id": manager}
    body = {"agent_ids": [member], "description": "", "manager_config": config}
    await ok(client.post("/v1/groups/", json=body))


async def _turn(client: httpx.AsyncClient, path: str, text: str) -> str:
    answer = await ok(client.post(path, json={"messages": [{"role": "user", "content": text}]}))
    run_id: str = answer["messages"][0]["run_id"]
    return run_id


async def build(client: httpx.AsyncClient, fake_llm: FakeLLMServer) -> ListWorld:
    shared = await create_block(client, label="project", value="v0", tags=["t-project", "t-x"])
    blocks = [{"label": label, "value": label} for label in ("human", "persona", "notes", "todo")]
    agent = await create_agent(
        client,
        name="walker",
        tools=ALL_TOOLS,
        include_base_tools=False,
        memory_blocks=blocks,
        block_ids=[shared["id"]],
        tags=["t-a", "t-b", "t-c"],
    )
    for i in range(4):
        await create_agent(client, name=f"reader-{i}", block_ids=[shared["id"]], tags=[f"t-r{i}"])
    primary = await create_agent(client, name="primary", enable_sleeptime=True)
    group, sleeptime = primary["managed_group"]["id"], primary["managed_group"]["agent_ids"][0]
    for i in range(4):
        await _group(client, (await create_agent(client, name=f"manager-{i}"))["id"], sleeptime)
    # One run with five steps: four tool calls, then the answer.
    fake_llm.state.add(
        *(
            Reply(tool_calls=[("core_memory_append", {"label": "notes", "content": f"n{i}"})])
            for i in range(4)
        ),
        Reply(text="done"),
    )
    run = await _turn(client, f"/v1/agents/{agent['id']}/messages", "first")
    for i in range(3):
        await _turn(client, f"/v1/agents/{agent['id']}/messages", f"turn {i}")
        await _turn(client, f"/v1/groups/{group}/messages", f"group turn {i}")
    for i in range(4):
        await ok(client.patch(f"/v1/blocks/{shared['id']}", json={"value": f"v{i + 1}"}))
    return ListWorld(agent["id"], sleeptime, group, shared["id"], run)


async def listed(client: httpx.AsyncClient, path: str, **params: Any) -> list[Any]:
    """A whole list in one page."""
    page: list[Any] = await ok(client.get(path, params={"limit": 1000, **params}))
    return page


async def expected(client: httpx.AsyncClient, world: ListWorld) -> dict[str, list[str]]:
    """What a walk of each list with the routes' defaults must yield, in order (message lists
    with ``order=asc``, the order a forward walk can take)."""
    walks: dict[str, list[str]] = {}
    for name, path in PAGED.items():
        walks[name] = [item["id"] for item in await listed(client, world.fill(path))]
    for name, path in MESSAGES.items():
        items = await listed(client, world.fill(path), order="asc")
        walks[name] = [message_key(m) for m in items]
    walks["tags"] = await listed(client, "/v1/tags/")
    for name, items in walks.items():
        assert len(items) > 2 * PAGE, (name, items)
        assert len(set(items)) == len(items), (name, items)
    return walks
