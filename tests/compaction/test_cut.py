"""Where a full window is cut, and what the summariser reads of it (no database, no model)."""

from app.agents.compaction import CompactionSettings
from app.engine import compaction
from app.messages.recent import ChatRow


def _row(seq: int, role: str, text: str = "", call: str | None = None) -> ChatRow:
    calls = [{"id": call, "name": "conversation_search", "arguments": "{}"}] if call else None
    returns = (
        [{"tool_call_id": call, "status": "success", "tool_return": text}]
        if role == "tool"
        else None
    )
    return ChatRow(seq, role, [{"type": "text", "text": text}], calls, returns)


def _exchange(first: int, count: int, size: int = 400) -> list[ChatRow]:
    rows = []
    for i in range(count):
        rows.append(_row(first + 2 * i, "user", "u" * size))
        rows.append(_row(first + 2 * i + 1, "assistant", "a" * size))
    return rows


def test_the_sliding_window_keeps_from_an_assistant_message() -> None:
    rows = _exchange(1, 10)  # 20 messages of about 100 tokens
    cut = compaction.cut(rows, CompactionSettings(), room_tokens=100_000)
    assert cut is not None and cut.kept[0].role == "assistant"
    assert len(cut.summarized) == 5 and cut.start_seq == 6  # 30% of 20, at an assistant
    tight = compaction.cut(rows, CompactionSettings(), room_tokens=1_000)
    assert tight is not None and len(tight.summarized) > len(cut.summarized)
    assert compaction.tokens_of(tight.kept) <= 700 or tight.kept[0] is rows[-1]


def test_all_keeps_from_the_last_assistant_message() -> None:
    rows = [*_exchange(1, 3), _row(7, "user", "now?")]
    cut = compaction.cut(rows, CompactionSettings(mode="all"), room_tokens=100_000)
    assert cut is not None and [r.seq for r in cut.kept] == [6, 7]


def test_no_cut_without_an_assistant_message_to_keep_from() -> None:
    assert compaction.cut([_row(1, "user", "x")], CompactionSettings(), 10) is None
    assert (
        compaction.cut([_row(1, "assistant", "x"), _row(2, "user")], CompactionSettings(), 10)
        is None
    )


def test_a_tool_call_and_its_result_stay_on_one_side() -> None:
    rows = []
    for i in range(6):
        seq = 1 + 3 * i
        rows += [
            _row(seq, "user", "q" * 300),
            _row(seq + 1, "assistant", call=f"c{i}"),
            _row(seq + 2, "tool", "r", call=f"c{i}"),
        ]
    for settings in (
        CompactionSettings(),
        CompactionSettings(mode="all"),
        CompactionSettings(sliding_window_percentage=0.9),
    ):
        cut = compaction.cut(rows, settings, room_tokens=500)
        assert cut is not None
        called = {c["id"] for r in cut.summarized for c in r.tool_calls or []}
        answered = {t["tool_call_id"] for r in cut.summarized for t in r.tool_returns or []}
        assert called == answered


def test_the_transcript_leaves_out_whole_messages_oldest_first() -> None:
    rows = [
        _row(1, "user", "old " * 50),
        _row(2, "assistant", call="c1"),
        _row(3, "tool", "result", call="c1"),
        _row(4, "user", "new"),
    ]
    text = compaction.transcript("before", rows, max_chars=120)
    assert text.startswith("Summary of the conversation before these messages:\nbefore")
    assert "[... 3 earlier messages left out ...]" in text and "user: new" in text
    assert "tool result" not in text  # never a result without its call
    whole = compaction.transcript(None, rows, max_chars=10_000)
    assert "assistant called conversation_search({})" in whole and "tool result:" in whole


def test_a_summary_is_cut_to_clip_chars() -> None:
    assert compaction.clipped("  short  ", 10) == "short"
    assert compaction.clipped("x" * 20, 5).startswith("xxxxx\n[...")
    assert compaction.clipped("x" * 20, None) == "x" * 20
