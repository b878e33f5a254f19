import json
from typing import Any

import httpx
import pytest

from app.providers.base import (
    LLMRequest,
    ReasoningDelta,
    StreamEnd,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from app.providers.openai import OpenAIProvider, build_body
from tests.providers.payloads import COMPLETION, call_fragment, chunk, text_completion
from tests.providers.wire import (
    Wire,
    collect,
    final,
    json_reply,
    openai_sse,
    settings,
)

BASE_URL = "https://api.openai.test/v1/"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a helpful agent."},
    {"role": "user", "content": "Weather in Paris and Rome?"},
]
REQUEST = LLMRequest(
    model="gpt-4o-mini",
    messages=MESSAGES,
    tools=[WEATHER_TOOL, {"name": "noop"}],
    max_tokens=256,
    temperature=0.2,
    parallel_tool_calls=True,
)
PLAIN = LLMRequest(model="gpt-4o-mini", messages=MESSAGES)


def provider(wire: Wire, api_key: str | None = "sk-test") -> OpenAIProvider:
    return OpenAIProvider(wire.client, base_url=BASE_URL, api_key=api_key, settings=settings())


async def test_complete_request(wire: Wire) -> None:
    wire.reply(json_reply(COMPLETION))
    await provider(wire).complete(REQUEST)
    sent = wire.requests[0]
    assert sent.method == "POST"
    assert str(sent.url) == "https://api.openai.test/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.headers["content-type"] == "application/json"
    assert wire.body() == {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "tools": [
            {"type": "function", "function": WEATHER_TOOL},
            {
                "type": "function",
                "function": {
                    "name": "noop",
                    "description": "",
                    "parameters": {"type": "object", "properties": {}},
                },
            },
        ],
        "parallel_tool_calls": True,
        "max_tokens": 256,
        "temperature": 0.2,
    }


async def test_optional_fields_and_auth_are_left_out_when_unset(wire: Wire) -> None:
    wire.reply(json_reply(text_completion({"content": "Hi"})))
    no_tools = LLMRequest(model="local", messages=MESSAGES, parallel_tool_calls=False)
    await provider(wire, api_key=None).complete(no_tools)
    assert "authorization" not in wire.requests[0].headers
    assert wire.body() == {"model": "local", "messages": MESSAGES}


async def test_complete_parses_tool_calls_and_usage(wire: Wire) -> None:
    wire.reply(json_reply(COMPLETION))
    response = await provider(wire).complete(REQUEST)
    assert response.text == ""
    assert response.tool_calls == [
        ToolCall("call_paris", "get_weather", '{"city": "Paris"}'),
        ToolCall("call_rome", "get_weather", '{"city": "Rome"}'),
    ]
    assert response.finish_reason == "tool_calls"
    assert response.usage == Usage(82, 46, cached_input_tokens=64, reasoning_tokens=0)


async def test_complete_parses_text_and_reasoning(wire: Wire) -> None:
    message = {"content": "It is sunny.", "reasoning_content": "Check the forecast."}
    wire.reply(json_reply(text_completion(message)))
    response = await provider(wire).complete(PLAIN)
    assert response.text == "It is sunny."
    assert response.reasoning == "Check the forecast."
    assert response.tool_calls == []
    assert response.usage == Usage()


async def test_complete_accepts_reasoning_and_object_arguments(wire: Wire) -> None:
    call = {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
    message = {"content": "", "reasoning": "Oslo it is.", "tool_calls": [call]}
    wire.reply(json_reply(text_completion(message, "tool_calls")))
    response = await provider(wire).complete(PLAIN)
    assert response.reasoning == "Oslo it is."
    (parsed,) = response.tool_calls
    assert parsed.name == "get_weather" and parsed.arguments == '{"city": "Oslo"}'
    assert parsed.id.startswith("call_")


@pytest.mark.parametrize(
    ("wire_reason", "finish"),
    [
        ("stop", "stop"),
        ("tool_calls", "tool_calls"),
        ("function_call", "tool_calls"),
        ("length", "length"),
        ("content_filter", "other"),
        (None, "other"),
    ],
)
async def test_finish_reasons(wire: Wire, wire_reason: str | None, finish: str) -> None:
    payload = text_completion({"content": "Hi"})
    payload["choices"][0]["finish_reason"] = wire_reason
    wire.reply(json_reply(payload))
    assert (await provider(wire).complete(PLAIN)).finish_reason == finish


async def test_an_empty_reply_cut_by_length_is_not_an_error(wire: Wire) -> None:
    wire.reply(json_reply(text_completion({"content": None}, "length")))
    response = await provider(wire).complete(PLAIN)
    assert response.text == "" and response.finish_reason == "length"


STREAM_CHUNKS = [
    chunk({"role": "assistant", "content": "", "refusal": None}),
    chunk({"reasoning_content": "Two cities, "}),
    chunk({"reasoning_content": "two calls."}),
    chunk({"content": "Checking"}),
    chunk({"content": " now."}),
    chunk(call_fragment(0, id="call_paris", type="function", name="get_weather", arguments="")),
    chunk(call_fragment(0, arguments='{"ci')),
    chunk(call_fragment(0, arguments='ty": "Paris"}')),
    chunk(call_fragment(1, id="call_rome", type="function", name="get_weather", arguments="")),
    chunk(call_fragment(1, arguments='{"city": ')),
    chunk(call_fragment(1, arguments='"Rome"}')),
    chunk({}, finish="tool_calls"),
    {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {
            "prompt_tokens": 90,
            "completion_tokens": 40,
            "total_tokens": 130,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 12},
        },
    },
]


async def test_stream_request(wire: Wire) -> None:
    wire.reply(openai_sse(chunk({"content": "Hi"}, finish="stop")))
    await collect(provider(wire), REQUEST)
    sent = wire.requests[0]
    assert str(sent.url) == "https://api.openai.test/v1/chat/completions"
    body = wire.body()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == MESSAGES and body["max_tokens"] == 256


async def test_stream_items_and_final_response(wire: Wire) -> None:
    wire.reply(openai_sse(*STREAM_CHUNKS))
    items = await collect(provider(wire), REQUEST)
    assert items[:-1] == [
        ReasoningDelta("Two cities, "),
        ReasoningDelta("two calls."),
        TextDelta("Checking"),
        TextDelta(" now."),
        ToolCallDelta(0, "call_paris", "get_weather", ""),
        ToolCallDelta(0, None, None, '{"ci'),
        ToolCallDelta(0, None, None, 'ty": "Paris"}'),
        ToolCallDelta(1, "call_rome", "get_weather", ""),
        ToolCallDelta(1, None, None, '{"city": '),
        ToolCallDelta(1, None, None, '"Rome"}'),
    ]
    response = final(items).response
    assert response.text == "Checking now."
    assert response.reasoning == "Two cities, two calls."
    assert response.tool_calls == [
        ToolCall("call_paris", "get_weather", '{"city": "Paris"}'),
        ToolCall("call_rome", "get_weather", '{"city": "Rome"}'),
    ]
    assert response.finish_reason == "tool_calls"
    assert response.usage == Usage(90, 40, cached_input_tokens=0, reasoning_tokens=12)


async def test_stream_generates_missing_ids_consistently(wire: Wire) -> None:
    wire.reply(
        openai_sse(
            chunk(call_fragment(0, name="get_weather", arguments='{"city":')),
            chunk(call_fragment(0, arguments=' "Lima"}'), finish="tool_calls"),
        )
    )
    items = await collect(provider(wire), PLAIN)
    first = items[0]
    assert isinstance(first, ToolCallDelta) and first.id is not None
    (call,) = final(items).response.tool_calls
    assert call == ToolCall(first.id, "get_weather", '{"city": "Lima"}')
    assert final(items).response.usage == Usage()


async def test_stream_stops_at_done(wire: Wire) -> None:
    body = (
        f"data: {json.dumps(chunk({'content': 'Hi'}, finish='stop'))}\n\n"
        "data: [DONE]\n\n"
        f"data: {json.dumps(chunk({'content': 'ignored'}))}\n\n"
    )
    wire.reply(httpx.Response(200, content=body.encode()))
    items = await collect(provider(wire), PLAIN)
    assert items == [TextDelta("Hi"), items[-1]]
    assert final(items).response.text == "Hi"


async def test_stream_end_is_last_and_only_once(wire: Wire) -> None:
    wire.reply(openai_sse(*STREAM_CHUNKS))
    items = await collect(provider(wire), REQUEST)
    assert [isinstance(item, StreamEnd) for item in items].count(True) == 1
    assert isinstance(items[-1], StreamEnd)


def test_a_called_name_no_provider_accepts_is_mended_in_the_history() -> None:
    """A model that called ``multi_tool_use.parallel`` must not get every later request
    refused: the history sends the name mended; the stored call is left as made."""
    call = {"id": "c1", "type": "function", "function": {"name": "a.b", "arguments": "{}"}}
    history = [{"role": "assistant", "content": None, "tool_calls": [call]}]
    body = build_body(LLMRequest(model="m", messages=history), stream=False)
    assert body["messages"][0]["tool_calls"][0]["function"]["name"] == "a_b"
    assert call["function"] == {"name": "a.b", "arguments": "{}"}
