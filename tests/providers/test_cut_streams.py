"""A stream is an answer only once the provider said it was complete: OpenAI-compatible
streams with a ``finish_reason`` and ``[DONE]``, Anthropic's with ``message_stop``. One that
stops or breaks before is ``StreamIncompleteError``, whatever was delivered; a timeout stays a
timeout. Retrying one is safe only while nothing of it has been passed on."""

import json
from collections.abc import Callable

import httpx
import pytest

from app.providers.base import (
    LLMProvider,
    LLMRequest,
    ProviderError,
    ProviderTimeoutError,
    StreamIncompleteError,
    StreamItem,
    TextDelta,
    ToolCallDelta,
)
from app.providers.retry import RetryingProvider, RetryPolicy
from tests.providers.payloads import COMPLETION, call_fragment, chunk
from tests.providers.test_anthropic import STREAM, event
from tests.providers.wire import (
    Sleeps,
    Wire,
    anthropic_on,
    anthropic_sse,
    broken_sse,
    collect,
    drain,
    final,
    openai_on,
    openai_sse,
)

PLAIN = LLMRequest(model="m", messages=[{"role": "user", "content": "Hi"}])
USAGE = {"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": {}}
HEL = chunk({"content": "Hel"})
FINISHED = chunk({}, finish="stop")


def data(payload: object) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(openai_sse(HEL, FINISHED, USAGE, done=False), id="no-done"),
        pytest.param(openai_sse(HEL), id="done-without-finish-reason"),
        pytest.param(openai_sse(), id="done-alone"),
        pytest.param(openai_sse(HEL, done=False), id="mid-text"),
        pytest.param(
            openai_sse(chunk(call_fragment(0, id="c1", name="f", arguments='{"a"')), done=False),
            id="mid-tool-call",
        ),
        pytest.param(httpx.Response(200, json=COMPLETION), id="no-events"),
        pytest.param(broken_sse(data(HEL), httpx.RemoteProtocolError("closed")), id="dropped"),
        pytest.param(broken_sse(data(HEL), httpx.ReadError("reset")), id="reset"),
    ],
)
async def test_openai_streams_cut_short(wire: Wire, reply: httpx.Response) -> None:
    wire.reply(reply)
    with pytest.raises(StreamIncompleteError) as caught:
        await collect(openai_on(wire), PLAIN)
    assert caught.value.error_type == "stream_incomplete"
    assert (caught.value.stop_reason, caught.value.http_status) == ("llm_api_error", 502)


async def test_openai_stream_complete_once_it_says_so(wire: Wire) -> None:
    wire.reply(openai_sse(HEL, FINISHED, USAGE))
    assert final(await collect(openai_on(wire), PLAIN)).response.text == "Hel"


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(anthropic_sse(*STREAM[:-1]), id="no-message-stop"),
        pytest.param(anthropic_sse(*STREAM[:9]), id="mid-text"),
        pytest.param(anthropic_sse(*STREAM[:14]), id="mid-tool-call"),
        pytest.param(anthropic_sse(), id="no-events"),
        pytest.param(
            broken_sse(data(STREAM[0]), httpx.RemoteProtocolError("closed")), id="dropped"
        ),
    ],
)
async def test_anthropic_streams_cut_short(wire: Wire, reply: httpx.Response) -> None:
    wire.reply(reply)
    with pytest.raises(StreamIncompleteError):
        await collect(anthropic_on(wire), PLAIN)


async def test_anthropic_stream_complete_at_message_stop(wire: Wire) -> None:
    wire.reply(anthropic_sse(*STREAM, event("ping")))
    assert final(await collect(anthropic_on(wire), PLAIN)).response.text == "Let me check."


@pytest.mark.parametrize(("make", "first"), [(openai_on, HEL), (anthropic_on, STREAM[0])])
async def test_a_stream_that_stalls_is_a_timeout(
    wire: Wire, make: Callable[[Wire], LLMProvider], first: object
) -> None:
    wire.reply(broken_sse(data(first), httpx.ReadTimeout("stalled")))
    with pytest.raises(ProviderTimeoutError):
        await collect(make(wire), PLAIN)


async def test_a_cut_before_anything_was_passed_on_is_retried(wire: Wire, sleeps: Sleeps) -> None:
    retrying = RetryingProvider(openai_on(wire), RetryPolicy(max_retries=1, sleep=sleeps))
    wire.reply(openai_sse(done=False), openai_sse(HEL, FINISHED))
    assert final(await collect(retrying, PLAIN)).response.text == "Hel"
    assert len(wire.requests) == 2


@pytest.mark.parametrize(
    ("reply", "passed_on"),
    [
        (openai_sse(HEL, done=False), TextDelta("Hel")),
        (
            openai_sse(chunk(call_fragment(0, id="c1", name="f", arguments="{")), done=False),
            ToolCallDelta(0, "c1", "f", "{"),
        ),
    ],
)
async def test_a_cut_after_something_was_passed_on_is_not(
    wire: Wire, sleeps: Sleeps, reply: httpx.Response, passed_on: StreamItem
) -> None:
    retrying = RetryingProvider(openai_on(wire), RetryPolicy(max_retries=3, sleep=sleeps))
    wire.reply(reply)
    seen: list[StreamItem] = []
    with pytest.raises(ProviderError) as caught:
        await drain(retrying.stream(PLAIN), seen)
    assert type(caught.value) is StreamIncompleteError
    assert seen == [passed_on] and len(wire.requests) == 1 and sleeps.delays == []
