"""The conversation calls letta-code makes, with the official TypeScript SDK against a live
server: create, streamed send, resume by ``otid``, the agent-direct ``default`` thread, list
by last run, update, retrieve, cancel, fork and delete. (The Python SDK drives the same
in process: ``tests/conversations/test_conversations_sdk.py``.)"""

from typing import Any

from tests.conftest import MODEL
from tests.fakes.llm_server import FakeLLMServer
from tests.sdk import harness

SCRIPT = harness.TS_DIR / "conversations.mjs"


def replies(chunks: list[dict[str, Any]]) -> list[str]:
    return [c["content"] for c in chunks if c.get("message_type") == "assistant_message"]


def test_letta_codes_conversation_calls(server: str, node: str, fake_llm: FakeLLMServer) -> None:
    seen = harness.run_script(node, SCRIPT, {"base_url": server, "model": MODEL})
    created = seen["created"]
    assert created["agent_id"] == seen["agent_id"] and created["summary"] == "chat"
    assert replies(seen["sent"]) == ["echo: hello"]
    assert [c["message_type"] for c in seen["sent"]][-2:] == ["stop_reason", "usage_statistics"]
    assert replies(seen["resumed"]) == ["echo: hello"]
    assert replies(seen["direct"]) == ["echo: direct"]
    assert [m["message_type"] for m in seen["listed"]] == ["user_message", "assistant_message"]
    assert [m["message_type"] for m in seen["main"]] == [
        "system_message",
        "user_message",
        "assistant_message",
    ]
    assert [c["id"] for c in seen["by_last_run"]] == [created["id"]]
    assert seen["updated"]["summary"] == seen["retrieved"]["summary"] == "renamed"
    assert seen["cancel_idle"]["status"] == 409
    assert seen["fork"]["agent_id"] == seen["agent_id"]
    assert [m["content"] for m in seen["forked"]] == [m["content"] for m in seen["listed"]]
    assert seen["after_delete"]["status"] == 404
    assert seen["unknown"]["status"] == 404
