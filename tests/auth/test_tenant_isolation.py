"""With keys required: who may call, and that one organization never reaches another's rows.

Another organization's ids must answer exactly like ids that do not exist, so every
cross-organization request is sent twice: once with the other organization's ids and once
with fresh ids of the same kind, and the two answers must be identical (ids aside).
"""

import asyncio
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute

from app.agents.endpoints import block_agents_router
from app.agents.endpoints import router as agents_router
from app.auth import service
from app.blocks.endpoints import router as blocks_router
from app.config import AuthMode
from app.groups.endpoints import router as groups_router
from app.kit.db import Database
from app.kit.ids import Prefix, new_id
from app.messages.endpoints import router as messages_router
from app.messages.endpoints import run_messages_router
from app.providers.endpoints import router as models_router
from app.runs.endpoints import router as runs_router
from app.streaming.endpoints import router as run_stream_router
from app.tags.endpoints import router as tags_router
from app.tools.endpoints import router as tools_router
from app.turns.endpoints import router as turns_router
from app.turns.endpoints import run_router as turn_runs_router
from tests.conftest import MODEL, AppFactory, AppMaker, clean_tables
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, create_block, ok
from tests.rows import Rows, capture, restore

A_SECRET = "only organization A may read this"
SECRET_TOOL = f'''
def secret_tool() -> str:
    """{A_SECRET}"""
    return "x"
'''
B_TOOL = SECRET_TOOL.replace(A_SECRET, "B's tool")
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
    """A client for a new organization. No background dispatcher: the runs a turn queues
    (sleeptime) stay queued, so what each organization owns holds still while B probes."""
    issued = await issue_key(db, org_name)
    client = await make_client(auth=AuthMode.required, dispatcher=False)
    client.headers["Authorization"] = f"Bearer {issued.secret}"
    return Tenant(client, issued.secret, issued.organization.id, issued.key.id)


def say(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


async def one_turn(client: httpx.AsyncClient, agent_id: str, text: str) -> tuple[str, str]:
    """Send ``text`` to the agent (the fake model answers); the run's id and the user message's."""
    answer = await ok(client.post(f"/v1/agents/{agent_id}/messages", json=say(text)))
    run_ids = {m["run_id"] for m in answer["messages"]}
    assert len(run_ids) == 1, answer
    run_id = run_ids.pop()
    stored = await ok(client.get(f"/v1/runs/{run_id}/messages"))
    user = next(m for m in stored if m["message_type"] == "user_message")
    assert user["content"] == text
    return run_id, user["id"]


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
    # the tool-approval cases toggle tools the agents really have
    assert {"send_message", "conversation_search"} <= {t["name"] for t in agent["tools"]}
    run_id, message_id = await one_turn(a, agent["id"], f"remember: {A_SECRET}")
    runs = await ok(a.get("/v1/runs/"))
    assert run_id in {r["id"] for r in runs}
    assert {r["agent_id"] for r in runs} <= {agent["id"], *group["agent_ids"]}
    assert await ok(a.get(f"/v1/runs/{run_id}/steps"))
    assert A_SECRET in json.dumps(await ok(a.get(f"/v1/agents/{agent['id']}/messages")))
    assert A_SECRET in json.dumps(await ok(a.get(f"/v1/groups/{group['id']}/messages")))
    sleeptime = await ok(a.get(f"/v1/agents/{group['agent_ids'][0]}/tools"))
    assert "memory_insert" in {t["name"] for t in sleeptime}
    tool = await ok(a.post("/v1/tools/", json={"source_code": SECRET_TOOL}))
    attached = await ok(a.patch(f"/v1/agents/{agent['id']}/tools/attach/{tool['id']}"))
    assert "secret_tool" in {t["name"] for t in attached["tools"]}
    return {
        "a_tool": tool["id"],
        "a_block": block["id"],
        "a_agent": agent["id"],
        "a_sleeptime": group["agent_ids"][0],
        "a_group": group["id"],
        "a_human": human["id"],
        "a_run": run_id,
        "a_message": message_id,
    }


async def build_b(b: httpx.AsyncClient) -> dict[str, str]:
    """B's own objects, used as the other side of attach/detach and group requests."""
    agent = await create_agent(
        b, name="beta", memory_blocks=[{"label": "human", "value": "B's human"}]
    )
    block = await create_block(b, label="notes", value="B's notes")
    sleepy = await create_agent(b, name="gamma", enable_sleeptime=True)
    group = sleepy["managed_group"]
    run_id, message_id = await one_turn(b, agent["id"], "B's own question")
    tool = await ok(b.post("/v1/tools/", json={"source_code": B_TOOL}))
    return {
        "b_tool": tool["id"],
        "b_agent": agent["id"],
        "b_block": block["id"],
        "b_sleepy": sleepy["id"],
        "b_sleeptime": group["agent_ids"][0],
        "b_group": group["id"],
        "b_run": run_id,
        "b_message": message_id,
    }


@pytest.fixture
async def tenants(make_client: AppFactory, db: Database) -> tuple[Tenant, Tenant]:
    return await tenant(make_client, db, "acme"), await tenant(make_client, db, "globex")


@dataclass(frozen=True)
class Built:
    """A world as built once: its rows, and what its tenants' clients need."""

    keys: tuple[service.IssuedKey, service.IssuedKey]
    ids: dict[str, str]
    rows: Rows


@pytest.fixture(scope="module")
async def built(module_app: AppMaker, db: Database) -> Built:
    """The world, built once through the API (two organizations, A's objects and B's) and
    its rows captured, then the tables emptied again."""
    app, _ = await module_app(auth=AuthMode.required)
    keys = await issue_key(db, "acme"), await issue_key(db, "globex")
    ids: dict[str, str] = {}
    for issued, build in zip(keys, (build_a, build_b), strict=True):
        headers = {"Authorization": f"Bearer {issued.secret}"}
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as client:
            ids |= await build(client)
    rows = await capture(db)
    await clean_tables(db)
    return Built(keys, ids, rows)


@pytest.fixture
async def world(built: Built, make_client: AppFactory, db: Database) -> World:
    """A fresh copy of the built world's rows, and each organization's client of an app of
    this test's own."""
    await restore(db, built.rows)
    tenants = []
    for issued in built.keys:
        client = await make_client(auth=AuthMode.required, dispatcher=False)
        client.headers["Authorization"] = f"Bearer {issued.secret}"
        tenants.append(Tenant(client, issued.secret, issued.organization.id, issued.key.id))
    a, b = tenants
    return World(a, b, dict(built.ids))


async def snapshot(client: httpx.AsyncClient) -> dict[str, Any]:
    """Everything an organization can read about its own rows."""
    every = {"limit": 1000}
    blocks = await ok(client.get("/v1/blocks/", params=every))
    agents = await ok(client.get("/v1/agents/", params=every))
    groups = await ok(client.get("/v1/groups/", params=every))
    runs = await ok(client.get("/v1/runs/", params=every))
    return {
        "tools": await ok(client.get("/v1/tools/", params=every)),
        "tags": await ok(client.get("/v1/tags/", params=every)),
        "blocks": blocks,
        "agents": agents,
        "groups": groups,
        "runs": runs,
        "history": {b["id"]: await ok(client.get(f"/v1/blocks/{b['id']}/history")) for b in blocks},
        "messages": {
            a["id"]: await ok(client.get(f"/v1/agents/{a['id']}/messages", params=every))
            for a in agents
        },
        "group_messages": {
            g["id"]: await ok(client.get(f"/v1/groups/{g['id']}/messages", params=every))
            for g in groups
        },
        "run_details": {
            r["id"]: {
                part: await ok(client.get(f"/v1/runs/{r['id']}/{part}"))
                for part in ("messages", "steps", "usage")
            }
            for r in runs
        },
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


def _routes(*routers: APIRouter) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for router in routers:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            found += [(method, route.path) for method in sorted(route.methods or ())]
    return found


# Routes that read or write an organization's rows.
ROUTES = _routes(
    blocks_router,
    block_agents_router,
    agents_router,
    groups_router,
    models_router,
    turns_router,
    messages_router,
    turn_runs_router,
    runs_router,
    run_stream_router,
    run_messages_router,
)
# Every route needs a key, including those that show what all organizations share.
AUTH_ROUTES = ROUTES + _routes(tools_router, tags_router)
PLACEHOLDERS = {
    "agent_id": Prefix.agent,
    "block_id": Prefix.block,
    "group_id": Prefix.group,
    "run_id": Prefix.run,
    "tool_id": Prefix.tool,
}
NAMES = {"block_label": "human", "tool_name": "memory_insert"}


def concrete(path: str) -> str:
    """A route template with fresh ids (and a real label or tool name) in its placeholders."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return NAMES[name] if name in NAMES else new_id(PLACEHOLDERS[name])

    return re.sub(r"\{(\w+)\}", value, path)


def test_every_route_is_listed() -> None:
    assert ("PATCH", "/v1/agents/{agent_id}/core-memory/blocks/attach/{block_id}") in ROUTES
    assert ("DELETE", "/v1/groups/{group_id}") in ROUTES
    assert ("GET", "/v1/blocks") in ROUTES  # the slashless alias
    assert ("POST", "/v1/agents/{agent_id}/messages") in ROUTES
    assert ("GET", "/v1/groups/{group_id}/messages") in ROUTES
    assert ("DELETE", "/v1/runs/{run_id}") in ROUTES
    assert ("GET", "/v1/runs/{run_id}/usage") in ROUTES
    assert ("GET", "/v1/runs") in ROUTES
    assert ("PATCH", "/v1/agents/{agent_id}/tools/approval/{tool_name}") in ROUTES


@pytest.mark.parametrize(
    "authorization", [None, "Bearer sk-slp-not-a-real-key"], ids=["no-header", "unknown-key"]
)
@pytest.mark.parametrize(("method", "path"), AUTH_ROUTES, ids=[f"{m} {p}" for m, p in AUTH_ROUTES])
async def test_every_route_needs_a_valid_key(
    module_client: AppFactory, method: str, path: str, authorization: str | None
) -> None:
    client = await module_client(auth=AuthMode.required)
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
    module_client: AppFactory, path: str, authorization: str | None
) -> None:
    client = await module_client(auth=AuthMode.required)
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
    Case("GET", "/v1/tools/{a_tool}"),
    Case("PATCH", "/v1/tools/{a_tool}", {"description": "hijacked"}),
    Case("PATCH", "/v1/tools/{a_tool}", {"source_code": "def renamed() -> None:\n    'B.'"}),
    Case("DELETE", "/v1/tools/{a_tool}"),
    Case("PATCH", "/v1/agents/{b_agent}/tools/attach/{a_tool}"),
    Case("PATCH", "/v1/agents/{b_agent}/tools/detach/{a_tool}"),
    Case("PATCH", "/v1/agents/{a_agent}/tools/attach/{b_tool}"),
    Case("PATCH", "/v1/agents/{a_agent}/tools/detach/{a_tool}"),
    Case("PATCH", "/v1/agents/{b_agent}", {"tool_ids": ["a_tool"]}),
    Case("POST", "/v1/agents/", {"model": MODEL, "tool_ids": ["b_tool", "a_tool"]}),
    Case("GET", "/v1/agents/{a_agent}/groups"),
    Case("GET", "/v1/agents/{a_sleeptime}/groups"),
    Case("POST", "/v1/agents/{a_agent}/tools/send_message/run", {"args": {"message": "hi"}}),
    Case(
        "POST",
        "/v1/agents/{a_sleeptime}/tools/memory_insert/run",
        {"args": {"label": "human", "new_string": "hijacked by B"}},
    ),
    Case("GET", "/v1/blocks/{a_block}/agents"),
    Case("GET", "/v1/blocks/{a_human}/agents"),
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
    Case("POST", "/v1/agents/{a_agent}/messages", say("hello from B")),
    Case("POST", "/v1/agents/{a_agent}/messages", {"input": "hello from B"}),
    Case("POST", "/v1/agents/{a_sleeptime}/messages", say("hello from B")),
    Case("POST", "/v1/groups/{a_group}/messages", say("hello from B")),
    Case("POST", "/v1/agents/{a_agent}/messages/async", say("hello from B")),
    Case("POST", "/v1/agents/{a_agent}/messages/stream", say("hello from B")),
    Case("POST", "/v1/agents/{a_agent}/messages", {**say("hello from B"), "streaming": True}),
    Case("POST", "/v1/groups/{a_group}/messages/stream", say("hello from B")),
    Case("POST", "/v1/agents/{a_sleeptime}/messages/async", say("hello from B")),
    Case("POST", "/v1/agents/{a_agent}/messages/cancel"),
    Case("POST", "/v1/agents/{a_agent}/messages/cancel", {}),
    Case("POST", "/v1/agents/{a_agent}/messages/cancel", {"run_ids": ["a_run"]}),
    Case("POST", "/v1/agents/{a_agent}/messages/cancel", {"run_ids": ["b_run"]}),
    Case("POST", "/v1/agents/{b_agent}/messages/cancel", {"run_ids": ["a_run"]}),
    Case("POST", "/v1/agents/{b_agent}/messages/cancel", {"run_ids": ["b_run", "a_run"]}),
    Case("POST", "/v1/runs/{a_run}/cancel"),
    Case("PATCH", "/v1/agents/{a_agent}/reset-messages"),
    Case("PATCH", "/v1/agents/{a_agent}/reset-messages", {"add_default_initial_messages": True}),
    Case("GET", "/v1/agents/{a_agent}/messages"),
    Case("GET", "/v1/agents/{a_sleeptime}/messages"),
    Case("GET", "/v1/groups/{a_group}/messages"),
    Case("GET", "/v1/runs/{a_run}"),
    Case("DELETE", "/v1/runs/{a_run}"),
    Case("GET", "/v1/runs/{a_run}/messages"),
    Case("GET", "/v1/runs/{a_run}/stream"),
    Case("POST", "/v1/runs/{a_run}/stream", {"starting_after": 0}),
    Case("GET", "/v1/runs/{a_run}/steps"),
    Case("GET", "/v1/runs/{a_run}/usage"),
    Case(
        "PATCH",
        "/v1/agents/{a_agent}/tools/approval/conversation_search",
        {"requires_approval": True},
    ),
    Case("PATCH", "/v1/agents/{a_agent}/tools/approval/send_message", {"requires_approval": True}),
    Case(
        "PATCH",
        "/v1/agents/{a_sleeptime}/tools/approval/memory_insert",
        {"requires_approval": True},
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
    world: World, case: Case, fake_llm: FakeLLMServer
) -> None:
    before = await snapshot(world.a.client)
    assert (len(before["blocks"]), len(before["agents"]), len(before["groups"])) == (4, 2, 1)
    assert world.ids["a_run"] in {r["id"] for r in before["runs"]}
    assert world.ids["a_message"] in {m["id"] for m in before["messages"][world.ids["a_agent"]]}
    model_calls = len(fake_llm.state.chat_requests)
    response = await send(world.b.client, case, world.ids)
    assert response.status_code == 404, response.text
    fakes = fresh_ids(world.ids, "a_")
    ghost = await send(world.b.client, case, {**world.ids, **fakes})
    same_answer_as_missing(response, ghost, {fakes[k]: world.ids[k] for k in fakes})
    assert len(fake_llm.state.chat_requests) == model_calls
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
    ("/v1/runs/", {}),
    ("/v1/runs", {}),
    ("/v1/runs/", {"statuses": "completed"}),
    ("/v1/runs/", {"agent_id": "{a_agent}"}),
    ("/v1/runs/", {"agent_ids": "{a_agent}"}),
    ("/v1/runs/", {"stop_reason": "end_turn"}),
    ("/v1/tags/", {}),
    ("/v1/tags", {"name": "a-t"}),
    ("/v1/tools/", {"tool_types": "custom"}),
    ("/v1/tools/", {"name": "secret_tool"}),
]


@pytest.mark.parametrize(("path", "params"), LISTS, ids=[f"{p} {q}" for p, q in LISTS])
async def test_lists_of_another_organization_are_empty(
    tenants: tuple[Tenant, Tenant], path: str, params: dict[str, str]
) -> None:
    a, b = tenants
    params = fill(params, await build_a(a.client))
    assert await ok(a.client.get(path, params=params)) != []
    assert await ok(b.client.get(path, params=params)) == []


async def test_each_organization_lists_exactly_its_own_rows(world: World) -> None:
    for me, owner in ((world.a, "a_"), (world.b, "b_")):
        seen = await snapshot(me.client)
        listed = {
            row["id"]
            for kind in ("blocks", "agents", "groups", "runs", "tools")
            for row in seen[kind]
        }
        listed |= {m["id"] for messages in seen["messages"].values() for m in messages}
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
    ("/v1/blocks/{b_block}/agents", "a_agent"),
    ("/v1/agents/{b_sleeptime}/groups", "a_group"),
    ("/v1/runs/", "a_run"),
    ("/v1/runs", "a_run"),
    ("/v1/runs/{b_run}/steps", "a_run"),
    ("/v1/agents/{b_agent}/messages", "a_message"),
    ("/v1/runs/{b_run}/messages", "a_message"),
    ("/v1/tools/", "a_tool"),
    ("/v1/agents/{b_agent}/tools", "a_tool"),
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


async def test_runs_of_another_organization_stay_hidden(world: World) -> None:
    a_run, b_run = world.ids["a_run"], world.ids["b_run"]
    a_agent, b_agent = world.ids["a_agent"], world.ids["b_agent"]
    before = await snapshot(world.a.client)
    for path in ("/v1/runs/", "/v1/runs"):
        for order in ("asc", "desc"):
            listed = await ok(world.b.client.get(path, params={"order": order}))
            assert [r["id"] for r in listed] == [b_run]
    assert await ok(world.b.client.get("/v1/runs/", params={"agent_id": a_agent})) == []
    assert await ok(world.b.client.get("/v1/runs/", params={"agent_ids": [a_agent]})) == []
    mixed = await ok(world.b.client.get("/v1/runs/", params={"agent_ids": [a_agent, b_agent]}))
    assert [r["id"] for r in mixed] == [b_run]
    both = await ok(world.b.client.get("/v1/runs/", params={"agent_id": a_agent, "active": True}))
    assert both == []
    b_messages = await ok(world.b.client.get(f"/v1/agents/{b_agent}/messages"))
    assert b_messages and A_SECRET not in json.dumps(b_messages)
    for params in ({"group_id": world.ids["a_group"]}, {"group_id": world.ids["b_group"]}):
        assert await ok(world.b.client.get(f"/v1/agents/{b_agent}/messages", params=params)) == []
    assert a_run in {r["id"] for r in await ok(world.a.client.get("/v1/runs/"))}
    assert await snapshot(world.a.client) == before


RUN_ROUTES = [
    ("GET", ""),
    ("GET", "/messages"),
    ("GET", "/steps"),
    ("GET", "/usage"),
    ("POST", "/cancel"),
    ("DELETE", ""),
]


async def test_every_run_of_another_organization_answers_404_like_a_missing_one(
    world: World, fake_llm: FakeLLMServer
) -> None:
    """Every run A has (its finished turn, a queued async turn, anything a turn queued), still
    active or not: B reaches none of them, and cannot cancel or delete them."""
    a_agent = world.ids["a_agent"]
    queued = await ok(world.a.client.post(f"/v1/agents/{a_agent}/messages/async", json=say("q")))
    assert queued["status"] == "created"  # no dispatcher here: it stays queued
    before = await snapshot(world.a.client)
    assert {world.ids["a_run"], queued["id"]} <= {r["id"] for r in before["runs"]}
    model_calls = len(fake_llm.state.chat_requests)
    for run in before["runs"]:
        for method, tail in RUN_ROUTES:
            response = await world.b.client.request(method, f"/v1/runs/{run['id']}{tail}")
            assert response.status_code == 404, (run["status"], method, tail, response.text)
            fake = new_id(Prefix.run)
            ghost = await world.b.client.request(method, f"/v1/runs/{fake}{tail}")
            same_answer_as_missing(response, ghost, {fake: run["id"]})
        for agent in ("b_agent", "a_agent"):
            path = f"/v1/agents/{world.ids[agent]}/messages/cancel"
            response = await world.b.client.post(path, json={"run_ids": [run["id"]]})
            assert response.status_code == 404, response.text
            fake = new_id(Prefix.run)
            ghost = await world.b.client.post(path, json={"run_ids": [fake]})
            same_answer_as_missing(response, ghost, {fake: run["id"]})
    assert len(fake_llm.state.chat_requests) == model_calls
    assert await snapshot(world.a.client) == before
    # the routes do work for the owner: A can cancel its own queued turn
    cancelled = await ok(world.a.client.post(f"/v1/runs/{queued['id']}/cancel"))
    assert cancelled == {queued["id"]: "cancelled"}


async def test_an_idempotency_key_is_per_organization(
    world: World, fake_llm: FakeLLMServer
) -> None:
    """B reusing a key A already used gets a turn of its own, never A's stored answer."""
    key = {"Idempotency-Key": "same-key-in-both-organizations"}
    a_agent, b_agent = world.ids["a_agent"], world.ids["b_agent"]
    first = await ok(
        world.a.client.post(f"/v1/agents/{a_agent}/messages", json=say(A_SECRET), headers=key)
    )
    before = await snapshot(world.a.client)
    model_calls = len(fake_llm.state.chat_requests)
    same_body = await world.b.client.post(
        f"/v1/agents/{a_agent}/messages", json=say(A_SECRET), headers=key
    )
    assert same_body.status_code == 404, same_body.text
    assert A_SECRET not in same_body.text
    assert len(fake_llm.state.chat_requests) == model_calls
    own = await ok(
        world.b.client.post(f"/v1/agents/{b_agent}/messages", json=say("B asks"), headers=key)
    )
    assert len(fake_llm.state.chat_requests) == model_calls + 1
    assert A_SECRET not in json.dumps(own)
    assert {m["run_id"] for m in own["messages"]}.isdisjoint(m["run_id"] for m in first["messages"])
    again = await ok(
        world.a.client.post(f"/v1/agents/{a_agent}/messages", json=say(A_SECRET), headers=key)
    )
    assert again == first  # A's replay is untouched by B's use of the key
    assert len(fake_llm.state.chat_requests) == model_calls + 1
    assert await snapshot(world.a.client) == before


BUSY_CASES = [
    ("/v1/agents/{agent}/messages", say("B asks")),
    ("/v1/agents/{agent}/messages", {**say("B asks"), "multitask_strategy": "reject"}),
    ("/v1/agents/{agent}/messages", {**say("B asks"), "multitask_strategy": "enqueue"}),
    ("/v1/agents/{agent}/messages/async", say("B asks")),
    ("/v1/agents/{agent}/messages/cancel", None),
    ("/v1/groups/{group}/messages", say("B asks")),
]


@pytest.mark.parametrize(
    ("path", "body"), BUSY_CASES, ids=[f"{p} {json.dumps(b)}" for p, b in BUSY_CASES]
)
async def test_a_busy_agent_of_another_organization_answers_like_a_missing_one(
    make_client: AppFactory, db: Database, fake_llm: FakeLLMServer, path: str, body: Any
) -> None:
    """One process serves both organizations: while A's agent is mid-turn, B's requests to it
    must still answer 404 at once, not "busy" (409) and not after waiting for A's turn."""
    client = await make_client(auth=AuthMode.required, dispatcher=False, turn_wait_seconds=0.5)
    a_key, b_key = await issue_key(db, "acme"), await issue_key(db, "globex")
    as_a = {"Authorization": f"Bearer {a_key.secret}"}
    as_b = {"Authorization": f"Bearer {b_key.secret}"}
    agent = await ok(
        client.post("/v1/agents/", json={"model": MODEL, "enable_sleeptime": True}, headers=as_a)
    )
    group_id = agent["managed_group"]["id"]
    release = threading.Event()
    fake_llm.state.add(Reply(text=A_SECRET, hold=release))
    a_turn = asyncio.create_task(
        client.post(f"/v1/agents/{agent['id']}/messages", json=say("A asks"), headers=as_a)
    )
    try:
        await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 1)
        real = path.format(agent=agent["id"], group=group_id)
        response = await client.post(real, json=body, headers=as_b)
        fake_agent, fake_group = new_id(Prefix.agent), new_id(Prefix.group)
        ghost = await client.post(
            path.format(agent=fake_agent, group=fake_group), json=body, headers=as_b
        )
        busy = not a_turn.done()  # B neither ended nor cancelled A's turn
    finally:
        release.set()
        a_answer = await a_turn
    assert response.status_code == 404, response.text
    same_answer_as_missing(response, ghost, {fake_agent: agent["id"], fake_group: group_id})
    assert busy and len(fake_llm.state.chat_requests) == 1
    assert a_answer.status_code == 200, a_answer.text
    assert a_answer.json()["messages"][0]["content"] == A_SECRET
    runs = await ok(client.get("/v1/runs/", params={"agent_id": agent["id"]}, headers=as_a))
    assert all(r["status"] != "cancelled" for r in runs)
    assert await ok(client.get("/v1/runs/", headers=as_b)) == []


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
