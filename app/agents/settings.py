"""An agent's ``model_settings`` in Letta's shape: one provider-typed object (``provider_type``
``openai`` or ``anthropic``) filled with the model's defaults where the client left a field
out, so an agent always shows (and its turns always use) complete settings.

Defaults follow Letta's ``OpenAIModelSettings`` / ``AnthropicModelSettings`` (temperature
0.7 for OpenAI, 1.0 for Anthropic, no parallel tool calls). OpenAI's reasoning models (o1,
o3, o4, gpt-5) accept only the default temperature, so theirs is 1, and their reasoning
effort shows the provider's default. Every step sends ``temperature`` and
``parallel_tool_calls``; ``max_output_tokens`` is the agent's ``max_tokens`` (shown as 4096
when unset, the provider's own limit then applies); ``reasoning``, ``thinking`` and
``strict`` are kept and shown as given.
"""

from typing import Any

DEFAULT_MAX_OUTPUT_TOKENS = 4096
_REASONING_MODELS = ("o1", "o3", "o4", "gpt-5")


def _openai(model: str) -> dict[str, Any]:
    reasoning = model.startswith(_REASONING_MODELS)
    return {
        "provider_type": "openai",
        "temperature": 1.0 if reasoning else 0.7,
        "reasoning": {"reasoning_effort": "medium" if reasoning else "minimal"},
        "response_format": None,
        "strict": False,
    }


def _anthropic(_model: str) -> dict[str, Any]:
    return {
        "provider_type": "anthropic",
        "temperature": 1.0,
        "thinking": {"type": "disabled", "budget_tokens": 1024},
        "response_format": None,
        "verbosity": None,
        "effort": None,
        "strict": False,
    }


_DEFAULTS = {"openai": _openai, "anthropic": _anthropic}


def defaults(provider: str, model: str, *, max_tokens: int | None) -> dict[str, Any]:
    """The settings a model runs with when the client sets none."""
    base = {
        "max_output_tokens": max_tokens or DEFAULT_MAX_OUTPUT_TOKENS,
        "parallel_tool_calls": False,
    }
    return base | _DEFAULTS.get(provider, _openai)(model) | {"provider_type": provider}


def filled(
    provider: str,
    model: str,
    given: dict[str, Any] | None,
    *,
    max_tokens: int | None,
    parallel_tool_calls: bool | None = None,
) -> dict[str, Any]:
    """``given`` over the model's defaults. Settings made for another provider type are not
    carried over (a model switch starts from the new model's defaults)."""
    settings = defaults(provider, model, max_tokens=max_tokens)
    if given and given.get("provider_type", provider) == provider:
        settings |= {k: v for k, v in given.items() if v is not None or k == "response_format"}
    if max_tokens is not None:
        settings["max_output_tokens"] = max_tokens
    if parallel_tool_calls is not None:
        settings["parallel_tool_calls"] = parallel_tool_calls
    settings["provider_type"] = provider
    return settings


def max_tokens_of(given: dict[str, Any] | None, max_tokens: int | None) -> int | None:
    """The agent's ``max_tokens``: as sent, else the settings' ``max_output_tokens`` when the
    client set that (Letta applies an explicit ``max_output_tokens`` to the model config)."""
    if max_tokens is not None:
        return max_tokens
    value = (given or {}).get("max_output_tokens")
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None
