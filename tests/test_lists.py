"""Every list the API serves pages the same way, and can be walked to its end.

``after=X``: what follows X in the listing order; ``before=X``: what is just ahead of it;
both: what lies between. Message lists keep Letta's chronological cursors. The official SDKs
walking these lists against a live server are in tests/sdk/.
"""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.kit.db import Database
from app.kit.ids import Prefix, new_id
from tests.conftest import AppFactory, AppMaker, clean_tables
from tests.fakes.llm_server import FakeLLMServer
from tests.helpers import ok
from tests.lists import MESSAGES, PAGE, PAGED, ListWorld, build, listed, message_key
from tests.rows import Rows, capture, restore

Key = Callable[[Any], Any]


@pytest.fixture(scope="module")
async def built(
    module_app: AppMaker, db: Database, _fake_llm_server: FakeLLMServer
) -> tuple[ListWorld, Rows]:
    """The world of lists, built once through the API and its rows captured, then the
    tables emptied again."""
    _, client = await module_app()
    world = await build(client, _fake_llm_server)
    _fake_llm_server.state.reset()
    rows = await capture(db)
    await clean_tables(db)
    return world, rows


@pytest.fixture
async def world_client(
    built: tuple[ListWorld, Rows], make_client: AppFactory, db: Database
) -> tuple[ListWorld, httpx.AsyncClient]:
    """A fresh copy of the world's rows, and a client of an app of this test's own."""
    world, rows = built
    await restore(db, rows)
    return world, await make_client(dispatcher=False)


async def walk(
    client: httpx.AsyncClient, path: str, key: Key, cursor: str, **params: Any
) -> list[Any]:
    """What an SDK does: page with ``after=<last>`` (or ``before=<first>``) until empty."""
    forward = cursor == "after"
    seen: list[Any] = []
    page: list[Any] = await ok(client.get(path, params={"limit": PAGE, **params}))
    while page:
        # ``limit`` counts stored items; one stored message may show as several list items.
        assert len({key(i) for i in page}) <= PAGE
        seen = seen + page if forward else page + seen
        edge = key(page[-1] if forward else page[0])
        page = await ok(client.get(path, params={"limit": PAGE, **params, cursor: edge}))
    return seen


def _id(item: Any) -> Any:
    return item["id"]


def _self(item: Any) -> Any:
    return item


def _version(item: Any) -> Any:
    return item["version"]


KEYED = [(name, path, _id) for name, path in PAGED.items()] + [
    ("tags", "/v1/tags/", _self),
    ("block_history", "/v1/blocks/{shared_block}/history", _version),
]


@pytest.mark.parametrize(("name", "path", "key"), KEYED, ids=[k[0] for k in KEYED])
async def test_every_list_pages_in_its_listing_order(
    world_client: tuple[ListWorld, httpx.AsyncClient], name: str, path: str, key: Key
) -> None:
    world, client = world_client
    url = world.fill(path)
    ascending = [key(i) for i in await listed(client, url, order="asc")]
    assert len(ascending) > 2 * PAGE and len(set(ascending)) == len(ascending)
    assert [key(i) for i in await listed(client, url, order="desc")] == ascending[::-1]
    for order, full in (("asc", ascending), ("desc", ascending[::-1])):
        first, last = full[0], full[-1]
        assert [key(i) for i in await walk(client, url, key, "after", order=order)] == full
        # Backwards from the last item: everything ahead of it, pages of the nearest first.
        back = await walk(client, url, key, "before", order=order, before=last)
        assert [key(i) for i in back] == full[:-1]
        between = await listed(client, url, order=order, after=first, before=last)
        assert [key(i) for i in between] == full[1:-1]
        one = await ok(client.get(url, params={"order": order, "before": last, "limit": 1}))
        assert [key(i) for i in one] == [full[-2]]


@pytest.mark.parametrize("name", list(MESSAGES))
async def test_message_lists_keep_chronological_cursors(
    world_client: tuple[ListWorld, httpx.AsyncClient], name: str
) -> None:
    world, client = world_client
    url = world.fill(MESSAGES[name])
    full = [message_key(m) for m in await listed(client, url, order="asc")]
    assert len(full) > 2 * PAGE
    # Every page comes oldest first; order=desc picks the newest messages.
    assert [message_key(m) for m in await listed(client, url, order="desc")] == full
    newest = await ok(client.get(url, params={"order": "desc", "limit": 1}))
    assert message_key(newest[-1]) == full[-1]
    forward = await walk(client, url, _id, "after", order="asc")
    assert [message_key(m) for m in forward] == full
    # A walk back from the newest stored message, in either order, reaches the first one.
    last_id = full[-1].split("/")[0]
    older = [k for k in full if not k.startswith(f"{last_id}/")]
    for order in ("asc", "desc"):
        back = await walk(client, url, _id, "before", order=order, before=last_id)
        assert [message_key(m) for m in back] == older
    first_id = full[0].split("/")[0]
    newer = await listed(client, url, order="desc", after=first_id)
    assert [message_key(m) for m in newer] == [k for k in full if not k.startswith(first_id)]


async def test_a_page_that_renders_to_nothing_does_not_end_the_walk(
    world_client: tuple[ListWorld, httpx.AsyncClient],
) -> None:
    """Filtered to assistant messages, most stored messages show nothing: a walk of one
    stored message a page still reaches every assistant message."""
    world, client = world_client
    url = world.fill(MESSAGES["agent_messages"])
    only = {"include_return_message_types": "assistant_message"}
    full = await listed(client, url, order="asc", **only)
    assert len(full) > 2 and {m["message_type"] for m in full} == {"assistant_message"}
    for order, cursor in (("asc", "after"), ("desc", "before")):
        params = {"order": order, **only, "limit": 1}
        seen: list[dict[str, Any]] = []
        page = await ok(client.get(url, params=params))
        while page:
            seen = seen + page if cursor == "after" else page + seen
            edge = page[-1] if cursor == "after" else page[0]
            page = await ok(client.get(url, params={**params, cursor: edge["id"]}))
        assert [message_key(m) for m in seen] == [message_key(m) for m in full]


@pytest.mark.parametrize("name", ["agents", "blocks", "groups", "runs", "tools", "agent_tools"])
async def test_a_cursor_that_names_nothing_is_a_400(
    world_client: tuple[ListWorld, httpx.AsyncClient], name: str
) -> None:
    world, client = world_client
    prefix = {"agents": Prefix.agent, "blocks": Prefix.block, "groups": Prefix.group}
    ghost = new_id(prefix.get(name, Prefix.run if name == "runs" else Prefix.tool))
    for cursor in ("after", "before"):
        response = await client.get(world.fill(PAGED[name]), params={cursor: ghost})
        assert response.status_code == 400, response.text
        assert cursor in response.json()["detail"] and ghost in response.json()["detail"]


async def test_tag_cursors_are_compared_not_looked_up(
    world_client: tuple[ListWorld, httpx.AsyncClient],
) -> None:
    _, client = world_client
    tags = await listed(client, "/v1/tags/")
    assert tags == sorted(tags) and {"t-a", "t-project", "t-r3"} <= set(tags)
    assert await listed(client, "/v1/tags/", after="t-q") == [t for t in tags if t > "t-q"]
    assert await listed(client, "/v1/tags/", name="T-R") == ["t-r0", "t-r1", "t-r2", "t-r3"]
    assert await listed(client, "/v1/tags/", query_text="proj") == ["t-project"]


async def test_block_agents_and_agent_groups(
    world_client: tuple[ListWorld, httpx.AsyncClient],
) -> None:
    world, client = world_client
    agents = await listed(client, world.fill(PAGED["block_agents"]))
    assert {a["name"] for a in agents} == {"walker", *(f"reader-{i}" for i in range(4))}
    assert all(world.shared_block in {b["id"] for b in a["blocks"]} for a in agents)
    bare = await listed(client, world.fill(PAGED["block_agents"]), include="agent.tags")
    assert bare[0]["blocks"] == [] and bare[0]["tags"]
    groups = await listed(client, world.fill(PAGED["agent_groups"]))
    assert len(groups) == 5 and all(world.sleeptime in g["agent_ids"] for g in groups)
    assert await listed(client, f"/v1/agents/{world.agent}/groups") == []
    assert await listed(client, world.fill(PAGED["agent_groups"]), manager_type="swarm") == []
    for path in (
        f"/v1/blocks/{new_id(Prefix.block)}/agents",
        f"/v1/agents/{new_id(Prefix.agent)}/groups",
    ):
        assert (await client.get(path)).status_code == 404
