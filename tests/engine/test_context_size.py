"""The tools' share of a step's token budget is the estimate of their JSON, counted from each
schema's remembered length; heartbeat schemas are made once per tool schema."""

import json
from typing import Any

from app.engine import context, rules


def _schema(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "parameters": {
            "type": "object",
            "properties": {"text": {"type": "string", "description": "caf\u00e9 \u2615"}},
            "required": ["text"],
        },
    }


def test_the_tools_estimate_is_the_estimate_of_their_json() -> None:
    tools = [_schema(f"tool_{i}", "x" * (i * 37)) for i in range(7)]
    for count in range(len(tools) + 1):
        chosen = tools[:count]
        assert context.tools_tokens(chosen) == context.estimate_tokens(json.dumps(chosen))
    assert context.tools_tokens(tools) == context.tools_tokens(list(tools))  # remembered


def test_a_heartbeat_schema_is_made_once_per_schema() -> None:
    schema = _schema("note", "keeps a note")
    offered = rules.with_heartbeat(schema)
    assert rules.with_heartbeat(schema) is offered
    assert offered["parameters"]["required"] == ["text", rules.REQUEST_HEARTBEAT]
    assert rules.REQUEST_HEARTBEAT in offered["parameters"]["properties"]
    assert "request_heartbeat" not in json.dumps(schema)  # the tool's own is unchanged
    copy = json.loads(json.dumps(schema))
    assert rules.with_heartbeat(copy) == offered and rules.with_heartbeat(copy) is not offered
