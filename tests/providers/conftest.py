from collections.abc import AsyncIterator

import pytest

from tests.providers.wire import Sleeps, Wire


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    scripted = Wire()
    async with scripted.client:
        yield scripted


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
