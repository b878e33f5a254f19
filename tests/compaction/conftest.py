import pytest

from app.agents.compaction import DEFAULT_PROMPT
from tests.fakes.llm_server import FakeLLMServer


@pytest.fixture
def summarizing(fake_llm: FakeLLMServer) -> FakeLLMServer:
    """The fake model, answering the server's summarisation requests apart (the fake's
    state is reset after the test)."""
    fake_llm.state.summary_marker = DEFAULT_PROMPT[:60]
    return fake_llm
