"""A provider request body is the compact UTF-8 JSON httpx would write, however it is made:
by orjson, or by the standard encoder for what orjson refuses."""

import json
from typing import Any

import pytest

from app.providers.http import encoded


def _httpx_json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "messages": [{"role": "user", "content": 'caf\u00e9 \u2615 \x00 "q" \\'}]},
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}], "n": 1.5},
        {"max_tokens": 2**63 - 1, "stream": True, "stop": None, "nested": [[[]], {}]},
    ],
)
def test_the_body_is_the_json_httpx_writes(body: dict[str, Any]) -> None:
    assert encoded(body) == _httpx_json(body)


def test_what_orjson_refuses_is_written_by_the_standard_encoder() -> None:
    huge = {"seed": 2**70, "logit_bias": {1234: -100}}
    assert encoded(huge) == _httpx_json(huge)
    with pytest.raises(ValueError, match="Out of range float"):
        encoded({"temperature": float("nan"), "big": 2**70})
