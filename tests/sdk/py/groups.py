"""What ``letta-client`` 1.7.0 calls on groups (the last SDK with the groups resource), one
call after another, against a live server. Reads ``{"base_url", "model"}`` as JSON on stdin;
writes what each call returned as JSON on stdout."""

import json
import sys
from typing import Any

from letta_client import Letta, NotFoundError


def main() -> None:
    request = json.load(sys.stdin)
    client = Letta(base_url=request["base_url"], max_retries=0, timeout=30)
    primary = client.agents.create(name="group-primary", model=request["model"])
    helper = client.agents.create(
        name="group-helper", model=request["model"], agent_type="sleeptime_agent"
    )
    config: Any = {"manager_type": "sleeptime", "manager_agent_id": primary.id}
    group = client.groups.create(agent_ids=[helper.id], description="made", manager_config=config)
    seen: dict[str, Any] = {
        "created": group.to_dict(),
        "retrieved": client.groups.retrieve(group.id).to_dict(),
        "updated": client.groups.update(group.id, description="renamed").to_dict(),
        "listed": [g.id for g in client.groups.list(manager_type="sleeptime")],
        "of_helper": [g.id for g in client.agents.groups.list(helper.id)],
    }
    answer = client.groups.messages.create(
        group.id, messages=[{"role": "user", "content": "hello group"}]
    )
    seen["answer"] = [m.message_type for m in answer.messages]
    seen["stop_reason"] = answer.stop_reason.stop_reason
    listed = client.groups.messages.list(group.id, order="asc")
    seen["group_messages"] = [m.message_type for m in listed]
    seen["deleted"] = client.groups.delete(group.id)
    try:
        client.groups.retrieve(group.id)
        seen["after_delete"] = "found"
    except NotFoundError:
        seen["after_delete"] = "not found"
    seen["ids"] = {"group": group.id, "primary": primary.id, "helper": helper.id}
    sys.stdout.write(json.dumps(seen, default=str))


if __name__ == "__main__":
    main()
