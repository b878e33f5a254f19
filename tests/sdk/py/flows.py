"""One turn flow with ``letta-client`` 1.7.0 against a live server whose fake model the test
has scripted. Reads ``{"base_url", "model", "flow"}`` as JSON on stdin; writes what the SDK
returned (parsed by the SDK itself) as JSON on stdout. The assertions live in the test."""

import json
import sys
from typing import Any

import httpx
from letta_client import APIError, APIStatusError, Letta

HELLO = [{"role": "user", "content": "hi"}]


def dump(item: Any) -> dict[str, Any]:
    seen: dict[str, Any] = item.to_dict()
    return seen


def described(error: APIStatusError) -> dict[str, Any]:
    return {
        "raised": type(error).__name__,
        "api_error": isinstance(error, APIError),
        "status": error.status_code,
        "body": error.body,
    }


def send(client: Letta, model: str) -> dict[str, Any]:
    """A memgpt_v2_agent's reply, then a sleeptime primary's reply and its history."""
    v2 = client.agents.create(model=model, agent_type="memgpt_v2_agent")
    v2_reply = client.agents.messages.create(v2.id, messages=HELLO)
    v1 = client.agents.create(model=model, enable_sleeptime=True)
    v1_reply = client.agents.messages.create(v1.id, messages=HELLO)
    history = client.agents.messages.list(v1.id, order="asc", limit=100)
    return {
        "v2": dump(v2_reply),
        "v1": {"agent_type": v1.agent_type, **dump(v1_reply)},
        "v1_history": [dump(m) for m in history],
    }


def stream(client: Letta, model: str) -> dict[str, Any]:
    """Token streams of a memgpt_v2_agent and a sleeptime primary, read with the SDK's own
    stream parser."""
    seen: dict[str, Any] = {}
    for name, body in (
        ("v2", {"agent_type": "memgpt_v2_agent"}),
        ("v1", {"enable_sleeptime": True}),
    ):
        agent = client.agents.create(model=model, **body)
        chunks = client.agents.messages.create(
            agent.id, messages=HELLO, streaming=True, stream_tokens=True, include_pings=False
        )
        seen[name] = [dump(chunk) for chunk in chunks]
    return seen


def failure(client: Letta, model: str) -> dict[str, Any]:
    """Two non-streaming turns the model provider fails (the test scripts how)."""
    agent = client.agents.create(model=model)
    raised = []
    for _ in range(2):
        try:
            client.agents.messages.create(agent.id, messages=HELLO)
            raised.append({"raised": None})
        except APIStatusError as error:
            raised.append(described(error))
    return {"agent_id": agent.id, "errors": raised}


def unsupported(base_url: str) -> dict[str, Any]:
    """A resource this server does not serve, with the SDK's default retry policy."""
    sent: list[str] = []
    hooks = {"request": [lambda request: sent.append(f"{request.method} {request.url.path}")]}
    client = Letta(base_url=base_url, http_client=httpx.Client(event_hooks=hooks))
    try:
        client.folders.list()
    except APIStatusError as error:
        return {**described(error), "requests": sent}
    return {"raised": None, "requests": sent}


def history(client: Letta, model: str) -> dict[str, Any]:
    """A message sent with the client's own otid, the history and the agent's context."""
    agent = client.agents.create(model=model)
    sent: Any = [{"role": "user", "content": "remember me", "otid": "sdk-otid-1"}]
    client.agents.messages.create(agent.id, messages=sent)
    listed = client.agents.messages.list(agent.id, order="asc", limit=100)
    state = client.agents.retrieve(agent.id)
    return {"messages": [dump(m) for m in listed], "message_ids": state.message_ids}


def main() -> None:
    request = json.load(sys.stdin)
    base_url, model, flow = request["base_url"], request["model"], request["flow"]
    if flow == "unsupported":
        seen = unsupported(base_url)
    else:
        client = Letta(base_url=base_url, max_retries=0, timeout=60)
        seen = {"send": send, "stream": stream, "failure": failure, "history": history}[flow](
            client, model
        )
    sys.stdout.write(json.dumps(seen, default=str))


if __name__ == "__main__":
    main()
