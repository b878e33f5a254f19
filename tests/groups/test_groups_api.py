"""Endpoint tests for ``/v1/groups/``: sleeptime groups made by hand and by ``enable_sleeptime``."""

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from app.auth.service import create_key
from app.groups.models import Group
from app.kit.db import Database
from tests.conftest import MODEL, AppFactory
from tests.helpers import create_agent, ok, page_all

MISSING_AGENT = "agent-00000000-0000-4000-8000-000000000000"
MISSING_GROUP = "group-00000000-0000-4000-8000-000000000000"

Json = dict[str, Any]


async def sleeptime_agent(client: httpx.AsyncClient, **body: Any) -> Json:
    return await create_agent(client, agent_type="sleeptime_agent", **body)


def config(manager_id: str, **extra: Any) -> Json:
    return {"manager_type": "sleeptime", "manager_agent_id": manager_id, **extra}


def group_body(
    manager_id: str, agent_ids: list[str], *, description: str = "a group", **extra: Any
) -> Json:
    return {
        "agent_ids": agent_ids,
        "description": description,
        "manager_config": config(manager_id, **extra),
    }


async def make_group(
    client: httpx.AsyncClient, *, members: int = 1, frequency: int | None = 3, **extra: Any
) -> tuple[Json, str, list[str]]:
    """A primary, ``members`` sleeptime agents and the group joining them."""
    primary = (await create_agent(client))["id"]
    member_ids = [(await sleeptime_agent(client))["id"] for _ in range(members)]
    if frequency is not None:
        extra["sleeptime_agent_frequency"] = frequency
    group = await ok(client.post("/v1/groups/", json=group_body(primary, member_ids, **extra)))
    return group, primary, member_ids


async def agent(client: httpx.AsyncClient, agent_id: str) -> Json:
    return await ok(client.get(f"/v1/agents/{agent_id}"))  # type: ignore[no-any-return]


async def set_turns_counter(db: Database, group_id: str, value: int) -> None:
    """Move the counter the way a finished turn would, so a reset is observable."""
    async with db.session() as session:
        await session.execute(update(Group).where(Group.id == group_id).values(turns_counter=value))


def stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def error_locs(response: httpx.Response) -> list[tuple[Any, ...]]:
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail, detail
    return [tuple(error["loc"]) for error in detail]


# --- create and read -------------------------------------------------------------------------


async def test_create_a_sleeptime_group_by_hand(client: httpx.AsyncClient) -> None:
    primary = await create_agent(client, name="Primary")
    first = await sleeptime_agent(client, name="Helper-one")
    second = await sleeptime_agent(client, name="Helper-two")
    assert primary["agent_type"] == "letta_v1_agent"
    assert primary["enable_sleeptime"] is False and primary["managed_group"] is None

    body = group_body(
        primary["id"],
        [second["id"], first["id"]],
        description="memory helpers",
        sleeptime_agent_frequency=3,
    )
    group = await ok(client.post("/v1/groups/", json=body))
    assert group["id"].startswith("group-")
    assert group["manager_type"] == "sleeptime"
    assert group["agent_ids"] == [second["id"], first["id"]]
    assert group["description"] == "memory helpers"
    assert group["manager_agent_id"] == primary["id"]
    assert group["sleeptime_agent_frequency"] == 3
    assert group["turns_counter"] == -1
    assert group["last_processed_message_id"] is None
    assert group["created_at"] and group["updated_at"]

    assert await ok(client.get(f"/v1/groups/{group['id']}")) == group
    state = await agent(client, primary["id"])
    assert state["enable_sleeptime"] is True
    assert state["managed_group"] == group
    assert state["multi_agent_group"] == group
    for member in (first, second):
        member_state = await agent(client, member["id"])
        assert member_state["enable_sleeptime"] is False
        assert member_state["managed_group"] is None


async def test_create_without_frequency_has_no_turns_counter(client: httpx.AsyncClient) -> None:
    group, _, _ = await make_group(client, frequency=None)
    assert group["sleeptime_agent_frequency"] is None
    assert group["turns_counter"] is None
    primary = (await create_agent(client))["id"]
    member = (await sleeptime_agent(client))["id"]
    explicit_null = await ok(
        client.post(
            "/v1/groups/",
            json=group_body(primary, [member], sleeptime_agent_frequency=None),
        )
    )
    assert explicit_null["sleeptime_agent_frequency"] is None
    assert explicit_null["turns_counter"] is None


async def test_description_defaults_to_empty_and_debounce_round_trips(
    client: httpx.AsyncClient,
) -> None:
    primary = (await create_agent(client))["id"]
    member = (await sleeptime_agent(client))["id"]
    body = {
        "agent_ids": [member],
        "manager_config": config(primary, sleeptime_debounce_seconds=1.5),
    }
    group = await ok(client.post("/v1/groups/", json=body))
    assert group["description"] == ""
    assert group["sleeptime_debounce_seconds"] == 1.5
    patched = await ok(
        client.patch(
            f"/v1/groups/{group['id']}",
            json={"manager_config": {"manager_type": "sleeptime", "sleeptime_debounce_seconds": 0}},
        )
    )
    assert patched["sleeptime_debounce_seconds"] == 0


async def test_unknown_fields_are_ignored(client: httpx.AsyncClient) -> None:
    primary = (await create_agent(client))["id"]
    member = (await sleeptime_agent(client))["id"]
    body = group_body(primary, [member], sleeptime_agent_frequency=2) | {"bogus": 1}
    group = await ok(client.post("/v1/groups/", json=body))
    assert "bogus" not in group
    assert group["agent_ids"] == [member]


async def test_slashless_collection_path(client: httpx.AsyncClient) -> None:
    primary = (await create_agent(client))["id"]
    member = (await sleeptime_agent(client))["id"]
    response = await client.post("/v1/groups", json=group_body(primary, [member]))
    assert response.status_code == 200, response.text
    group = response.json()
    assert group["id"].startswith("group-")
    listed = await client.get("/v1/groups")
    assert listed.status_code == 200, listed.text
    assert listed.json() == [group]
    assert (await agent(client, primary))["enable_sleeptime"] is True


# --- list ------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", [None, "asc", "desc"])
async def test_paging_after_until_empty(client: httpx.AsyncClient, order: str | None) -> None:
    created = [(await make_group(client))[0]["id"] for _ in range(5)]
    params: Json = {"limit": 2}
    if order is not None:
        params["order"] = order
    walked = await page_all(client, "/v1/groups/", **params)
    expected = list(reversed(created)) if order == "desc" else created  # default order is asc
    assert [g["id"] for g in walked] == expected
    assert [g["id"] for g in await ok(client.get("/v1/groups/"))] == created


async def test_paging_before_returns_the_nearest_groups(client: httpx.AsyncClient) -> None:
    created = [(await make_group(client))[0]["id"] for _ in range(5)]
    page = await ok(client.get("/v1/groups/", params={"before": created[4], "limit": 2}))
    assert [g["id"] for g in page] == created[2:4]
    between = await ok(
        client.get("/v1/groups/", params={"after": created[0], "before": created[3]})
    )
    assert [g["id"] for g in between] == created[1:3]


async def test_list_filters_by_manager_type(client: httpx.AsyncClient) -> None:
    first, _, _ = await make_group(client)
    second, _, _ = await make_group(client, frequency=None)
    sleeptime = await ok(client.get("/v1/groups/", params={"manager_type": "sleeptime"}))
    assert [g["id"] for g in sleeptime] == [first["id"], second["id"]]
    assert sleeptime == [first, second]
    assert await ok(client.get("/v1/groups/", params={"manager_type": "round_robin"})) == []


async def test_enable_sleeptime_agents_show_their_group(client: httpx.AsyncClient) -> None:
    manual, _, _ = await make_group(client)
    primary = await ok(
        client.post("/v1/agents/", json={"name": "Ana", "model": MODEL, "enable_sleeptime": True})
    )
    assert primary["enable_sleeptime"] is True
    managed = primary["managed_group"]
    assert managed is not None

    groups = await ok(client.get("/v1/groups/"))
    assert [g["id"] for g in groups] == [manual["id"], managed["id"]]
    auto = groups[1]
    assert auto == await ok(client.get(f"/v1/groups/{managed['id']}"))
    assert auto["manager_type"] == "sleeptime"
    assert auto["manager_agent_id"] == primary["id"]
    assert auto["sleeptime_agent_frequency"] == 5
    assert auto["turns_counter"] == -1
    assert len(auto["agent_ids"]) == 1
    helper = await agent(client, auto["agent_ids"][0])
    assert helper["name"] == "Ana-sleeptime"
    assert helper["agent_type"] == "sleeptime_agent"
    assert (await agent(client, primary["id"]))["managed_group"] == auto
    assert await ok(client.get("/v1/groups/", params={"manager_type": "sleeptime"})) == groups


# --- update ----------------------------------------------------------------------------------


async def test_patch_description_changes_nothing_else(
    client: httpx.AsyncClient, db: Database
) -> None:
    group, primary, members = await make_group(client, members=2)
    await set_turns_counter(db, group["id"], 2)
    patched = await ok(client.patch(f"/v1/groups/{group['id']}", json={"description": "new"}))
    assert patched["description"] == "new"
    assert patched["turns_counter"] == 2
    assert patched["agent_ids"] == members
    assert patched["manager_agent_id"] == primary
    assert patched["sleeptime_agent_frequency"] == 3
    assert patched["created_at"] == group["created_at"]
    assert stamp(patched["updated_at"]) >= stamp(group["updated_at"])
    assert await ok(client.get(f"/v1/groups/{group['id']}")) == patched
    assert (await agent(client, primary))["managed_group"] == patched


async def test_patch_frequency_resets_turns_counter(
    client: httpx.AsyncClient, db: Database
) -> None:
    group, _, _ = await make_group(client, frequency=3)
    path = f"/v1/groups/{group['id']}"
    await set_turns_counter(db, group["id"], 2)
    patched = await ok(
        client.patch(
            path,
            json={"manager_config": {"manager_type": "sleeptime", "sleeptime_agent_frequency": 7}},
        )
    )
    assert patched["sleeptime_agent_frequency"] == 7
    assert patched["turns_counter"] == -1
    assert (await ok(client.get(path)))["turns_counter"] == -1

    # A manager_config that leaves the frequency out leaves frequency and counter alone.
    await set_turns_counter(db, group["id"], 1)
    untouched = await ok(client.patch(path, json={"manager_config": {"manager_type": "sleeptime"}}))
    assert (untouched["sleeptime_agent_frequency"], untouched["turns_counter"]) == (7, 1)


async def test_patch_sets_a_frequency_on_a_group_without_one(client: httpx.AsyncClient) -> None:
    group, _, _ = await make_group(client, frequency=None)
    patched = await ok(
        client.patch(
            f"/v1/groups/{group['id']}",
            json={"manager_config": {"manager_type": "sleeptime", "sleeptime_agent_frequency": 2}},
        )
    )
    assert (patched["sleeptime_agent_frequency"], patched["turns_counter"]) == (2, -1)


async def test_patch_replaces_agent_ids(client: httpx.AsyncClient) -> None:
    group, primary, (first, second) = await make_group(client, members=2)
    third = (await sleeptime_agent(client))["id"]
    patched = await ok(
        client.patch(f"/v1/groups/{group['id']}", json={"agent_ids": [third, first]})
    )
    assert patched["agent_ids"] == [third, first]
    assert (await ok(client.get(f"/v1/groups/{group['id']}")))["agent_ids"] == [third, first]
    assert (await agent(client, primary))["managed_group"]["agent_ids"] == [third, first]
    # The dropped member is only out of the group, not deleted.
    assert (await agent(client, second))["agent_type"] == "sleeptime_agent"
    listed = await ok(client.get("/v1/groups/"))
    assert [g["agent_ids"] for g in listed] == [[third, first]]


async def test_patch_manager_moves_enable_sleeptime(client: httpx.AsyncClient) -> None:
    group, old_manager, members = await make_group(client)
    new_manager = (await create_agent(client))["id"]
    patched = await ok(
        client.patch(f"/v1/groups/{group['id']}", json={"manager_config": config(new_manager)})
    )
    assert patched["manager_agent_id"] == new_manager
    assert patched["agent_ids"] == members
    assert patched["sleeptime_agent_frequency"] == 3
    old_state = await agent(client, old_manager)
    assert old_state["enable_sleeptime"] is False
    assert old_state["managed_group"] is None
    new_state = await agent(client, new_manager)
    assert new_state["enable_sleeptime"] is True
    assert new_state["managed_group"] == patched
    assert await ok(client.get(f"/v1/groups/{group['id']}")) == patched

    # The old manager is free again: it may manage a new group.
    member = (await sleeptime_agent(client))["id"]
    await ok(client.post("/v1/groups/", json=group_body(old_manager, [member])))
    assert (await agent(client, old_manager))["enable_sleeptime"] is True


async def test_patch_to_the_same_manager_keeps_it(client: httpx.AsyncClient) -> None:
    group, primary, _ = await make_group(client)
    patched = await ok(
        client.patch(f"/v1/groups/{group['id']}", json={"manager_config": config(primary)})
    )
    assert patched["manager_agent_id"] == primary
    assert (await agent(client, primary))["enable_sleeptime"] is True


PatchCase = Callable[[str, list[str], str, str], tuple[Json, int, str]]


def _manager(agent_id: str) -> Json:
    return {"manager_config": config(agent_id)}


PATCH_ERRORS: dict[str, PatchCase] = {
    # name: (manager, members, other primary, other sleeptime agent) -> (body, status, detail)
    "unknown member": lambda m, ms, p, s: ({"agent_ids": [MISSING_AGENT]}, 404, MISSING_AGENT),
    "member not sleeptime": lambda m, ms, p, s: ({"agent_ids": [p]}, 400, p),
    "manager as member": lambda m, ms, p, s: ({"agent_ids": [m]}, 400, "manager"),
    "duplicate member": lambda m, ms, p, s: ({"agent_ids": [s, s]}, 400, "more than once"),
    "empty members": lambda m, ms, p, s: ({"agent_ids": []}, 422, "agent_ids"),
    "unknown manager": lambda m, ms, p, s: (_manager(MISSING_AGENT), 404, MISSING_AGENT),
    "sleeptime manager": lambda m, ms, p, s: (_manager(s), 400, "manager_agent_id"),
    "malformed manager": lambda m, ms, p, s: (_manager("agent-x"), 422, "manager_agent_id"),
    "round robin": lambda m, ms, p, s: (
        {"manager_config": {"manager_type": "round_robin"}},
        422,
        "manager_type",
    ),
    "frequency zero": lambda m, ms, p, s: (
        {"manager_config": {"manager_type": "sleeptime", "sleeptime_agent_frequency": 0}},
        422,
        "sleeptime_agent_frequency",
    ),
    "description type": lambda m, ms, p, s: ({"description": 5}, 422, "description"),
    "new manager then bad member": lambda m, ms, p, s: (
        {"manager_config": config(p), "agent_ids": [MISSING_AGENT]},
        404,
        MISSING_AGENT,
    ),
    "new manager then non-sleeptime member": lambda m, ms, p, s: (
        {"manager_config": config(p), "agent_ids": [m]},
        400,
        m,
    ),
}


@pytest.mark.parametrize("case", list(PATCH_ERRORS))
async def test_refused_patch_changes_nothing(client: httpx.AsyncClient, case: str) -> None:
    group, manager, members = await make_group(client)
    other_primary = (await create_agent(client))["id"]
    other_sleeptime = (await sleeptime_agent(client))["id"]
    body, status, named = PATCH_ERRORS[case](manager, members, other_primary, other_sleeptime)

    response = await client.patch(f"/v1/groups/{group['id']}", json=body)
    assert response.status_code == status, response.text
    assert named in json.dumps(response.json()["detail"])

    assert await ok(client.get(f"/v1/groups/{group['id']}")) == group
    assert (await agent(client, manager))["enable_sleeptime"] is True
    other = await agent(client, other_primary)
    assert other["enable_sleeptime"] is False and other["managed_group"] is None


async def test_patch_to_a_manager_of_another_group_is_409(client: httpx.AsyncClient) -> None:
    group, manager, _ = await make_group(client)
    other_group, other_manager, _ = await make_group(client)
    response = await client.patch(
        f"/v1/groups/{group['id']}", json={"manager_config": config(other_manager)}
    )
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert other_manager in detail and other_group["id"] in detail
    assert await ok(client.get(f"/v1/groups/{group['id']}")) == group
    assert await ok(client.get(f"/v1/groups/{other_group['id']}")) == other_group
    assert (await agent(client, manager))["enable_sleeptime"] is True
    assert (await agent(client, other_manager))["managed_group"] == other_group


async def test_agent_enable_sleeptime_switch_reuses_a_hand_made_group(
    client: httpx.AsyncClient,
) -> None:
    group, primary, _ = await make_group(client)
    off = await ok(client.patch(f"/v1/agents/{primary}", json={"enable_sleeptime": False}))
    assert off["enable_sleeptime"] is False
    assert await ok(client.get("/v1/groups/")) == [group]
    on = await ok(client.patch(f"/v1/agents/{primary}", json={"enable_sleeptime": True}))
    assert on["enable_sleeptime"] is True
    assert on["managed_group"] == group
    assert await ok(client.get("/v1/groups/")) == [group]


# --- delete ----------------------------------------------------------------------------------


async def test_delete_group_switches_the_manager_off_and_keeps_the_agents(
    client: httpx.AsyncClient,
) -> None:
    group, primary, members = await make_group(client, members=2)
    deleted = await ok(client.delete(f"/v1/groups/{group['id']}"))
    assert deleted == {"message": f"Group id={group['id']} successfully deleted"}

    missing = await client.get(f"/v1/groups/{group['id']}")
    assert missing.status_code == 404
    assert group["id"] in missing.json()["detail"]
    assert await ok(client.get("/v1/groups/")) == []
    state = await agent(client, primary)
    assert state["enable_sleeptime"] is False
    assert state["managed_group"] is None and state["multi_agent_group"] is None
    for member in members:
        assert (await agent(client, member))["agent_type"] == "sleeptime_agent"
    again = await client.delete(f"/v1/groups/{group['id']}")
    assert again.status_code == 404

    # The same agents can be grouped again.
    regrouped = await ok(client.post("/v1/groups/", json=group_body(primary, members)))
    assert regrouped["id"] != group["id"]
    assert (await agent(client, primary))["managed_group"] == regrouped


async def test_deleting_an_enable_sleeptime_group_keeps_its_helper(
    client: httpx.AsyncClient,
) -> None:
    primary = await create_agent(client, enable_sleeptime=True)
    group = primary["managed_group"]
    await ok(client.delete(f"/v1/groups/{group['id']}"))
    state = await agent(client, primary["id"])
    assert state["enable_sleeptime"] is False and state["managed_group"] is None
    assert (await agent(client, group["agent_ids"][0]))["agent_type"] == "sleeptime_agent"


async def test_deleting_the_primary_deletes_its_group_and_members(
    client: httpx.AsyncClient,
) -> None:
    group, primary, members = await make_group(client, members=2)
    kept, _, _ = await make_group(client)
    await ok(client.delete(f"/v1/agents/{primary}"))
    assert (await client.get(f"/v1/groups/{group['id']}")).status_code == 404
    for member in members:
        assert (await client.get(f"/v1/agents/{member}")).status_code == 404
    assert await ok(client.get("/v1/groups/")) == [kept]


async def test_deleting_members(client: httpx.AsyncClient) -> None:
    group, primary, (first, second) = await make_group(client, members=2)
    await ok(client.delete(f"/v1/agents/{first}"))
    remaining = await ok(client.get(f"/v1/groups/{group['id']}"))
    assert remaining["agent_ids"] == [second]
    assert (await agent(client, primary))["enable_sleeptime"] is True

    # Deleting the last member deletes the group and switches the primary off.
    await ok(client.delete(f"/v1/agents/{second}"))
    assert (await client.get(f"/v1/groups/{group['id']}")).status_code == 404
    state = await agent(client, primary)
    assert state["enable_sleeptime"] is False and state["managed_group"] is None


# --- create errors ---------------------------------------------------------------------------

CreateCase = Callable[[str, str, str], tuple[Any, int, str]]
CREATE_ERRORS: dict[str, CreateCase] = {
    # name: (primary, sleeptime agent, other primary) -> (body, status, text the detail names)
    "missing manager_config": lambda p, s, o: (
        {"agent_ids": [s], "description": "d"},
        422,
        "manager_config",
    ),
    "round robin": lambda p, s, o: (
        {"agent_ids": [s], "manager_config": {"manager_type": "round_robin"}},
        422,
        "manager_type",
    ),
    "round robin with manager": lambda p, s, o: (
        {
            "agent_ids": [s],
            "manager_config": {"manager_type": "round_robin", "manager_agent_id": p},
        },
        422,
        "manager_type",
    ),
    "no manager id": lambda p, s, o: (
        {"agent_ids": [s], "manager_config": {"manager_type": "sleeptime"}},
        422,
        "manager_agent_id",
    ),
    "frequency zero": lambda p, s, o: (
        group_body(p, [s], sleeptime_agent_frequency=0),
        422,
        "sleeptime_agent_frequency",
    ),
    "frequency negative": lambda p, s, o: (
        group_body(p, [s], sleeptime_agent_frequency=-3),
        422,
        "sleeptime_agent_frequency",
    ),
    "negative debounce": lambda p, s, o: (
        group_body(p, [s], sleeptime_debounce_seconds=-1),
        422,
        "sleeptime_debounce_seconds",
    ),
    "unknown manager": lambda p, s, o: (group_body(MISSING_AGENT, [s]), 404, MISSING_AGENT),
    "unknown member": lambda p, s, o: (
        group_body(p, [s, MISSING_AGENT]),
        404,
        MISSING_AGENT,
    ),
    "member not sleeptime": lambda p, s, o: (group_body(p, [s, o]), 400, o),
    "manager as member": lambda p, s, o: (group_body(p, [s, p]), 400, "manager"),
    "duplicate member": lambda p, s, o: (group_body(p, [s, s]), 400, "more than once"),
    "sleeptime manager": lambda p, s, o: (group_body(s, [s]), 400, "manager_agent_id"),
    "empty agent_ids": lambda p, s, o: (group_body(p, []), 422, "agent_ids"),
    "missing agent_ids": lambda p, s, o: (
        {"description": "d", "manager_config": config(p)},
        422,
        "agent_ids",
    ),
    "agent_ids a string": lambda p, s, o: (group_body(p, s), 422, "agent_ids"),  # type: ignore[arg-type]
    "agent_ids of numbers": lambda p, s, o: (group_body(p, [1]), 422, "agent_ids"),  # type: ignore[list-item]
    "description a number": lambda p, s, o: (
        group_body(p, [s], description=5),  # type: ignore[arg-type]
        422,
        "description",
    ),
    "frequency a word": lambda p, s, o: (
        group_body(p, [s], sleeptime_agent_frequency="often"),
        422,
        "sleeptime_agent_frequency",
    ),
    "manager id malformed": lambda p, s, o: (
        group_body("not-an-id", [s]),
        422,
        "manager_agent_id",
    ),
    "manager id of a block": lambda p, s, o: (
        group_body("block-00000000-0000-4000-8000-000000000000", [s]),
        422,
        "manager_agent_id",
    ),
    "manager_config a string": lambda p, s, o: (
        {"agent_ids": [s], "manager_config": "sleeptime"},
        422,
        "manager_config",
    ),
    "hidden not a bool": lambda p, s, o: (
        group_body(p, [s]) | {"hidden": "maybe"},
        422,
        "hidden",
    ),
    "body a list": lambda p, s, o: ([p, s], 422, "body"),
}


@pytest.mark.parametrize("case", list(CREATE_ERRORS))
async def test_refused_create_writes_nothing(client: httpx.AsyncClient, case: str) -> None:
    primary = (await create_agent(client))["id"]
    member = (await sleeptime_agent(client))["id"]
    other = (await create_agent(client))["id"]
    body, status, named = CREATE_ERRORS[case](primary, member, other)

    response = await client.post("/v1/groups/", json=body)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail
    if status == 422:
        assert any(named in loc for loc in error_locs(response)), detail
    else:
        assert named in detail

    assert await ok(client.get("/v1/groups/")) == []
    for agent_id in (primary, other):
        state = await agent(client, agent_id)
        assert state["enable_sleeptime"] is False and state["managed_group"] is None


async def test_invalid_json_body_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/groups/", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"]


async def test_manager_that_already_manages_a_group_is_409(client: httpx.AsyncClient) -> None:
    group, primary, _ = await make_group(client)
    other_member = (await sleeptime_agent(client))["id"]
    response = await client.post("/v1/groups/", json=group_body(primary, [other_member]))
    assert response.status_code == 409, response.text
    assert response.headers.get("x-should-retry") == "false"
    detail = response.json()["detail"]
    assert primary in detail and group["id"] in detail
    assert await ok(client.get("/v1/groups/")) == [group]

    # An agent made with enable_sleeptime already manages its own group.
    auto = await create_agent(client, enable_sleeptime=True)
    response = await client.post("/v1/groups/", json=group_body(auto["id"], [other_member]))
    assert response.status_code == 409, response.text
    assert auto["managed_group"]["id"] in response.json()["detail"]
    assert await ok(client.get("/v1/groups/")) == [group, auto["managed_group"]]


async def test_concurrent_creates_for_one_manager_make_one_group(
    client: httpx.AsyncClient,
) -> None:
    primary = (await create_agent(client))["id"]
    members = [(await sleeptime_agent(client))["id"] for _ in range(2)]
    responses = await asyncio.gather(
        *(client.post("/v1/groups/", json=group_body(primary, [m])) for m in members)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409], [r.text for r in responses]
    made = next(r.json() for r in responses if r.status_code == 200)
    assert await ok(client.get("/v1/groups/")) == [made]
    assert (await agent(client, primary))["managed_group"] == made


async def test_concurrent_manager_moves_to_one_agent_leave_one_winner(
    client: httpx.AsyncClient,
) -> None:
    first, first_manager, _ = await make_group(client)
    second, second_manager, _ = await make_group(client)
    target = (await create_agent(client))["id"]
    responses = await asyncio.gather(
        *(
            client.patch(f"/v1/groups/{g['id']}", json={"manager_config": config(target)})
            for g in (first, second)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409], [r.text for r in responses]
    moved = next(r.json() for r in responses if r.status_code == 200)
    stayed = first if moved["id"] == second["id"] else second
    stayed_manager = first_manager if stayed is first else second_manager
    moved_from = second_manager if stayed is first else first_manager
    assert await ok(client.get(f"/v1/groups/{stayed['id']}")) == stayed
    assert (await agent(client, target))["managed_group"] == moved
    assert (await agent(client, stayed_manager))["enable_sleeptime"] is True
    assert (await agent(client, moved_from))["enable_sleeptime"] is False


# --- path and query errors -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
@pytest.mark.parametrize(
    "group_id",
    [
        "not-an-id",
        MISSING_AGENT,
        "group-00000000-0000-0000-0000-000000000000",
        "group-ABCDEF00-0000-4000-8000-000000000000",
        MISSING_GROUP + "0",
    ],
)
async def test_bad_group_id_in_path_is_422(
    client: httpx.AsyncClient, method: str, group_id: str
) -> None:
    body = {"description": "x"} if method == "patch" else None
    response = await client.request(method, f"/v1/groups/{group_id}", json=body)
    assert response.status_code == 422, response.text
    assert ("path", "group_id") in error_locs(response)


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
async def test_missing_group_is_404(client: httpx.AsyncClient, method: str) -> None:
    await make_group(client)
    body = {"description": "x"} if method == "patch" else None
    response = await client.request(method, f"/v1/groups/{MISSING_GROUP}", json=body)
    assert response.status_code == 404, response.text
    assert MISSING_GROUP in response.json()["detail"]


@pytest.mark.parametrize(
    ("params", "status", "named"),
    [
        ({"limit": 0}, 422, "limit"),
        ({"limit": 1001}, 422, "limit"),
        ({"limit": "abc"}, 422, "limit"),
        ({"order": "sideways"}, 422, "order"),
        ({"after": MISSING_GROUP}, 400, MISSING_GROUP),
        ({"before": MISSING_GROUP}, 400, MISSING_GROUP),
    ],
)
async def test_bad_list_query_is_a_clear_4xx(
    client: httpx.AsyncClient, params: Json, status: int, named: str
) -> None:
    response = await client.get("/v1/groups/", params=params)
    assert response.status_code == status, response.text
    assert named in json.dumps(response.json()["detail"])


# --- organizations ---------------------------------------------------------------------------


async def test_groups_are_scoped_to_the_organization(
    make_client: AppFactory, db: Database, auth_required: Json
) -> None:
    async with db.session() as session:
        key_a = (await create_key(session, org_name="org-a", name=None)).secret
        key_b = (await create_key(session, org_name="org-b", name=None)).secret
    anonymous = await make_client(**auth_required)
    a = await make_client(**auth_required)
    a.headers["Authorization"] = f"Bearer {key_a}"
    b = await make_client(**auth_required)
    b.headers["Authorization"] = f"Bearer {key_b}"
    assert (await anonymous.get("/v1/groups/")).status_code == 401
    group, primary_a, members_a = await make_group(a)
    path = f"/v1/groups/{group['id']}"

    assert await ok(b.get("/v1/groups/")) == []
    for method, body in (("get", None), ("patch", {"description": "x"}), ("delete", None)):
        response = await b.request(method, path, json=body)
        assert response.status_code == 404, (method, response.text)
    paged = await b.get("/v1/groups/", params={"after": group["id"]})
    assert paged.status_code == 400, paged.text

    # Organization B cannot build a group out of A's agents, nor take A's members.
    primary_b = (await create_agent(b))["id"]
    member_b = (await sleeptime_agent(b))["id"]
    response = await b.post("/v1/groups/", json=group_body(primary_a, [member_b]))
    assert response.status_code == 404, response.text
    response = await b.post("/v1/groups/", json=group_body(primary_b, members_a))
    assert response.status_code == 404, response.text
    assert await ok(b.get("/v1/groups/")) == []

    assert await ok(a.get(path)) == group
    assert await ok(a.get("/v1/groups/")) == [group]
