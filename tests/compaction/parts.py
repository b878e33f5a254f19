"""The token counts of a ContextWindowOverview that add up to its current size."""

PARTS = (
    "num_tokens_system",
    "num_tokens_core_memory",
    "num_tokens_external_memory_summary",
    "num_tokens_summary_memory",
    "num_tokens_functions_definitions",
    "num_tokens_messages",
)
