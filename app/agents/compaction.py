"""An agent's ``compaction_settings`` (Letta's CompactionSettings): how the older part of its
context window is summarised when the window fills up, and by which model.

Stored on the agent as sent (fields left out take Letta's defaults when read), so an agent's
settings round-trip; a request to ``/summarize`` may override any of them for one call.
"""

from typing import Any, Literal

from pydantic import Field

from app.kit.schemas import RequestModel

Mode = Literal["all", "sliding_window", "self_compact_all", "self_compact_sliding_window"]

# Letta's default share of the messages the sliding window summarises at least (and of the
# room the kept messages may fill afterwards: 1 - this).
DEFAULT_SLIDING_WINDOW_PERCENTAGE = 0.3
DEFAULT_CLIP_CHARS = 50_000

DEFAULT_PROMPT = """\
You maintain the memory of a conversation between an AI agent and its user. The earlier part of \
the conversation is leaving the agent's context window. Write a summary of it that lets the \
agent carry on as if it still saw it: who the user is, what they asked for and decided, facts \
and numbers given, what the agent did (tools called and what they returned), and what is still \
open or promised. If a previous summary is given, fold it in. Write plain prose in the third \
person, no preamble, no more than a few paragraphs."""


class CompactionSettings(RequestModel):
    """Letta's CompactionSettings. ``self_compact_*`` modes summarise with the agent's own
    model; the others with ``model`` (or the server's compaction model, or the agent's)."""

    model: str | None = Field(default=None, min_length=1, max_length=255)
    model_settings: dict[str, Any] | None = None
    prompt: str | None = Field(default=None, min_length=1, max_length=20_000)
    prompt_acknowledgement: bool = False
    clip_chars: int | None = Field(default=DEFAULT_CLIP_CHARS, gt=0, le=1_000_000)
    mode: Mode = "sliding_window"
    sliding_window_percentage: float = Field(
        default=DEFAULT_SLIDING_WINDOW_PERCENTAGE, gt=0, le=1, allow_inf_nan=False
    )

    @property
    def slides(self) -> bool:
        return self.mode in ("sliding_window", "self_compact_sliding_window")

    @property
    def own_model(self) -> bool:
        return self.mode.startswith("self_compact")

    def stored(self) -> dict[str, Any]:
        """What the agent keeps: every field, defaults included, as Letta returns them."""
        return self.model_dump(mode="json")


def read(stored: dict[str, Any] | None) -> CompactionSettings:
    """The agent's settings (Letta's defaults where it has none)."""
    return CompactionSettings.model_validate(stored or {})


def merged(
    stored: dict[str, Any] | None, override: CompactionSettings | None
) -> CompactionSettings:
    """The agent's settings with the fields a request set replacing its own (as Letta merges
    a ``/summarize`` request's settings over the agent's)."""
    if override is None:
        return read(stored)
    fields = {name: getattr(override, name) for name in override.model_fields_set}
    return read(stored).model_copy(update=fields)
