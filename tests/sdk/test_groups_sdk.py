"""``letta-client`` 1.7.0, the last SDK with a groups resource, drives every group call it
has that this server serves, against a live server (SDK 1.12.x has no groups resource; it
reads a primary's group as ``managed_group``)."""

from pathlib import Path

from tests.conftest import MODEL
from tests.sdk import harness

SCRIPT = harness.PY_DIR / "groups.py"


def test_the_groups_resource_of_sdk_1_7_0(server: str, python_sdk_1_7_0: Path) -> None:
    seen = harness.run_script(python_sdk_1_7_0, SCRIPT, {"base_url": server, "model": MODEL})
    ids = seen["ids"]
    created = seen["created"]
    assert created["id"] == ids["group"] and created["manager_type"] == "sleeptime"
    assert created["manager_agent_id"] == ids["primary"]
    assert created["agent_ids"] == [ids["helper"]] and created["description"] == "made"
    assert seen["retrieved"] == created
    assert seen["updated"]["description"] == "renamed"
    assert seen["listed"] == [ids["group"]]
    assert seen["of_helper"] == [ids["group"]]
    assert seen["answer"] == ["assistant_message"] and seen["stop_reason"] == "end_turn"
    assert seen["group_messages"][-2:] == ["user_message", "assistant_message"]
    assert seen["deleted"] == {"message": f"Group id={ids['group']} successfully deleted"}
    assert seen["after_delete"] == "not found"
