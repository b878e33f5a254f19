"""Letta's server-side built-ins (``run_code``, ``web_search``, ``fetch_webpage``) in the
catalogue, and an agent created with them the way the SDK's first example does."""

import httpx

from app.tools.builtin import BUILTIN_TOOLS, SERVER_BUILTINS
from tests.helpers import create_agent, ok


def test_the_server_builtins_have_letta_names_and_parameters() -> None:
    web = frozenset({"run_code", "web_search", "fetch_webpage"})
    assert web | {"archival_memory_insert", "archival_memory_search"} == SERVER_BUILTINS
    params = {n: BUILTIN_TOOLS[n].json_schema["parameters"] for n in SERVER_BUILTINS}
    assert params["run_code"]["required"] == ["code", "language"]
    assert params["run_code"]["properties"]["language"]["enum"] == [
        "python",
        "js",
        "ts",
        "r",
        "java",
    ]
    assert params["fetch_webpage"]["required"] == ["url"]
    assert params["web_search"]["required"] == ["query"]
    assert set(params["web_search"]["properties"]) == {
        "query",
        "num_results",
        "category",
        "include_text",
        "include_domains",
        "exclude_domains",
        "start_published_date",
        "end_published_date",
        "user_location",
    }
    assert all(BUILTIN_TOOLS[n].tool_type == "letta_builtin" for n in web)
    # Archival memory runs outside the step's transaction too, under Letta's core type.
    assert all(BUILTIN_TOOLS[n].tool_type == "letta_core" for n in SERVER_BUILTINS - web)


async def test_an_agent_created_with_web_search_and_run_code(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, tools=["web_search", "run_code"])
    names = {t["name"] for t in agent["tools"]}
    assert {"web_search", "run_code"} <= names
    state = await ok(client.get(f"/v1/agents/{agent['id']}"))
    assert {"web_search", "run_code"} <= {t["name"] for t in state["tools"]}
    tool = next(t for t in state["tools"] if t["name"] == "web_search")
    assert tool["tool_type"] == "letta_builtin"
    assert tool["json_schema"]["parameters"]["required"] == ["query"]
