"""``/v1/tools`` with registered tools: create, upsert, list, count, retrieve, modify, delete,
generate-schema, and what agents see of them."""

from typing import Any

import httpx
import pytest

from app.auth import service as auth_service
from app.config import AuthMode
from app.kit.db import Database
from app.tools.builtin import BUILTIN_TOOLS
from tests.conftest import AppFactory
from tests.helpers import create_agent, ok, page_all

ROLL = '''
def roll_dice(sides: int, times: int = 1) -> str:
    """Roll a die.

    Args:
        sides: How many sides the die has.
        times: How many rolls.

    Returns:
        str: The rolls.
    """
    return str(sides)
'''

GREET = '''
def greet(name: str) -> str:
    """Greet someone.

    Args:
        name: Who to greet.
    """
    return "hi " + name
'''


async def register(client: httpx.AsyncClient, source: str = ROLL, **body: Any) -> dict[str, Any]:
    return await ok(client.post("/v1/tools/", json={"source_code": source, **body}))  # type: ignore[no-any-return]


async def test_create_derives_the_schema_from_the_source(client: httpx.AsyncClient) -> None:
    tool = await register(client, tags=["dice"], pip_requirements=[{"name": "numpy"}])
    assert tool["id"].startswith("tool-")
    assert tool["name"] == "roll_dice"
    assert tool["tool_type"] == "custom"
    assert tool["source_type"] == "python"
    assert tool["description"] == "Roll a die."
    assert tool["tags"] == ["dice"]
    assert tool["return_char_limit"] == 50_000
    assert tool["pip_requirements"] == [{"name": "numpy"}]
    assert tool["default_requires_approval"] is False
    assert tool["json_schema"] == {
        "name": "roll_dice",
        "description": "Roll a die.",
        "parameters": {
            "type": "object",
            "properties": {
                "sides": {"type": "integer", "description": "How many sides the die has."},
                "times": {"type": "integer", "description": "How many rolls."},
            },
            "required": ["sides"],
        },
    }
    assert await ok(client.get(f"/v1/tools/{tool['id']}")) == tool


async def test_a_given_json_schema_is_used_as_is(client: httpx.AsyncClient) -> None:
    schema = {
        "name": "lookup",
        "description": "Look it up.",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
    tool = await register(client, json_schema=schema, description="Mine.")
    assert tool["name"] == "lookup"
    assert tool["json_schema"] == schema
    assert tool["description"] == "Mine."


async def test_args_json_schema_gives_the_parameters(client: httpx.AsyncClient) -> None:
    args = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    tool = await register(client, args_json_schema=args)
    assert tool["args_json_schema"] == args
    assert tool["json_schema"]["name"] == "roll_dice"
    assert tool["json_schema"]["parameters"]["properties"] == {"n": {"type": "integer"}}
    assert tool["json_schema"]["parameters"]["required"] == ["n"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"source_code": "def broken(:\n    pass"}, "syntax error at line 1"),
        ({"source_code": "x = 1"}, "defines no top-level function"),
        ({"source_code": "def f(a: int):\n    return a"}, "Function 'f' has no docstring"),
        (
            {"source_code": 'def f(a):\n    """Do.\n\n    Args:\n        a: A.\n    """'},
            "Parameter 'a' in function 'f' lacks a type annotation",
        ),
        (
            {"source_code": 'def f(a: int):\n    """Do."""'},
            "Parameter 'a' in function 'f' lacks a description in the docstring",
        ),
        (
            {"source_code": 'def f(a: set):\n    """Do.\n\n    Args:\n        a: A.\n    """'},
            "Unsupported type annotation 'set'",
        ),
        ({"source_code": ROLL, "source_type": "typescript"}, "only 'python'"),
        ({"source_code": ROLL, "json_schema": {"name": "x"}}, "'parameters'"),
        ({"source_code": ROLL, "json_schema": {"parameters": {}}}, "'name'"),
        (
            {"source_code": ROLL, "json_schema": {"name": "send_message", "parameters": {}}},
            "reserved for a built-in tool",
        ),
        (
            {"source_code": ROLL, "json_schema": {"name": "has space", "parameters": {}}},
            "is not valid",
        ),
        ({"source_code": ROLL, "args_json_schema": {"type": "object"}}, "'properties'"),
    ],
)
async def test_bad_tools_answer_400_naming_the_problem(
    client: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    response = await client.post("/v1/tools/", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["detail"]
    assert await ok(client.get("/v1/tools/count")) == len(BUILTIN_TOOLS)


@pytest.mark.parametrize("limit", [0, 1_000_001])
async def test_return_char_limit_is_bounded(client: httpx.AsyncClient, limit: int) -> None:
    response = await client.post(
        "/v1/tools/", json={"source_code": ROLL, "return_char_limit": limit}
    )
    assert response.status_code == 422


async def test_a_taken_name_is_409_and_upsert_updates_by_name(client: httpx.AsyncClient) -> None:
    first = await register(client, tags=["a"])
    response = await client.post("/v1/tools/", json={"source_code": ROLL})
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]

    changed = ROLL.replace("Roll a die.", "Roll a fair die.")
    upserted = await ok(
        client.put("/v1/tools/", json={"source_code": changed, "return_char_limit": 100})
    )
    assert upserted["id"] == first["id"]
    assert upserted["description"] == "Roll a fair die."
    assert upserted["return_char_limit"] == 100
    assert upserted["tags"] == ["a"]  # not sent: kept
    created = await ok(client.put("/v1/tools/", json={"source_code": GREET}))
    assert created["name"] == "greet" and created["id"] != first["id"]
    await ok(client.patch(f"/v1/tools/{created['id']}", json={"description": "Mine."}))
    greeter = GREET.replace("Greet someone.", "Greet anyone.")
    kept = await ok(client.put("/v1/tools/", json={"source_code": greeter}))
    assert kept["description"] == "Mine."
    assert kept["json_schema"]["description"] == "Greet anyone."


async def test_list_pages_builtins_then_registered_tools(client: httpx.AsyncClient) -> None:
    roll = await register(client)
    greet = await register(client, GREET)
    builtins = list(BUILTIN_TOOLS)
    asc = [t["name"] for t in await page_all(client, "/v1/tools/", order="asc", limit=3)]
    assert asc == [*builtins, "roll_dice", "greet"]
    desc = [t["name"] for t in await page_all(client, "/v1/tools/", limit=4)]
    assert desc == asc[::-1]
    # Cursors on either side of the boundary between built-ins and registered tools.
    last_builtin = BUILTIN_TOOLS[builtins[-1]].id
    after = await ok(client.get("/v1/tools/", params={"after": last_builtin, "order": "asc"}))
    assert [t["id"] for t in after] == [roll["id"], greet["id"]]
    before = await ok(
        client.get("/v1/tools/", params={"before": roll["id"], "order": "asc", "limit": 2})
    )
    assert [t["name"] for t in before] == builtins[-2:]
    before_desc = await ok(client.get("/v1/tools/", params={"before": last_builtin, "limit": 1}))
    assert [t["id"] for t in before_desc] == [roll["id"]]
    between = await ok(
        client.get(
            "/v1/tools/", params={"after": greet["id"], "before": BUILTIN_TOOLS[builtins[-3]].id}
        )
    )
    assert [t["name"] for t in between] == ["roll_dice", builtins[-1], builtins[-2]]
    assert await ok(client.get("/v1/tools/", params={"name": "greet"})) == [greet]
    assert [t["name"] for t in await ok(client.get("/v1/tools/", params={"search": "DIC"}))] == [
        "roll_dice"
    ]
    custom = await ok(client.get("/v1/tools/", params={"tool_types": "custom", "order": "asc"}))
    assert [t["name"] for t in custom] == ["roll_dice", "greet"]
    assert await ok(
        client.get("/v1/tools/", params={"return_only_letta_tools": True, "limit": 100})
    )
    ids = f"{roll['id']},{BUILTIN_TOOLS['send_message'].id}"
    picked = await ok(client.get("/v1/tools/", params={"tool_ids": ids, "order": "asc"}))
    assert [t["name"] for t in picked] == ["send_message", "roll_dice"]
    assert await ok(client.get("/v1/tools/count")) == len(builtins) + 2
    assert await ok(client.get("/v1/tools/count", params={"exclude_letta_tools": True})) == 2
    assert await ok(client.get("/v1/tools/count", params={"tool_types": "letta_core"})) == 4
    missing = "tool-00000000-0000-4000-8000-000000000000"
    response = await client.get("/v1/tools/", params={"after": missing})
    assert response.status_code == 400


async def test_modify_and_delete(client: httpx.AsyncClient) -> None:
    tool = await register(client)
    patched = await ok(
        client.patch(
            f"/v1/tools/{tool['id']}",
            json={
                "tags": ["x"],
                "description": "Custom.",
                "default_requires_approval": True,
                "metadata_": {"k": 1},
                "pip_requirements": [{"name": "requests", "version": "2.0"}],
            },
        )
    )
    assert patched["tags"] == ["x"] and patched["description"] == "Custom."
    assert patched["default_requires_approval"] is True
    assert patched["metadata_"] == {"k": 1}
    assert patched["pip_requirements"] == [{"name": "requests", "version": "2.0"}]
    assert patched["json_schema"] == tool["json_schema"]
    new_source = ROLL.replace("times: int = 1", "times: int")
    resourced = await ok(client.patch(f"/v1/tools/{tool['id']}", json={"source_code": new_source}))
    assert resourced["json_schema"]["parameters"]["required"] == ["sides", "times"]
    assert resourced["description"] == "Custom."  # the new source keeps the custom description

    bad = await client.patch(f"/v1/tools/{tool['id']}", json={"source_code": "def ("})
    assert bad.status_code == 400
    assert (await ok(client.get(f"/v1/tools/{tool['id']}")))["source_code"] == new_source

    assert await ok(client.delete(f"/v1/tools/{tool['id']}")) is None
    assert (await client.get(f"/v1/tools/{tool['id']}")).status_code == 404
    assert (await client.delete(f"/v1/tools/{tool['id']}")).status_code == 404
    assert (await client.patch(f"/v1/tools/{tool['id']}", json={"tags": []})).status_code == 404


async def test_builtins_cannot_be_modified_or_deleted(client: httpx.AsyncClient) -> None:
    builtin = BUILTIN_TOOLS["send_message"].id
    response = await client.patch(f"/v1/tools/{builtin}", json={"description": "no"})
    assert response.status_code == 400
    assert "built-in" in response.json()["detail"]
    response = await client.delete(f"/v1/tools/{builtin}")
    assert response.status_code == 400
    assert (await ok(client.get(f"/v1/tools/{builtin}")))["name"] == "send_message"


async def test_generate_schema(client: httpx.AsyncClient) -> None:
    schema = await ok(client.post("/v1/tools/generate-schema", json={"code": ROLL}))
    assert schema["name"] == "roll_dice"
    assert schema["parameters"]["required"] == ["sides"]
    response = await client.post("/v1/tools/generate-schema", json={"code": "def ("})
    assert response.status_code == 400
    assert await ok(client.get("/v1/tools/count")) == len(BUILTIN_TOOLS)
    base = await ok(client.post("/v1/tools/add-base-tools"))
    assert [t["name"] for t in base] == list(BUILTIN_TOOLS)


async def test_tools_are_per_organization(make_client: AppFactory, db: Database) -> None:
    clients = []
    for org in ("org-a", "org-b"):
        async with db.session() as session:
            issued = await auth_service.create_key(session, org_name=org, name=None)
        client = await make_client(auth=AuthMode.required)
        client.headers["Authorization"] = f"Bearer {issued.secret}"
        clients.append(client)
    a, b = clients
    tool = await register(a)
    assert (await b.get(f"/v1/tools/{tool['id']}")).status_code == 404
    assert (await b.delete(f"/v1/tools/{tool['id']}")).status_code == 404
    assert (await b.patch(f"/v1/tools/{tool['id']}", json={"tags": []})).status_code == 404
    assert await ok(b.get("/v1/tools/count")) == len(BUILTIN_TOOLS)
    assert (await b.get("/v1/tools/", params={"after": tool["id"]})).status_code == 400
    # The same name is free in another organization.
    other = await register(b)
    assert other["id"] != tool["id"]
    response = await b.post(
        "/v1/agents/", json={"model": "openai/gpt-4o-mini", "tool_ids": [tool["id"]]}
    )
    assert response.status_code == 404
    agent = await create_agent(a, tools=["roll_dice"])
    attach = await b.patch(f"/v1/agents/{agent['id']}/tools/attach/{other['id']}")
    assert attach.status_code == 404
