"""Tool rules as the agent stores them, and as its system prompt states them to the model.

The engine's solver (``app.engine.solver``) enforces them; this module only words them, so
the prompt (compiled below the engine) can list them."""

from collections.abc import Mapping, Sequence
from typing import Any

TOOL_RULES_INTRO = (
    "These rules constrain which tools you may call and when your turn ends. They are "
    "enforced: a call that breaks one is refused. A response may hold several tool calls."
)


def rule_text(rule: Mapping[str, Any]) -> str:
    """One rule, as the model is told it (in the system prompt, and when it breaks one)."""
    name, kind = rule["tool_name"], rule.get("type")
    children = ", ".join(str(c) for c in rule.get("children") or ())
    texts = {
        "run_first": f"Your first tool call must be {name}.",
        "exit_loop": f"Calling {name} ends your turn.",
        "continue_loop": f"After calling {name} you keep working; your turn goes on.",
        "constrain_child_tools": f"After {name}, your next tool must be one of: {children}.",
        "conditional": f"The output of {name} decides which tool you may call next.",
        "max_count_per_step": (
            f"Call {name} at most {rule.get('max_count_limit')} time(s) per turn."
        ),
        "parent_last_tool": f"{children} may be called only right after {name}.",
        "required_before_exit": f"Call {name} before your turn ends.",
        "requires_approval": f"A call of {name} waits for a person's approval.",
    }
    return texts.get(str(kind), f"{name}: {kind}")


def render_rules(rules: Sequence[Mapping[str, Any]]) -> str | None:
    """The ``<tool_usage_rules>`` section of the system prompt; None without rules that
    bear on the model's choices (approvals happen outside its view)."""
    lines = [
        f"<tool_rule>{rule_text(r)}</tool_rule>"
        for r in rules
        if r.get("type") != "requires_approval"
    ]
    if not lines:
        return None
    return "\n".join(["<tool_usage_rules>", TOOL_RULES_INTRO, *lines, "</tool_usage_rules>"])


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _optional(extra: Mapping[str, Any], name: str, kind: type, what: str) -> None:
    value = extra.get(name)
    if value is not None and type(value) is not kind:
        raise ValueError(f"`{name}` must be {what}")


def _check_arg_nodes(nodes: Any, children: list[str]) -> None:
    """``child_arg_nodes``: arguments fixed for some of the children, ``[{name, args}]``."""
    if nodes is None:
        return
    items: list[Any] = nodes if isinstance(nodes, list) else [None]
    if not all(isinstance(node, dict) and node.get("name") in children for node in items):
        raise ValueError(
            "`child_arg_nodes` must be a list of {name, args} objects, each naming one of "
            "the rule's `children`"
        )
    for node in items:
        _optional(node, "args", dict, "an object")


def check_rule_fields(kind: str, extra: Mapping[str, Any]) -> None:
    """The fields a rule of ``kind`` needs, as Letta's rule classes declare them; a
    ValueError names the one that is missing or wrong."""
    _optional(extra, "prompt_template", str, "a string")
    if kind in ("constrain_child_tools", "parent_last_tool"):
        children = extra.get("children")
        if not _names(children) or not children:
            raise ValueError(f"a {kind} rule needs `children`: a non-empty list of tool names")
        if kind == "constrain_child_tools":
            _check_arg_nodes(extra.get("child_arg_nodes"), children)
    elif kind == "conditional":
        mapping = extra.get("child_output_mapping")
        if not isinstance(mapping, dict) or not mapping:
            raise ValueError(
                "a conditional rule needs `child_output_mapping`: a non-empty object mapping "
                "tool outputs to tool names"
            )
        if not _names(list(mapping.values())):
            raise ValueError("`child_output_mapping` values must be tool names")
        _optional(extra, "default_child", str, "a tool name")
        _optional(extra, "require_output_mapping", bool, "a boolean")
    elif kind == "max_count_per_step":
        limit = extra.get("max_count_limit")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError(
                "a max_count_per_step rule needs `max_count_limit`: an integer of at least 1"
            )
    elif kind == "run_first":
        _optional(extra, "args", dict, "an object")
