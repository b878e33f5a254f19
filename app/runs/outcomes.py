"""The run status a stop reason ends in. Shared by every layer that ends a run or shows its
end (the turn's finish, the sleeptime job, the stream's closing events)."""

FAILED = frozenset(
    {
        "error",
        "llm_api_error",
        "invalid_llm_response",
        "invalid_tool_call",
        "no_tool_call",
        "max_tokens_exceeded",
        "context_window_overflow_in_system_prompt",
    }
)


def run_status(stop_reason: str) -> str:
    if stop_reason == "cancelled":
        return "cancelled"
    return "failed" if stop_reason in FAILED else "completed"
