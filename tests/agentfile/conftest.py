"""Helpers of the agent file tests: the fixture files, and an upload as the SDK sends it."""

import json
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).parent / "fixtures"
LETTA_FILES = ("memgpt_agent.af", "customer_service.af", "outreach_workflow_agent.af")


def letta_file(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())  # type: ignore[no-any-return]


async def upload(
    client: httpx.AsyncClient, content: bytes | str | dict[str, Any], **form: Any
) -> httpx.Response:
    """``POST /v1/agents/import`` with the file and form fields (booleans as the SDK sends
    them)."""
    if isinstance(content, dict):
        content = json.dumps(content)
    data = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in form.items()}
    files = {"file": ("agent.af", content, "application/json")}
    return await client.post("/v1/agents/import", files=files, data=data)
