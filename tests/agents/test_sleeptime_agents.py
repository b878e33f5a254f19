"""``enable_sleeptime``: the sleeptime agent, its blocks and its group, made in one transaction."""

from typing import Any, NoReturn

import httpx
import pytest

from app.groups import service as groups_service
from app.kit.errors import Conflict
from tests.helpers import create_agent, create_block, ok


async def _sleeptime_pair(
    client: httpx.AsyncClient, **body: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    primary = await create_agent(
        client,
        name="bob",
        enable_sleeptime=True,
        memory_blocks=[{"label": "human", "value": "Ana"}, {"label": "persona", "value": "kind"}],
        **body,
    )
    group = primary["managed_group"]
    assert group is not None
    helper = await ok(client.get(f"/v1/agents/{group['agent_ids'][0]}"))
    return primary, helper


async def test_create_makes_agent_blocks_and_group(client: httpx.AsyncClient) -> None:
    primary, helper = await _sleeptime_pair(client)
    group = primary["managed_group"]
    assert primary["enable_sleeptime"] is True
    assert primary["multi_agent_group"] == group
    assert group["manager_type"] == "sleeptime"
    assert group["manager_agent_id"] == primary["id"]
    assert group["sleeptime_agent_frequency"] == 5 and group["turns_counter"] == -1
    assert group["last_processed_message_id"] is None
    assert helper["name"] == "bob-sleeptime"
    assert helper["agent_type"] == "sleeptime_agent"
    assert [t["name"] for t in helper["tools"]] == [
        "memory_replace",
        "memory_insert",
        "memory_rethink",
        "memory_finish_edits",
    ]
    assert {"tool_name": "memory_finish_edits", "type": "exit_loop"} in helper["tool_rules"]
    assert helper["managed_group"] is None and helper["enable_sleeptime"] is False
    assert helper["model"] == primary["model"]
    shared = {b["label"]: b["id"] for b in primary["blocks"]}
    own = {b["label"]: b["id"] for b in helper["blocks"]}
    assert own == {**shared, "memory_persona": own["memory_persona"]}
    assert [t["name"] for t in primary["tools"]] == [
        "send_message",
        "conversation_search",
        "archival_memory_search",
    ]
    groups = await ok(client.get("/v1/groups/"))
    assert [g["id"] for g in groups] == [group["id"]]


async def test_blocks_are_shared_rows(client: httpx.AsyncClient) -> None:
    primary, helper = await _sleeptime_pair(client)
    await ok(
        client.patch(
            f"/v1/agents/{primary['id']}/core-memory/blocks/human", json={"value": "Ana, 31"}
        )
    )
    seen = await ok(client.get(f"/v1/agents/{helper['id']}/core-memory/blocks/human"))
    assert seen["value"] == "Ana, 31"
    extra = await create_block(client, label="project", value="p")
    await ok(client.patch(f"/v1/agents/{primary['id']}/core-memory/blocks/attach/{extra['id']}"))
    assert "project" in [
        b["label"] for b in (await ok(client.get(f"/v1/agents/{helper['id']}")))["blocks"]
    ]
    await ok(client.patch(f"/v1/agents/{primary['id']}/core-memory/blocks/detach/{extra['id']}"))
    assert "project" not in [
        b["label"] for b in (await ok(client.get(f"/v1/agents/{helper['id']}")))["blocks"]
    ]


async def test_enable_later_with_patch(client: httpx.AsyncClient) -> None:
    agent = await create_agent(
        client, name="late", memory_blocks=[{"label": "human", "value": "x"}]
    )
    enabled = await ok(client.patch(f"/v1/agents/{agent['id']}", json={"enable_sleeptime": True}))
    group = enabled["managed_group"]
    assert enabled["enable_sleeptime"] is True and group is not None
    helper = await ok(client.get(f"/v1/agents/{group['agent_ids'][0]}"))
    assert helper["name"] == "late-sleeptime"
    assert sorted(b["label"] for b in helper["blocks"]) == ["human", "memory_persona"]
    paused = await ok(client.patch(f"/v1/agents/{agent['id']}", json={"enable_sleeptime": False}))
    assert paused["enable_sleeptime"] is False and paused["managed_group"]["id"] == group["id"]
    resumed = await ok(client.patch(f"/v1/agents/{agent['id']}", json={"enable_sleeptime": True}))
    assert resumed["managed_group"]["id"] == group["id"]
    assert len(await ok(client.get("/v1/agents/"))) == 2


async def test_deleting_the_primary_removes_its_sleeptime_agent_and_group(
    client: httpx.AsyncClient,
) -> None:
    primary, helper = await _sleeptime_pair(client)
    await ok(client.delete(f"/v1/agents/{primary['id']}"))
    assert (await client.get(f"/v1/agents/{helper['id']}")).status_code == 404
    assert await ok(client.get("/v1/groups/")) == []
    assert await ok(client.get("/v1/agents/")) == []
    assert len(await ok(client.get("/v1/blocks/"))) == 3


async def test_deleting_the_sleeptime_agent_removes_the_group(client: httpx.AsyncClient) -> None:
    primary, helper = await _sleeptime_pair(client)
    await ok(client.delete(f"/v1/agents/{helper['id']}"))
    state = await ok(client.get(f"/v1/agents/{primary['id']}"))
    assert state["managed_group"] is None and state["enable_sleeptime"] is False
    assert await ok(client.get("/v1/groups/")) == []


async def _nothing_written(client: httpx.AsyncClient) -> None:
    assert await ok(client.get("/v1/agents/")) == []
    assert await ok(client.get("/v1/blocks/")) == []
    assert await ok(client.get("/v1/groups/")) == []


async def test_create_is_atomic_when_the_group_fails(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise Conflict("group refused")

    monkeypatch.setattr(groups_service, "create_group", refuse)
    response = await client.post(
        "/v1/agents/",
        json={
            "model": "openai/gpt-4o-mini",
            "enable_sleeptime": True,
            "memory_blocks": [{"label": "human", "value": "x"}],
        },
    )
    assert response.status_code == 409
    await _nothing_written(client)


async def test_create_is_atomic_on_an_unexpected_failure(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crash(*args: object, **kwargs: object) -> NoReturn:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(groups_service, "create_group", crash)
    response = await client.post(
        "/v1/agents/", json={"model": "openai/gpt-4o-mini", "enable_sleeptime": True}
    )
    assert response.status_code == 500
    assert response.json() == {"detail": "An unknown error occurred"}
    await _nothing_written(client)


async def test_patch_enable_is_atomic(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = await create_agent(client, memory_blocks=[{"label": "human", "value": "x"}])

    async def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise Conflict("group refused")

    monkeypatch.setattr(groups_service, "create_group", refuse)
    response = await client.patch(
        f"/v1/agents/{agent['id']}", json={"enable_sleeptime": True, "name": "x"}
    )
    assert response.status_code == 409
    assert await ok(client.get(f"/v1/agents/{agent['id']}")) == agent
    assert len(await ok(client.get("/v1/agents/"))) == 1
    assert len(await ok(client.get("/v1/blocks/"))) == 1
