from typing import Any

import httpx
import pytest

from app.providers.anthropic import AnthropicProvider, build_body, convert_messages
from app.providers.base import (
    ContextWindowExceededError,
    InvalidResponseError,
    LLMRequest,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderError,
    ProviderRateLimitError,
    ProviderServerError,
    ProviderTimeoutError,
    ReasoningDelta,
    StreamItem,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from tests.providers.wire import (
    Wire,
    anthropic_sse,
    collect,
    drain,
    final,
    json_reply,
    settings,
)

BASE_URL = "https://api.anthropic.test"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a helpful agent."},
    {"role": "system", "content": [{"type": "text", "text": "Memory: likes Rome."}]},
    {"role": "user", "content": "Weather in Paris and Rome?"},
    {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {
                "id": "toolu_paris",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "toolu_rome",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Ro'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "toolu_paris", "content": '{"temp_c": 18}'},
    {"role": "tool", "tool_call_id": "toolu_rome", "content": "error: bad arguments"},
    {"role": "user", "content": "Thanks."},
    {"role": "assistant", "content": "  "},
    {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]},
]
CONVERTED = [
    {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
    {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me check."},
            {
                "type": "tool_use",
                "id": "toolu_paris",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
            {"type": "tool_use", "id": "toolu_rome", "name": "get_weather", "input": {}},
        ],
    },
    {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_paris", "content": '{"temp_c": 18}'},
            {"type": "tool_result", "tool_use_id": "toolu_rome", "content": "error: bad arguments"},
            {"type": "text", "text": "Thanks."},
            {"type": "text", "text": "And tomorrow?"},
        ],
    },
]
REQUEST = LLMRequest(
    model="claude-sonnet-4-5",
    messages=CONVERSATION,
    tools=[WEATHER_TOOL, {"name": "noop"}],
    temperature=0.5,
    parallel_tool_calls=False,
)
PLAIN = LLMRequest(
    model="claude-sonnet-4-5", messages=[{"role": "user", "content": "Hi"}], max_tokens=100
)

MESSAGE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "thinking", "thinking": "Two cities.", "signature": "EqQBCgIYAhIM"},
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_01B", "name": "noop", "input": {}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 120,
        "cache_creation_input_tokens": 30,
        "cache_read_input_tokens": 2000,
        "output_tokens": 75,
        "service_tier": "standard",
    },
}


def provider(wire: Wire, api_key: str | None = "ak-test") -> AnthropicProvider:
    return AnthropicProvider(wire.client, base_url=BASE_URL, api_key=api_key, settings=settings())


def message(content: list[dict[str, Any]], stop_reason: str = "end_turn") -> dict[str, Any]:
    usage = {"input_tokens": 10, "output_tokens": 5}
    return {**MESSAGE, "content": content, "stop_reason": stop_reason, "usage": usage}


def test_convert_messages() -> None:
    system, messages = convert_messages(CONVERSATION)
    assert system == "You are a helpful agent.\n\nMemory: likes Rome."
    assert messages == CONVERTED


def test_convert_messages_keeps_object_arguments_and_drops_empty_tool_output() -> None:
    call = {"id": "t1", "function": {"name": "f", "arguments": {"a": 1}}}
    _, messages = convert_messages(
        [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "t1", "content": ""},
        ]
    )
    assert messages == [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
    ]


def test_arguments_that_are_json_but_not_an_object_become_empty() -> None:
    call = {"id": "t1", "function": {"name": "f", "arguments": "[1, 2]"}}
    _, messages = convert_messages([{"role": "assistant", "tool_calls": [call]}])
    assert messages[0]["content"][0]["input"] == {}


def test_unknown_roles_are_a_bug() -> None:
    with pytest.raises(ValueError, match="developer"):
        convert_messages([{"role": "developer", "content": "x"}])


async def test_complete_request(wire: Wire) -> None:
    wire.reply(json_reply(MESSAGE))
    await provider(wire).complete(REQUEST)
    sent = wire.requests[0]
    assert sent.method == "POST"
    assert str(sent.url) == "https://api.anthropic.test/v1/messages"
    assert sent.headers["x-api-key"] == "ak-test"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers
    assert wire.body() == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "messages": CONVERTED,
        "system": "You are a helpful agent.\n\nMemory: likes Rome.",
        "tools": [
            {
                "name": "get_weather",
                "input_schema": WEATHER_TOOL["parameters"],
                "description": "Current weather for a city.",
            },
            {"name": "noop", "input_schema": {"type": "object", "properties": {}}},
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "temperature": 0.5,
    }


async def test_minimal_request(wire: Wire) -> None:
    wire.reply(json_reply(message([{"type": "text", "text": "Hello"}])))
    await provider(wire, api_key=None).complete(PLAIN)
    assert "x-api-key" not in wire.requests[0].headers
    assert wire.body() == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    }


async def test_complete_parses_blocks_and_usage(wire: Wire) -> None:
    wire.reply(json_reply(MESSAGE))
    response = await provider(wire).complete(REQUEST)
    assert response.text == "Checking both."
    assert response.reasoning == "Two cities."
    assert response.tool_calls == [
        ToolCall("toolu_01A", "get_weather", '{"city": "Paris"}'),
        ToolCall("toolu_01B", "noop", "{}"),
    ]
    assert response.finish_reason == "tool_calls"
    assert response.usage == Usage(2150, 75, cached_input_tokens=2000)


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("tool_use", "tool_calls"),
        ("max_tokens", "length"),
        ("refusal", "other"),
    ],
)
async def test_stop_reasons(wire: Wire, stop_reason: str, finish: str) -> None:
    wire.reply(json_reply(message([{"type": "text", "text": "Hi"}], stop_reason)))
    response = await provider(wire).complete(PLAIN)
    assert response.finish_reason == finish
    assert response.usage == Usage(10, 5)


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"type": "message", "content": "Hi"}),
        httpx.Response(200, json=message([], "end_turn")),
        httpx.Response(200, json=message([{"type": "text", "text": ""}])),
        httpx.Response(200, json=message([{"type": "tool_use", "id": "t", "input": {}}])),
    ],
)
async def test_invalid_replies(wire: Wire, reply: httpx.Response) -> None:
    wire.reply(reply)
    with pytest.raises(InvalidResponseError):
        await provider(wire).complete(PLAIN)


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, **fields}


def block_delta(index: int, **delta: Any) -> dict[str, Any]:
    return event("content_block_delta", index=index, delta=delta)


STREAM = [
    event(
        "message_start",
        message={
            **MESSAGE,
            "content": [],
            "stop_reason": None,
            "usage": {
                "input_tokens": 40,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 1500,
                "output_tokens": 1,
            },
        },
    ),
    event("content_block_start", index=0, content_block={"type": "thinking", "thinking": ""}),
    block_delta(0, type="thinking_delta", thinking="Paris "),
    block_delta(0, type="thinking_delta", thinking="first."),
    block_delta(0, type="signature_delta", signature="EqQBCgIYAhIM"),
    event("content_block_stop", index=0),
    event("ping"),
    event("content_block_start", index=1, content_block={"type": "text", "text": ""}),
    block_delta(1, type="text_delta", text="Let me "),
    block_delta(1, type="text_delta", text="check."),
    event("content_block_stop", index=1),
    event(
        "content_block_start",
        index=2,
        content_block={"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {}},
    ),
    block_delta(2, type="input_json_delta", partial_json=""),
    block_delta(2, type="input_json_delta", partial_json='{"city": "Pa'),
    block_delta(2, type="input_json_delta", partial_json='ris"}'),
    event("content_block_stop", index=2),
    event(
        "content_block_start",
        index=3,
        content_block={"type": "tool_use", "id": "toolu_01B", "name": "noop", "input": {}},
    ),
    event("content_block_stop", index=3),
    event(
        "message_delta",
        delta={"stop_reason": "tool_use", "stop_sequence": None},
        usage={"output_tokens": 89},
    ),
    event("message_stop"),
]


async def test_stream_request(wire: Wire) -> None:
    wire.reply(anthropic_sse(*STREAM))
    await collect(provider(wire), REQUEST)
    body = wire.body()
    assert str(wire.requests[0].url) == "https://api.anthropic.test/v1/messages"
    assert body["stream"] is True
    assert body["messages"] == CONVERTED and body["max_tokens"] == 4096


async def test_stream_items_and_final_response(wire: Wire) -> None:
    wire.reply(anthropic_sse(*STREAM))
    items = await collect(provider(wire), REQUEST)
    assert items[:-1] == [
        ReasoningDelta("Paris "),
        ReasoningDelta("first."),
        TextDelta("Let me "),
        TextDelta("check."),
        ToolCallDelta(0, "toolu_01A", "get_weather", ""),
        ToolCallDelta(0, None, None, '{"city": "Pa'),
        ToolCallDelta(0, None, None, 'ris"}'),
        ToolCallDelta(1, "toolu_01B", "noop", ""),
    ]
    response = final(items).response
    assert response.text == "Let me check."
    assert response.reasoning == "Paris first."
    assert response.tool_calls == [
        ToolCall("toolu_01A", "get_weather", '{"city": "Paris"}'),
        ToolCall("toolu_01B", "noop", "{}"),
    ]
    assert response.finish_reason == "tool_calls"
    assert response.usage == Usage(1540, 89, cached_input_tokens=1500)


@pytest.mark.parametrize(
    ("error", "error_class"),
    [
        ({"type": "overloaded_error", "message": "Overloaded"}, ProviderServerError),
        ({"type": "api_error", "message": "Internal server error"}, ProviderServerError),
        ({"type": "rate_limit_error", "message": "Slow down"}, ProviderRateLimitError),
        ({"type": "authentication_error", "message": "invalid x-api-key"}, ProviderAuthError),
        ({"type": "permission_error", "message": "no access"}, ProviderAuthError),
        ({"type": "invalid_request_error", "message": "bad"}, ProviderBadRequestError),
        (
            {"type": "invalid_request_error", "message": "prompt is too long: 210000 > 200000"},
            ContextWindowExceededError,
        ),
        ({"type": "timeout_error", "message": "timed out"}, ProviderTimeoutError),
        ({"type": "something_new", "message": "?"}, ProviderServerError),
    ],
)
async def test_stream_error_events(
    wire: Wire, error: dict[str, str], error_class: type[ProviderError]
) -> None:
    wire.reply(anthropic_sse(*STREAM[:3], event("error", error=error)))
    seen: list[StreamItem] = []
    with pytest.raises(error_class) as caught:
        await drain(provider(wire).stream(PLAIN), seen)
    assert type(caught.value) is error_class
    assert seen == [ReasoningDelta("Paris ")]
    assert error["message"] in caught.value.message


async def test_tool_input_for_an_unknown_block_is_invalid(wire: Wire) -> None:
    wire.reply(anthropic_sse(STREAM[0], block_delta(5, type="input_json_delta", partial_json="{")))
    with pytest.raises(InvalidResponseError):
        await collect(provider(wire), PLAIN)


async def test_an_empty_stream_is_invalid(wire: Wire) -> None:
    wire.reply(
        anthropic_sse(
            STREAM[0],
            event("message_delta", delta={"stop_reason": "end_turn"}),
            event("message_stop"),
        )
    )
    with pytest.raises(InvalidResponseError):
        await collect(provider(wire), PLAIN)


def test_a_called_name_no_provider_accepts_is_mended_in_the_history() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "a.b", "arguments": "{}"}}
    _, messages = convert_messages([{"role": "assistant", "content": "", "tool_calls": [call]}])
    assert messages[0]["content"][0]["name"] == "a_b"


def test_a_forced_tool_is_named_in_tool_choice() -> None:
    request = LLMRequest(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
        forced_tool="get_weather",
        parallel_tool_calls=False,
    )
    body = build_body(request, stream=False)
    assert body["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }
