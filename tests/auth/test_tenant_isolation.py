"""With keys required: who may call, and that one organization never reaches another's rows.

Another organization's ids must answer exactly like ids that do not exist, so every
cross-organization request is sent twice: once with the other organization's ids and once
with fresh ids of the same kind, and the two answers must be identical (ids aside).
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from app.agents.endpoints import router as agents_router
from app.auth import service
from app.blocks.endpoints import router as blocks_router
from app.config import AuthMode
from app.groups.endpoints import router as groups_router
from app.kit.db import Database
from app.kit.ids import Prefix, new_id
from app.providers.endpoints import router as models_router
from tests.conftest import MODEL, AppFactory
from tests.helpers import create_agent, create_block, ok

A_SECRET = "only organization A may read this"
SLEEPTIME = {"manager_type": "sleeptime"}
HEALTH_ROUTES = ["/v1/health/", "/livez", "/readyz", "/metrics"]


# --- organizations, keys and the objects each one owns -------------------------------------


@dataclass
class Tenant:
    client: httpx.AsyncClient
    secret: str
    organization_id: str
    key_id: str


@dataclass
class World:
    """A's and B's objects; ``ids`` names them: ``a_block``, ``b_agent``, ..."""

    a: Tenant
    b: Tenant
    ids: dict[str, str] = field(default_factory=dict)


async def issue_key(db: Database, org_name: str) -> service.IssuedKey:
    async with db.session() as session:
        return await service.create_key(session, org_name=org_name, name=None)


async def tenant(make_client: AppFactory, db: Database, org_name: str) -> Tenant:
    issued = await issue_key(db, org_name)
    client = await make_client(auth=AuthMode.required)
    client.headers["Authorization"] = f"Bearer {issued.secret}"
    return Tenant(client, issued.secret, issued.organization.id, issued.key.id)


async def build_a(a: httpx.AsyncClient) -> dict[str, str]:
    block = await create_block(a, label="notes", value=A_SECRET, description="A's notes")
    agent = await create_agent(
        a,
        name="alpha",
        model=MODEL,
        enable_sleeptime=True,
        tags=["a-tag"],
        memory_blocks=[
            {"label": "human", "value": f"human: {A_SECRET}"},
            {"label": "persona", "value": "A's persona"},
        ],
    )
    group = agent["managed_group"]
    assert group is not None
    assert [g["id"] for g in await ok(a.get("/v1/groups/"))] == [group["id"]]
    human = next(b for b in agent["blocks"] if b["label"] == "human")
    return {
        "a_block": block["id"],
        "a_agent": agent["id"],
        "a_sleeptime": group["agent_ids"][0],
        "a_group": group["id"],
        "a_human": human["id"],
    }


async def build_b(b: httpx.AsyncClient) -> dict[str, str]:
    """B's own objects, used as the other side of attach/detach and group requests."""
    agent = await create_agent(
        b, name="beta", memory_blocks=[{"label": "human", "value": "B's human"}]
    )
    block = await create_block(b, label="notes", value="B's notes")
    sleepy = await create_agent(b, name="gamma", enable_sleeptime=True)
    group = sleepy["managed_group"]
    return {
        "b_agent": agent["id"],
        "b_block": block["id"],
        "b_sleepy": sleepy["id"],
        "b_sleeptime": group["agent_ids"][0],
        "b_group": group["id"],
    }


@pytest.fixture
async def tenants(make_client: AppFactory, db: Database) -> tuple[Tenant, Tenant]:
    return await tenant(make_client, db, "acme"), await tenant(make_client, db, "globex")


@pytest.fixture
async def world(tenants: tuple[Tenant, Tenant]) -> World:
    a, b = tenants
    return World(a, b, {**await build_a(a.client), **await build_b(b.client)})


async def snapshot(client: httpx.AsyncClient) -> dict[str, Any]:
    """Everything an organization can read about its own rows."""
    blocks = await ok(client.get("/v1/blocks/", params={"limit": 1000}))
    return {
        "blocks": blocks,
        "agents": await ok(client.get("/v1/agents/", params={"limit": 1000})),
        "groups": await ok(client.get("/v1/groups/", params={"limit": 1000})),
        "history": {b["id"]: await ok(client.get(f"/v1/blocks/{b['id']}/history")) for b in blocks},
    }


def fresh_ids(ids: dict[str, str], owner: str) -> dict[str, str]:
    """New, never-created ids of the same kinds as ``owner``'s (``a_`` or ``b_``) objects."""
    return {
        key: new_id(Prefix(value.split("-", 1)[0]))
        for key, value in ids.items()
        if key.startswith(owner)
    }


def same_answer_as_missing(
    response: httpx.Response, ghost: httpx.Response, swap: dict[str, str]
) -> None:
    """``response`` (real foreign ids) equals ``ghost`` (fresh ids), once the ids are swapped."""
    text = ghost.text
    for fake, real in swap.items():
        text = text.replace(fake, real)
    assert response.status_code == ghost.status_code, (response.text, ghost.text)
    assert response.json() == json.loads(text)
    assert A_SECRET not in response.text


# --- who may call ----------------------------------------------------------------------------


def _routes() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for router in (blocks_router, agents_router, groups_router, models_router):
        for route in router.routes:
            assert isinstance(route, APIRoute)
            found += [(method, route.path) for method in sorted(route.methods or ())]
    return found


ROUTES = _routes()
PLACEHOLDERS = {"agent_id": Prefix.agent, "block_id": Prefix.block, "group_id": Prefix.group}


def concrete(path: str) -> str:
    """A route template with fresh ids (and the label ``human``) in its placeholders."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return "human" if name == "block_label" else new_id(PLACEHOLDERS[name])

    return re.sub(r"\{(\w+)\}", value, path)


def test_every_route_is_listed() -> None:
    assert ("PATCH", "/v1/agents/{agent_id}/core-memory/blocks/attach/{block_id}") in ROUTES
    assert ("DELETE", "/v1/groups/{group_id}") in ROUTES
    assert ("GET", "/v1/blocks") in ROUTES  # the slashless alias


@pytest.mark.parametrize(
    "authorization", [None, "Bearer sk-slp-not-a-real-key"], ids=["no-header", "unknown-key"]
)
@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_every_route_needs_a_valid_key(
    make_client: AppFactory, method: str, path: str, authorization: str | None
) -> None:
    client = await make_client(auth=AuthMode.required)
    headers = {} if authorization is None else {"Authorization": authorization}
    body: dict[str, Any] | None = {} if method in {"POST", "PATCH"} else None
    response = await client.request(method, concrete(path), json=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Basic dXNlcjpwYXNz",
        "{secret}",
        "Token {secret}",
        "Bearer{secret}",
        "Bearer {secret}x",
        "Bearer sk-slp-",
        "",
    ],
)
async def test_malformed_or_wrong_header_is_401(
    make_client: AppFactory, db: Database, authorization: str
) -> None:
    issued = await issue_key(db, "acme")
    client = await make_client(auth=AuthMode.required)
    headers = {"Authorization": authorization.replace("{secret}", issued.secret)}
    response = await client.get("/v1/blocks/", headers=headers)
    assert response.status_code == 401, response.text
    assert (
        await client.post("/v1/blocks/", json={"label": "x"}, headers=headers)
    ).status_code == 401
    assert (
        await ok(client.get("/v1/blocks/", headers={"Authorization": f"Bearer {issued.secret}"}))
        == []
    )


async def test_a_valid_key_is_accepted_whatever_the_scheme_case(
    make_client: AppFactory, db: Database
) -> None:
    issued = await issue_key(db, "acme")
    client = await make_client(auth=AuthMode.required)
    for scheme in ("Bearer", "bearer", "BEARER"):
        headers = {"Authorization": f"{scheme} {issued.secret}"}
        assert await ok(client.get("/v1/blocks/", headers=headers)) == []


async def test_revoked_key_is_401_at_once_and_other_keys_still_work(
    make_client: AppFactory, db: Database
) -> None:
    first = await issue_key(db, "acme")
    second = await issue_key(db, "acme")
    assert first.organization.id == second.organization.id
    client = await make_client(auth=AuthMode.required)
    as_first = {"Authorization": f"Bearer {first.secret}"}
    as_second = {"Authorization": f"Bearer {second.secret}"}
    block = await ok(client.post("/v1/blocks/", json={"label": "x"}, headers=as_first))
    async with db.session() as session:
        revoked = await service.revoke_key(session, first.key.id)
        assert revoked.revoked_at is not None
    response = await client.get("/v1/blocks/", headers=as_first)
    assert response.status_code == 401, response.text
    assert (await client.get(f"/v1/blocks/{block['id']}", headers=as_first)).status_code == 401
    assert [b["id"] for b in await ok(client.get("/v1/blocks/", headers=as_second))] == [
        block["id"]
    ]


@pytest.mark.parametrize("path", HEALTH_ROUTES)
@pytest.mark.parametrize("authorization", [None, "Bearer sk-slp-not-a-real-key", "garbage"])
async def test_health_routes_need_no_key(
    make_client: AppFactory, path: str, authorization: str | None
) -> None:
    client = await make_client(auth=AuthMode.required)
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text


# --- tenant isolation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A request B sends; strings equal to a key of ``World.ids`` stand for that id."""

    method: str
    path: str
    body: Any = None

    def __str__(self) -> str:
        return f"{self.method} {self.path} {json.dumps(self.body) if self.body else ''}".strip()


def fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], ids.get(value, value))
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


async def send(client: httpx.AsyncClient, case: Case, ids: dict[str, str]) -> httpx.Response:
    return await client.request(case.method, fill(case.path, ids), json=fill(case.body, ids))


HIJACK = {"value": "hijacked by B"}
CASES = [
    Case("GET", "/v1/blocks/{a_block}"),
    Case("PATCH", "/v1/blocks/{a_block}", HIJACK),
    Case("DELETE", "/v1/blocks/{a_block}"),
    Case("GET", "/v1/blocks/{a_block}/history"),
    Case("GET", "/v1/blocks/{a_human}"),
    Case("PATCH", "/v1/blocks/{a_human}", {"label": "renamed"}),
    Case("DELETE", "/v1/blocks/{a_human}"),
    Case("GET", "/v1/agents/{a_agent}"),
    Case("GET", "/v1/agents/{a_sleeptime}"),
    Case("PATCH", "/v1/agents/{a_agent}", {"name": "hijacked"}),
    Case("PATCH", "/v1/agents/{a_agent}", {"enable_sleeptime": False}),
    Case("PATCH", "/v1/agents/{a_sleeptime}", {"block_ids": []}),
    Case("DELETE", "/v1/agents/{a_agent}"),
    Case("DELETE", "/v1/agents/{a_sleeptime}"),
    Case("GET", "/v1/agents/{a_agent}/tools"),
    Case("GET", "/v1/agents/{a_agent}/core-memory"),
    Case("GET", "/v1/agents/{a_agent}/core-memory/blocks"),
    Case("GET", "/v1/agents/{a_agent}/core-memory/blocks/human"),
    Case("PATCH", "/v1/agents/{a_agent}/core-memory/blocks/human", HIJACK),
    Case("PATCH", "/v1/agents/{b_agent}/core-memory/blocks/attach/{a_block}"),
    Case("PATCH", "/v1/agents/{b_agent}/core-memory/blocks/detach/{a_human}"),
    Case("PATCH", "/v1/agents/{a_agent}/core-memory/blocks/attach/{b_block}"),
    Case("PATCH", "/v1/agents/{a_agent}/core-memory/blocks/detach/{b_block}"),
    Case("PATCH", "/v1/agents/{a_agent}/core-memory/blocks/detach/{a_human}"),
    Case("PATCH", "/v1/agents/{b_agent}", {"block_ids": ["a_block"]}),
    Case("POST", "/v1/agents/", {"model": MODEL, "block_ids": ["a_block"]}),
    Case("POST", "/v1/agents/", {"model": MODEL, "block_ids": ["b_block", "a_human"]}),
    Case("GET", "/v1/groups/{a_group}"),
    Case("PATCH", "/v1/groups/{a_group}", {"description": "hijacked"}),
    Case(
        "PATCH",
        "/v1/groups/{a_group}",
        {"manager_config": {**SLEEPTIME, "manager_agent_id": "b_agent"}},
    ),
    Case("DELETE", "/v1/groups/{a_group}"),
    Case("PATCH", "/v1/groups/{b_group}", {"agent_ids": ["a_sleeptime"]}),
    Case(
        "PATCH",
        "/v1/groups/{b_group}",
        {"manager_config": {**SLEEPTIME, "manager_agent_id": "a_agent"}},
    ),
    Case(
        "POST",
        "/v1/groups/",
        {
            "agent_ids": ["a_sleeptime"],
            "manager_config": {**SLEEPTIME, "manager_agent_id": "a_agent"},
        },
    ),
    Case(
        "POST",
        "/v1/groups/",
        {
            "agent_ids": ["a_sleeptime"],
            "manager_config": {**SLEEPTIME, "manager_agent_id": "b_agent"},
        },
    ),
    Case(
        "POST",
        "/v1/groups/",
        {
            "agent_ids": ["b_sleeptime"],
            "manager_config": {**SLEEPTIME, "manager_agent_id": "a_agent"},
        },
    ),
]


def test_cases_cover_every_route_that_takes_an_id() -> None:
    covered = set()
    for case in CASES:
        path = re.sub(r"\{(\w+)\}", "x", case.path)
        for method, route_path in ROUTES:
            pattern = re.sub(r"\{\w+\}", "[^/]+", route_path)
            if method == case.method and re.fullmatch(pattern, path):
                covered.add((method, route_path))
    with_ids = {(m, p) for m, p in ROUTES if "{" in p}
    assert with_ids <= covered, sorted(with_ids - covered)


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_other_organization_ids_answer_404_like_missing_ones(
    world: World, case: Case
) -> None:
    before = await snapshot(world.a.client)
    assert (len(before["blocks"]), len(before["agents"]), len(before["groups"])) == (4, 2, 1)
    response = await send(world.b.client, case, world.ids)
    assert response.status_code == 404, response.text
    fakes = fresh_ids(world.ids, "a_")
    ghost = await send(world.b.client, case, {**world.ids, **fakes})
    same_answer_as_missing(response, ghost, {fakes[k]: world.ids[k] for k in fakes})
    assert await snapshot(world.a.client) == before


LISTS = [
    ("/v1/blocks/", {}),
    ("/v1/blocks", {}),
    ("/v1/blocks/", {"label": "notes"}),
    ("/v1/blocks/", {"label_search": "hum"}),
    ("/v1/blocks/", {"value_search": "organization A"}),
    ("/v1/blocks/", {"description_search": "notes"}),
    ("/v1/agents/", {}),
    ("/v1/agents", {}),
    ("/v1/agents/", {"name": "alpha"}),
    ("/v1/agents/", {"query_text": "alp"}),
    ("/v1/agents/", {"tags": "a-tag"}),
    ("/v1/groups/", {}),
    ("/v1/groups", {}),
    ("/v1/groups/", {"manager_type": "sleeptime"}),
]


@pytest.mark.parametrize(("path", "params"), LISTS, ids=[f"{p} {q}" for p, q in LISTS])
async def test_lists_of_another_organization_are_empty(
    tenants: tuple[Tenant, Tenant], path: str, params: dict[str, str]
) -> None:
    a, b = tenants
    await build_a(a.client)
    assert await ok(a.client.get(path, params=params)) != []
    assert await ok(b.client.get(path, params=params)) == []


async def test_each_organization_lists_exactly_its_own_rows(world: World) -> None:
    for me, owner in ((world.a, "a_"), (world.b, "b_")):
        seen = await snapshot(me.client)
        listed = {row["id"] for kind in ("blocks", "agents", "groups") for row in seen[kind]}
        assert listed >= {v for k, v in world.ids.items() if k.startswith(owner)}
        assert listed.isdisjoint(v for k, v in world.ids.items() if not k.startswith(owner))
    assert A_SECRET not in json.dumps(await snapshot(world.b.client))


PAGES = [
    ("/v1/blocks/", "a_block"),
    ("/v1/blocks/", "a_human"),
    ("/v1/agents/", "a_agent"),
    ("/v1/agents/", "a_sleeptime"),
    ("/v1/groups/", "a_group"),
    ("/v1/agents/{b_agent}/core-memory/blocks", "a_human"),
]


@pytest.mark.parametrize("cursor", ["after", "before"])
@pytest.mark.parametrize(("path", "key"), PAGES, ids=[f"{p} {k}" for p, k in PAGES])
async def test_paging_from_another_organization_id_reveals_nothing(
    world: World, path: str, key: str, cursor: str
) -> None:
    before = await snapshot(world.a.client)
    for order in ("asc", "desc"):
        params = {cursor: world.ids[key], "order": order}
        response = await world.b.client.get(fill(path, world.ids), params=params)
        assert 400 <= response.status_code < 500, response.text
        fake = new_id(Prefix(world.ids[key].split("-", 1)[0]))
        ghost = await world.b.client.get(fill(path, world.ids), params={**params, cursor: fake})
        same_answer_as_missing(response, ghost, {fake: world.ids[key]})
    assert await snapshot(world.a.client) == before


async def test_user_id_header_is_accepted_and_ignored(world: World) -> None:
    foreign = {"user_id": world.a.organization_id}
    response = await world.b.client.get(f"/v1/agents/{world.ids['a_agent']}", headers=foreign)
    assert response.status_code == 404, response.text
    blocks = await ok(world.b.client.get("/v1/blocks/", headers=foreign))
    assert A_SECRET not in json.dumps(blocks)
    assert {b["id"] for b in blocks} == {
        b["id"] for b in await ok(world.b.client.get("/v1/blocks/"))
    }
    own = {"user_id": "user-00000000-0000-4000-8000-000000000000"}
    agent = await ok(world.a.client.get(f"/v1/agents/{world.ids['a_agent']}", headers=own))
    assert agent == await ok(world.a.client.get(f"/v1/agents/{world.ids['a_agent']}"))
    created = await ok(world.a.client.post("/v1/blocks/", json={"label": "x"}, headers=own))
    assert (await world.b.client.get(f"/v1/blocks/{created['id']}")).status_code == 404
    no_key = await world.a.client.get(
        "/v1/blocks/", headers={"Authorization": "", "user_id": world.a.organization_id}
    )
    assert no_key.status_code == 401, no_key.text
