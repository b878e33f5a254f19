"""What the web tool tests share: a fake web server on loopback and the context a tool
run outside any turn gets."""

from collections.abc import AsyncIterator

import pytest

from app.tools.toolset import ExternalContext
from tests.fakes.web_server import FakeWeb, serve_fake_web

CTX = ExternalContext(organization_id="org-test", agent_id=None, run_id=None)


@pytest.fixture
async def site() -> AsyncIterator[FakeWeb]:
    async with serve_fake_web() as web:
        yield web
