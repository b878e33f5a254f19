"""Context compaction, the parts that need neither database nor model: where to cut a full
window (Letta's sliding window), what the summarising model is asked, and the record a run
keeps of each compaction.

The window of a thread (the agent's main thread or a conversation, ``app.messages.thread``) is
its system message, its summary message (if any) and its messages from ``context_start_seq``
on. Compaction summarises the oldest of those messages (with the
previous summary folded in) into a new summary message, appended to the history like any
other message, and moves ``context_start_seq`` past what it summarised: the history keeps
every message, the window shows the summary in their place.
"""

from dataclasses import dataclass, field
from typing import Any, Literal

from app.agents.compaction import DEFAULT_PROMPT, CompactionSettings
from app.engine.context import converted
from app.messages.recent import ChatRow
from app.providers.base import LLMRequest

# Letta's trigger names (SummaryMessage.compaction_stats.trigger).
OVERFLOW = "context_window_exceeded"
MANUAL = "manual"
# Ours: the window reached its share of the message cap before its tokens ran out.
MESSAGE_CAP = "message_cap_reached"
# Each further try of the sliding window summarises this much more of the messages.
SLIDE_STEP = 0.1
# A line of the transcript the summariser reads is cut to this many characters.
LINE_CHARS = 4_000
# Room kept free in the summariser's window for its answer and the prompt around the text.
SUMMARY_RESERVE_TOKENS = 4_096
TRUNCATED = "\n[... the summary was cut to its length limit ...]"
ACKNOWLEDGEMENT = "Understood. I will reply with the summary only, nothing else."


@dataclass(frozen=True, slots=True)
class Cut:
    """The messages a compaction summarises, and those it keeps (never empty)."""

    summarized: list[ChatRow]
    kept: list[ChatRow]

    @property
    def start_seq(self) -> int:
        return self.kept[0].seq


@dataclass(slots=True)
class Record:
    """What one compaction did, as the run's metadata and the logs state it."""

    trigger: str
    mode: str
    status: Literal["summarized", "evicted"] = "summarized"
    model: str | None = None
    summary_message_id: str | None = None
    messages_summarized: int = 0
    messages_kept: int = 0
    context_tokens_before: int | None = None
    error: dict[str, Any] | None = field(default=None)
    # Not metadata: the summary written and the messages the window kept after it.
    summary: str | None = field(default=None, repr=False)
    kept: list[ChatRow] | None = field(default=None, repr=False)

    def as_metadata(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "mode": self.mode,
            "status": self.status,
            "model": self.model,
            "summary_message_id": self.summary_message_id,
            "messages_summarized": self.messages_summarized,
            "messages_kept": self.messages_kept,
            "context_tokens_before": self.context_tokens_before,
            "error": self.error,
        }


def tokens_of(rows: list[ChatRow]) -> int:
    return sum(_size(row) for row in rows)


def _size(row: ChatRow) -> int:
    converted(row)
    return row.tokens


def cut(rows: list[ChatRow], settings: CompactionSettings, room_tokens: int) -> Cut | None:
    """Where to cut ``rows`` (oldest first). The kept part starts at an assistant message, as
    in Letta: a tool call and its results stay on one side, and the summary (read as a user
    message) is followed by the assistant. ``all`` keeps from the last assistant message
    on; the sliding window summarises at least ``sliding_window_percentage`` of the
    messages, and a tenth more at a time until the kept ones fit that share less of
    ``room_tokens``. None when no cut leaves something to summarise."""
    starts = [i for i in range(1, len(rows)) if rows[i].role == "assistant"]
    if not starts:
        return None
    if not settings.slides:
        return Cut(rows[: starts[-1]], rows[starts[-1] :])
    share = settings.sliding_window_percentage
    goal = (1 - share) * room_tokens
    while True:
        limit = round(share * len(rows))
        fitting = [i for i in starts if i <= limit]
        if fitting:
            index = fitting[-1]
            if tokens_of(rows[index:]) <= goal or index == starts[-1]:
                return Cut(rows[:index], rows[index:])
        if share >= 1:
            return Cut(rows[: starts[-1]], rows[starts[-1] :])
        share = min(share + SLIDE_STEP, 1.0)


def _line(chat: dict[str, Any]) -> list[str]:
    role, content = chat["role"], chat.get("content") or ""
    lines = [f"{role}: {content}"] if content and role != "tool" else []
    if role == "tool":
        lines.append(f"tool result: {content}")
    for call in chat.get("tool_calls") or ():
        function = call["function"]
        lines.append(f"assistant called {function['name']}({function['arguments']})")
    return [line if len(line) <= LINE_CHARS else line[:LINE_CHARS] + " [...]" for line in lines]


def transcript(previous: str | None, rows: list[ChatRow], max_chars: int) -> str:
    """The text the summariser reads: the previous summary, then each message's lines. The
    oldest messages are left out when it would not fit ``max_chars``, a tool call never
    without its results."""
    head = f"Summary of the conversation before these messages:\n{previous}\n\n" if previous else ""
    blocks = [[line for chat in converted(row) for line in _line(chat)] for row in rows]
    sizes = [sum(len(line) + 1 for line in block) for block in blocks]
    start, total = 0, sum(sizes) + len(head)
    while start < len(rows) and (total > max_chars or rows[start].role == "tool"):
        total -= sizes[start]
        start += 1
    left_out = f"[... {start} earlier messages left out ...]\n" if start else ""
    lines = [line for block in blocks[start:] for line in block]
    return head + "Messages:\n" + left_out + "\n".join(lines)


def request(
    settings: CompactionSettings, model: str, text: str, max_tokens: int | None
) -> LLMRequest:
    """The summarising model's request: the prompt, then the transcript."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": settings.prompt or DEFAULT_PROMPT}
    ]
    if settings.prompt_acknowledgement:
        messages.append({"role": "assistant", "content": ACKNOWLEDGEMENT})
    messages.append({"role": "user", "content": text})
    options = settings.model_settings or {}
    temperature = options.get("temperature")
    return LLMRequest(
        model=model,
        messages=messages,
        max_tokens=options.get("max_output_tokens") or max_tokens,
        temperature=temperature if isinstance(temperature, int | float) else None,
    )


def clipped(summary: str, clip_chars: int | None) -> str:
    summary = summary.strip()
    if clip_chars is None or len(summary) <= clip_chars:
        return summary
    return summary[:clip_chars] + TRUNCATED
