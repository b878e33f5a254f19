"""A live ``sleeptime serve`` that requires API keys, and a headless Chromium to drive the
console in it (Debian's ``chromium``; ``SLEEPTIME_CHROMIUM`` names another binary).

Screenshots go to ``SLEEPTIME_CONSOLE_SCREENSHOTS`` when set, else to a pytest temporary
directory: they are the tests' artefacts, for a person to look at.
"""

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    async_playwright,
    expect,
)

from app.auth import service
from app.kit.db import Database
from tests.conftest import DatabaseFactory
from tests.fakes.llm_server import FakeLLMServer
from tests.processes import Process, server_env

CHROMIUM = os.environ.get("SLEEPTIME_CHROMIUM", "/usr/bin/chromium")
# Generous: the suite runs on a loaded two-core machine; these bound waits, never pace them.
WAIT_MS = 60_000
# How long a held model answer waits for the test to release it, at most.
HOLD_SECONDS = 240


@dataclass(frozen=True)
class Live:
    base_url: str
    key: str


@pytest.fixture(scope="module")
async def live(
    database_factory: DatabaseFactory, _fake_llm_server: FakeLLMServer
) -> AsyncIterator[Live]:
    url = await database_factory.create()
    env = server_env(
        url,
        _fake_llm_server.base_url,
        SLEEPTIME_AUTH="required",
        SLEEPTIME_PROVIDER_MAX_RETRIES="0",
        # A held model answer (see HOLD_SECONDS) must not time out first.
        SLEEPTIME_PROVIDER_TIMEOUT_SECONDS="300",
        SLEEPTIME_LOG_LEVEL="INFO",
    )
    process, base_url = Process.serve(env)
    try:
        db = Database(url)
        try:
            async with db.session() as session:
                issued = await service.create_key(session, org_name="console", name="console")
        finally:
            await db.dispose()
        yield Live(base_url, issued.secret)
    finally:
        _fake_llm_server.state.reset()
        process.stop()


@pytest.fixture
async def api(live: Live, fake_llm: FakeLLMServer) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {live.key}"}
    async with httpx.AsyncClient(base_url=live.base_url, headers=headers, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium package")
    expect.set_options(timeout=WAIT_MS)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        await chromium.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("SLEEPTIME_CONSOLE_SCREENSHOTS")
    if chosen:
        Path(chosen).mkdir(parents=True, exist_ok=True)
        return Path(chosen)
    return tmp_path_factory.mktemp("console-screenshots")


@dataclass
class Console:
    """A browser tab on the console; it records script errors (and CSP refusals) so a test
    can assert there were none."""

    page: Page
    base_url: str
    shots: Path
    errors: list[str] = field(default_factory=list)

    async def open(self, route: str = "#/agents", key: str | None = None) -> None:
        await self.page.goto(f"{self.base_url}/console{route}")
        if key is not None:
            await self.page.get_by_label("API key").fill(key)
            await self.page.get_by_role("button", name="Use key").click()
            await expect(self.page.locator("#key-state")).to_have_text("key kept for this tab")

    async def tab(self) -> "Console":
        """Another tab in the same browser context (its own sessionStorage)."""
        return watch(await self.page.context.new_page(), self.base_url, self.shots)

    def tab_link(self, name: str) -> Locator:
        """A link of the agent page's views (Memory, Conversation, Runs, Group, Approvals)."""
        views = self.page.get_by_role("navigation", name="Agent views")
        return views.get_by_role("link", name=name)

    async def shoot(self, name: str) -> None:
        await self.page.screenshot(path=self.shots / f"{name}.png")


def watch(page: Page, base_url: str, shots: Path) -> Console:
    """A Console on ``page``, recording its uncaught errors and console errors (a refused
    resource under the Content-Security-Policy is one; a 401 answer is not)."""
    tab = Console(page, base_url, shots)
    page.on("pageerror", lambda error: tab.errors.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            tab.errors.append(f"console: {message.text}")
            if message.type == "error" and "Failed to load resource" not in message.text
            else None
        ),
    )
    return tab


@pytest.fixture
async def console(browser: Browser, live: Live, screenshots: Path) -> AsyncIterator[Console]:
    context: BrowserContext = await browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(WAIT_MS)
    tab = watch(await context.new_page(), live.base_url, screenshots)
    try:
        yield tab
    finally:
        await context.close()
    assert not tab.errors, tab.errors
