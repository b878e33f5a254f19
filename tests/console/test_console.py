"""The console in a real headless Chromium, against a live server that requires keys: the
key typed into the page, the agents list, memory with its history, a message sent from the
page and the sleeptime run that follows it rewriting memory, a run's live stream, the
timeline, the group and an approval."""

import threading
from typing import Any

import httpx
from playwright.async_api import expect

from tests.conftest import MODEL
from tests.console.conftest import HOLD_SECONDS, Console, Live
from tests.fakes.llm_server import FakeLLMServer, Reply


async def _ok(response: httpx.Response) -> Any:
    assert response.is_success, response.text
    return response.json()


async def _agent(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    return await _ok(await api.post("/v1/agents/", json={"model": MODEL, **body}))  # type: ignore[no-any-return]


async def test_the_page_is_served_strictly(live: Live) -> None:
    key = {"Authorization": f"Bearer {live.key}"}
    async with httpx.AsyncClient(base_url=live.base_url, timeout=60) as client:
        page = await client.get("/console")
        assert page.status_code == 200, "the page itself needs no key"
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        again = await client.get("/console/", headers={"If-None-Match": page.headers["etag"]})
        assert again.status_code == 304
        script = await client.get("/console/static/js/main.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert script.headers["cache-control"] == "no-cache"
        assert (await client.get("/console/static/../endpoints.py")).status_code == 404
        assert (await client.get("/console/static/nothing.js")).status_code == 404
        assert (await client.get("/v1/agents/")).status_code == 401
        missing = "/console/api/groups/group-00000000-0000-4000-8000-000000000000/lag"
        assert (await client.get(missing)).status_code == 401
        assert (await client.get(missing, headers=key)).status_code == 404
        assert "/console" not in (await client.get("/openapi.json")).text


async def test_a_key_typed_into_the_page_opens_the_agents(
    console: Console, api: httpx.AsyncClient, live: Live
) -> None:
    await _agent(api, name="scout-alpha", tags=["team-a"])
    await _agent(api, name="scout-beta", tags=["team-b"])
    await _agent(api, name="other-gamma", tags=["team-a"])
    page = console.page
    await console.open("#/agents")
    await expect(page.get_by_role("alert")).to_contain_text("needs an API key")
    await console.shoot("01-key-needed")

    await page.get_by_label("API key").fill("sk-not-a-key")
    await page.get_by_role("button", name="Use key").click()
    await expect(page.get_by_role("alert")).to_contain_text("refused this key")
    await page.get_by_label("API key").fill(live.key)
    await page.get_by_role("button", name="Use key").click()
    rows = page.locator("table.list tbody tr")
    await expect(page.locator("table.list")).to_contain_text("other-gamma")
    key = await page.evaluate("sessionStorage.getItem('sleeptime.console.apiKey')")
    assert key == live.key
    assert await page.evaluate("localStorage.length") == 0

    await page.get_by_label("Search by name").fill("scout")
    await page.get_by_role("button", name="Search").click()
    await expect(rows).to_have_count(2)
    await page.get_by_label("team-a").check()
    await page.get_by_role("button", name="Search").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("scout-alpha")
    await console.shoot("02-agents-filtered")

    await page.get_by_text("New agent").click()
    await page.get_by_label("Name", exact=True).fill("made-in-console")
    await expect(page.get_by_label("Model")).to_have_value(MODEL)
    await page.get_by_label("Human", exact=True).fill("Name: Cy")
    await page.get_by_label("Tags (comma-separated)").fill("team-c, new")
    await console.shoot("03-new-agent-form")
    await page.get_by_role("button", name="Create agent").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("made-in-console")
    await expect(page.locator(".agent-head")).to_contain_text("sleeptime on")
    human = page.locator("article.block[data-label=human]")
    await expect(human.locator("pre.value")).to_have_text("Name: Cy")
    await console.tab_link("Group").click()
    await expect(page.locator("dl.facts")).to_contain_text("every 5 turn(s)")

    await page.get_by_role("button", name="Forget").click()
    await expect(page.locator("#key-state")).to_have_text("no key")
    await expect(page.get_by_role("alert")).to_contain_text("needs an API key")


async def _pilot_friend(api: httpx.AsyncClient) -> dict[str, Any]:
    """A primary with a sleeptime group whose ``human`` block the API changed once."""
    agent = await _agent(
        api,
        name="pilot-friend",
        enable_sleeptime=True,
        memory_blocks=[{"label": "human", "value": "Name: Ana"}],
    )
    await _ok(
        await api.patch(
            f"/v1/agents/{agent['id']}/core-memory/blocks/human",
            json={"value": "Name: Ana\nLikes: tea"},
        )
    )
    return agent


async def _watch_live(console: Console, live: Live, run_id: str) -> Console:
    """A second tab on the run's page, following its stream while its last step is held."""
    watcher = await console.tab()
    await watcher.open(f"#/runs/{run_id}", key=live.key)  # sessionStorage is per tab
    page = watcher.page
    await expect(page.locator(".stream-state")).to_have_text("Following the run live…")
    await expect(page.locator("dl.facts")).to_contain_text("running")
    # Its first step came through the stream while the run still runs.
    await expect(page.locator("ol.live")).to_contain_text("memory_insert")
    await expect(page.locator("ol.live")).to_contain_text("Works as a pilot")
    await watcher.shoot("04-run-live-while-running")
    return watcher


async def _memory_after(console: Console, run_id: str) -> None:
    human = console.page.locator("article.block[data-label=human]")
    await expect(human.locator("pre.value")).to_have_text("Name: Ana\nLikes: tea\nWorks as a pilot")
    await expect(human).to_contain_text("by sleeptime agent pilot-friend-sleeptime in run")
    # Opened before the run ended, the history stays open as the block is drawn again.
    versions = human.locator("li.version")
    await expect(versions).to_have_count(3)
    newest = versions.first
    await expect(newest.locator("ins")).to_have_text("+Works as a pilot\n")
    await expect(newest.get_by_role("link")).to_have_attribute("href", f"#/runs/{run_id}")
    await expect(versions.nth(1).locator("ins")).to_have_text("+Likes: tea\n")
    await expect(versions.nth(1)).to_contain_text("the API")
    await console.shoot("06-memory-after-sleeptime")


async def _other_tabs(console: Console, run_id: str) -> None:
    page = console.page
    await console.tab_link("Conversation").click()
    messages = page.locator(".tab-content ol.messages")
    await expect(messages).to_contain_text("I fly planes for a living")
    await expect(messages).to_contain_text("Nice to meet you, Ana.")

    await console.tab_link("Runs").click()
    foreground = page.locator("li.run[data-kind=foreground]")
    await expect(foreground).to_have_count(1)
    nested = foreground.locator("li.run[data-kind=sleeptime]")
    await expect(nested).to_have_attribute("data-run", run_id)
    await expect(nested).to_contain_text("completed")
    await expect(nested).to_contain_text("2 step(s)")
    await expect(foreground.locator(".run-meta").first).to_contain_text("end_turn")
    await console.shoot("07-runs-timeline")

    # A finished run's page replays its stored events.
    await foreground.locator(".run-head a").first.click()
    await expect(page.locator(".stream-state")).to_have_text("The run ended: completed (end_turn).")
    await expect(page.locator("ol.live")).to_contain_text("Nice to meet you, Ana.")
    await expect(page.locator("ol.live")).to_contain_text("1 step(s)")
    await page.go_back()

    await console.tab_link("Group").click()
    await expect(page.locator("dl.facts")).to_contain_text("every 5 turn(s)")
    await expect(page.locator(".lag")).to_have_text(
        "0 turn(s) not yet read by the sleeptime agents"
    )
    # The second turn is not due (every 5 turns): the sleeptime agents fall one turn behind.
    await page.get_by_label("Message", exact=True).fill("I also sail")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("section[data-kind=turn]").first).to_contain_text("Noted.")
    await expect(page.locator(".lag")).to_have_text(
        "1 turn(s) not yet read by the sleeptime agents"
    )
    await expect(page.locator("dl.facts")).to_contain_text(
        "pilot-friend-sleeptime · 1 turn(s) behind"
    )
    await page.get_by_label("Run the sleeptime agents every N turns").fill("2")
    await page.get_by_role("button", name="Save schedule").click()
    await expect(page.locator("dl.facts")).to_contain_text("every 2 turn(s)")
    await console.shoot("08-group")


async def test_a_message_from_the_page_and_the_sleeptime_run_that_rewrites_memory(
    console: Console, api: httpx.AsyncClient, live: Live, fake_llm: FakeLLMServer
) -> None:
    agent = await _pilot_friend(api)
    hold = threading.Event()
    fake_llm.state.add(
        Reply(text="Nice to meet you, Ana."),
        Reply(tool_calls=[("memory_insert", {"label": "human", "new_string": "Works as a pilot"})]),
        Reply(tool_calls=[("memory_finish_edits", {})], hold=hold, hold_seconds=HOLD_SECONDS),
        Reply(text="Noted."),
    )
    page = console.page
    human = page.locator("article.block[data-label=human]")
    try:
        await console.open(f"#/agents/{agent['id']}", key=live.key)
        await expect(human.locator("pre.value")).to_have_text("Name: Ana\nLikes: tea")
        await expect(human).to_contain_text("by the API")

        await page.get_by_label("Message", exact=True).fill("I fly planes for a living")
        await page.get_by_role("button", name="Send", exact=True).click()
        turn = page.locator("section[data-kind=turn]")
        await expect(turn).to_contain_text("Nice to meet you, Ana.")
        await expect(turn).to_contain_text("end_turn")
        sleeptime = page.locator("section[data-kind=sleeptime]")
        await expect(sleeptime).to_contain_text("following")
        run_id = await sleeptime.get_attribute("data-run")
        assert run_id and run_id.startswith("run-")
        watcher = await _watch_live(console, live, run_id)
        await expect(sleeptime.locator("ol.live")).to_contain_text("memory_insert")
        # The run's edits become visible when it ends, not before.
        await expect(human.locator("pre.value")).to_have_text("Name: Ana\nLikes: tea")
        await human.locator("summary").click()
        await expect(human.locator("li.version")).to_have_count(2)
    finally:
        hold.set()

    await expect(watcher.page.locator(".stream-state")).to_contain_text("The run ended: completed")
    await expect(watcher.page.locator("ol.live")).to_contain_text("memory_finish_edits")
    await watcher.shoot("05-run-ended")
    await expect(sleeptime).to_contain_text("ended: completed")
    await _memory_after(console, run_id)
    await _other_tabs(console, run_id)
    assert not watcher.errors, watcher.errors
    group_id = agent["managed_group"]["id"]
    lag = await _ok(await api.get(f"/console/api/groups/{group_id}/lag"))
    assert lag["turns"] == 1 and [m["turns"] for m in lag["members"]] == [1]


async def test_an_approval_from_the_page(
    console: Console, api: httpx.AsyncClient, live: Live, fake_llm: FakeLLMServer
) -> None:
    agent = await _agent(api, name="careful", memory_blocks=[{"label": "human", "value": "Bo"}])
    await _ok(
        await api.patch(
            f"/v1/agents/{agent['id']}/tools/approval/memory_insert",
            json={"requires_approval": True},
        )
    )
    fake_llm.state.add(
        Reply(tool_calls=[("memory_insert", {"label": "human", "new_string": "likes <b>jazz</b>"})])
    )
    paused = await _ok(
        await api.post(f"/v1/agents/{agent['id']}/messages", json={"input": "I like jazz"})
    )
    assert paused["stop_reason"]["stop_reason"] == "requires_approval"
    fake_llm.state.add(Reply(text="Saved."))

    page = console.page
    await console.open("#/agents", key=live.key)
    await expect(page.get_by_role("row", name="careful")).to_contain_text("awaiting approval")
    await (
        page.get_by_role("row", name="careful")
        .get_by_role("link", name="awaiting approval")
        .click()
    )
    approval = page.locator("fieldset.approval")
    await expect(approval).to_contain_text("memory_insert")
    await expect(approval.locator("pre")).to_contain_text('"new_string": "likes <b>jazz</b>"')
    await console.shoot("09-approval-pending")
    await expect(page.get_by_label("Approve")).to_be_checked()
    await page.get_by_role("button", name="Send decision").click()

    await expect(page.locator("section[data-kind=turn]")).to_contain_text("Saved.")
    await expect(page.locator(".tab-content")).to_contain_text("Nothing is waiting for approval.")
    await (
        page.get_by_role("navigation", name="Agent views")
        .get_by_role("link", name="Memory")
        .click()
    )
    human = page.locator("article.block[data-label=human]")
    await expect(human.locator("pre.value")).to_have_text("Bo\nlikes <b>jazz</b>")
    await expect(human).to_contain_text("by agent careful in run")
    assert await page.locator("b").count() == 0, "data is shown as text, never as markup"
    await page.emulate_media(color_scheme="dark")
    await human.locator("summary").click()
    await expect(human.locator("li.version")).to_have_count(2)
    await console.shoot("10-memory-dark")

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Runs")
    await expect(page.locator("li.run[data-kind=foreground]").first).to_contain_text("end_turn")
