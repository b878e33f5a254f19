"""The official SDK (``letta-client`` 1.12) drives conversations the way letta-code does:
create, list by last run, retrieve, update, streamed sends (in the background too), resume by
``otid``, the agent-direct ``default`` thread, cancel, fork and delete."""

import pytest
from letta_client import AsyncLetta, ConflictError, NotFoundError

from tests.conftest import MODEL, AppFactory
from tests.fakes.llm_server import FakeLLMServer, Reply


@pytest.fixture
async def sdk(make_client: AppFactory) -> AsyncLetta:
    return AsyncLetta(base_url="http://testserver", http_client=await make_client(), max_retries=0)


def said(text: str, otid: str | None = None) -> list[dict[str, str]]:
    message = {"role": "user", "content": text}
    return [message | {"otid": otid}] if otid else [message]


async def test_the_calls_letta_code_makes(sdk: AsyncLetta, fake_llm: FakeLLMServer) -> None:
    agent = await sdk.agents.create(model=MODEL, memory_blocks=[{"label": "human", "value": "Ana"}])
    created = await sdk.conversations.create(
        agent_id=agent.id, summary="chat", extra_body={"isolated_block_labels": []}
    )
    other = await sdk.conversations.create(agent_id=agent.id)
    assert created.agent_id == agent.id and created.summary == "chat"
    assert created.in_context_message_ids and len(created.in_context_message_ids) == 1

    fake_llm.state.add(Reply(text="hi Ana"))
    stream = await sdk.conversations.messages.create(
        created.id, messages=said("hello", "otid-a"), stream_tokens=True, background=True
    )
    chunks = [chunk async for chunk in stream]
    kinds = [c.message_type for c in chunks]
    assert kinds[-2:] == ["stop_reason", "usage_statistics"], kinds
    text = "".join(c.content for c in chunks if c.message_type == "assistant_message")
    assert text == "hi Ana"
    run_id = chunks[0].run_id

    resumed = await sdk.conversations.messages.stream(
        created.id, otid="otid-a", starting_after=0, batch_size=1000
    )
    again = [c async for c in resumed]
    assert "".join(c.content for c in again if c.message_type == "assistant_message") == "hi Ana"

    listed = [m async for m in sdk.conversations.messages.list(created.id, order="asc")]
    assert [m.message_type for m in listed] == ["user_message", "assistant_message"]
    assert {m.run_id for m in listed} == {run_id}
    run = await sdk.runs.retrieve(run_id)
    assert run.conversation_id == created.id
    assert [r.id async for r in sdk.runs.list(conversation_id=created.id)] == [run_id]

    recent = [
        c.id
        for c in await sdk.conversations.list(
            agent_id=agent.id, limit=10, order="desc", order_by="last_run_completion"
        )
    ]
    assert recent == [created.id, other.id]
    updated = await sdk.conversations.update(created.id, summary="renamed")
    assert updated.summary == "renamed"
    assert (await sdk.conversations.retrieve(created.id)).summary == "renamed"

    # The agent's main thread, addressed as Letta's agent-direct mode.
    direct = await sdk.conversations.messages.create(
        "default", agent_id=agent.id, messages=said("direct")
    )
    assert [c.message_type async for c in direct][-2:] == ["stop_reason", "usage_statistics"]
    main = [
        m.message_type async for m in sdk.conversations.messages.list("default", agent_id=agent.id)
    ]
    assert main == ["system_message", "user_message", "assistant_message"]  # as Letta lists it
    with pytest.raises(ConflictError):
        await sdk.conversations.cancel(agent.id)  # nothing is running

    fork = await sdk.conversations.fork(created.id, hidden=True)
    assert fork.agent_id == agent.id and fork.id not in (created.id, other.id)
    copied = [m.message_type async for m in sdk.conversations.messages.list(fork.id)]
    assert copied == ["user_message", "assistant_message"]
    of_main = await sdk.conversations.fork("default", agent_id=agent.id)
    forked_main = [m.message_type async for m in sdk.conversations.messages.list(of_main.id)]
    assert forked_main == main[1:]  # the system message is the agent's, compiled each step
    await sdk.conversations.delete(fork.id)
    with pytest.raises(NotFoundError):
        await sdk.conversations.retrieve(fork.id)
    left = {c.id for c in await sdk.conversations.list(agent_id=agent.id)}
    assert left == {created.id, other.id, of_main.id}
