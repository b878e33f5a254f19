"""``/v1/tools`` (the built-in tools, as Letta serves tools) and running one of an agent's
tools by hand with ``POST /v1/agents/{id}/tools/{name}/run``."""

import httpx
import pytest
from letta_client import AsyncLetta, NotFoundError

from app.kit.ids import Prefix, new_id
from app.tools.builtin import BUILTIN_TOOLS
from tests.conftest import MODEL, AppFactory
from tests.helpers import create_agent, create_block, ok

CATALOGUE = list(BUILTIN_TOOLS)  # catalogue order: Letta's "oldest first"


async def names(client: httpx.AsyncClient, path: str = "/v1/tools/", **params: object) -> list[str]:
    return [t["name"] for t in await ok(client.get(path, params={"limit": 100, **params}))]


async def test_the_catalogue_is_listed_newest_first_with_stable_ids(
    client: httpx.AsyncClient,
) -> None:
    tools = await ok(client.get("/v1/tools/"))
    assert [t["name"] for t in tools] == CATALOGUE[::-1]
    assert {t["id"] for t in tools} == {tool.id for tool in BUILTIN_TOOLS.values()}
    assert all(t["json_schema"]["name"] == t["name"] for t in tools)
    assert await names(client, order="asc") == CATALOGUE
    assert await ok(client.get("/v1/tools")) == tools
    tool = BUILTIN_TOOLS["memory_insert"]
    assert (await ok(client.get(f"/v1/tools/{tool.id}")))["name"] == "memory_insert"
    assert await ok(client.get("/v1/tools/count")) == len(CATALOGUE)


async def test_filters(client: httpx.AsyncClient) -> None:
    assert await names(client, name="send_message") == ["send_message"]
    assert await names(client, name="nothing-like-it") == []
    both = await names(client, names=["memory_insert", "send_message"], order="asc")
    assert both == ["send_message", "memory_insert"]
    ids = f"{BUILTIN_TOOLS['memory_rethink'].id},{BUILTIN_TOOLS['send_message'].id}"
    assert await names(client, tool_ids=ids, order="asc") == ["send_message", "memory_rethink"]
    assert await names(client, search="CORE_MEMORY", order="asc") == [
        "core_memory_append",
        "core_memory_replace",
    ]
    sleeptime = await names(client, tool_types="letta_sleeptime_core", order="asc")
    assert sleeptime == ["memory_replace", "memory_insert", "memory_rethink", "memory_finish_edits"]
    rest = await names(client, exclude_tool_types=["letta_sleeptime_core", "letta_memory_core"])
    assert sorted(rest) == [
        "archival_memory_insert",
        "archival_memory_search",
        "conversation_search",
        "fetch_webpage",
        "run_code",
        "send_message",
        "web_search",
    ]
    builtin = await names(client, tool_types="letta_builtin", order="asc")
    assert builtin == ["run_code", "web_search", "fetch_webpage"]
    assert await names(client, tool_types="custom") == []
    assert len(await names(client, return_only_letta_tools=True)) == len(CATALOGUE)
    assert await ok(client.get("/v1/tools/count", params={"tool_types": "letta_core"})) == 4
    assert await ok(client.get("/v1/tools/count", params={"exclude_letta_tools": True})) == 0


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/tools/", {"tool_types": "letta_magic"}, 400),
        ("/v1/tools/count", {"exclude_tool_types": "letta_core,nope"}, 400),
        ("/v1/tools/", {"limit": 0}, 422),
        ("/v1/tools/", {"order": "sideways"}, 422),
        (f"/v1/tools/{new_id(Prefix.tool)}", {}, 404),
        ("/v1/tools/not-a-tool-id", {}, 422),
    ],
)
async def test_bad_requests(
    client: httpx.AsyncClient, path: str, params: dict[str, object], status: int
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == status, response.text
    if status == 404:
        assert response.json() == {"detail": f"Tool with id {path.rsplit('/', 1)[1]} not found."}


async def test_running_a_memory_tool_writes_through_the_block_path(
    client: httpx.AsyncClient,
) -> None:
    block = await create_block(client, label="notes", value="first line", limit=100)
    agent = await create_agent(
        client, tools=["memory_insert", "send_message"], block_ids=[block["id"]]
    )
    run = f"/v1/agents/{agent['id']}/tools/memory_insert/run"
    result = await ok(client.post(run, json={"args": {"label": "notes", "new_string": "second"}}))
    assert result == {
        "status": "success",
        "func_return": "first line\nsecond",
        "agent_state": None,
        "stdout": None,
        "stderr": None,
        "sandbox_config_fingerprint": None,
    }
    stored = await ok(client.get(f"/v1/blocks/{block['id']}"))
    assert (stored["value"], stored["version"]) == ("first line\nsecond", 2)
    history = await ok(client.get(f"/v1/blocks/{block['id']}/history"))
    assert (history[0]["actor_type"], history[0]["agent_id"], history[0]["run_id"]) == (
        "agent",
        agent["id"],
        None,
    )
    # A tool's own failure is a result, with no return value and the error in stderr.
    failed = await ok(client.post(run, json={"args": {"label": "notes", "new_string": "x" * 200}}))
    assert failed["status"] == "error" and failed["func_return"] is None
    assert "100" in failed["stderr"][0]
    missing = await ok(client.post(run, json={"args": {"label": "nowhere", "new_string": "x"}}))
    assert missing["status"] == "error" and "nowhere" in missing["stderr"][0]
    assert (await ok(client.get(f"/v1/blocks/{block['id']}")))["version"] == 2
    sent = await ok(
        client.post(
            f"/v1/agents/{agent['id']}/tools/send_message/run", json={"args": {"message": "hi"}}
        )
    )
    assert (sent["status"], sent["func_return"]) == ("success", "Sent message successfully.")
    no_body = await ok(client.post(f"/v1/agents/{agent['id']}/tools/send_message/run"))
    assert no_body["status"] == "error" and "message" in no_body["stderr"][0]


async def test_only_the_agents_own_tools_run(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, tools=["send_message"], include_base_tools=False)
    response = await client.post(
        f"/v1/agents/{agent['id']}/tools/memory_rethink/run",
        json={"args": {"label": "human", "new_memory": "x"}},
    )
    assert response.status_code == 404
    assert response.json() == {
        "detail": f"Tool 'memory_rethink' not found or not attached to agent '{agent['id']}'"
    }
    ghost = await client.post(f"/v1/agents/{new_id(Prefix.agent)}/tools/send_message/run")
    assert ghost.status_code == 404
    bad = await client.post(f"/v1/agents/{agent['id']}/tools/send_message/run", json={"args": 3})
    assert bad.status_code == 422


async def test_the_sdk_sees_letta_shapes(make_client: AppFactory) -> None:
    http = await make_client()
    sdk = AsyncLetta(base_url="http://testserver", http_client=http, max_retries=0)
    listed = [t.name async for t in sdk.tools.list(name="conversation_search")]
    assert listed == ["conversation_search"]
    tool = await sdk.tools.retrieve(BUILTIN_TOOLS["send_message"].id)
    assert tool.name == "send_message" and tool.tool_type == "letta_core"
    with pytest.raises(NotFoundError):
        await sdk.tools.retrieve(new_id(Prefix.tool))
    agent = await sdk.agents.create(
        model=MODEL, memory_blocks=[{"label": "human", "value": "Ana"}], tools=["memory_rethink"]
    )
    result = await sdk.agents.tools.run(
        "memory_rethink", agent_id=agent.id, args={"label": "human", "new_memory": "Ana B."}
    )
    assert (result.status, result.func_return) == ("success", "Ana B.")
    block = await sdk.agents.blocks.retrieve("human", agent_id=agent.id)
    assert block.value == "Ana B."
