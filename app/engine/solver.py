"""The tool-rule solver: which tools a step may call, given the tools the turn has run.

One solver per step, built from the agent's rules; what it reads of the turn is the
``ToolHistory`` the turn keeps (the tools run so far, in order, and the last one's output).
Its rules, as Letta's:

- ``run_first``: on the turn's first call only the init tools are offered.
- ``constrain_child_tools``: right after the tool, only its ``children``.
- ``conditional``: right after the tool, the child its output maps to in
  ``child_output_mapping``; with no match, ``default_child``, else every tool (none with
  ``require_output_mapping``).
- ``max_count_per_step``: the tool is no longer offered once the turn ran it
  ``max_count_limit`` times.
- ``parent_last_tool``: its ``children`` are offered only right after the tool.
- ``exit_loop``, ``continue_loop``, ``required_before_exit``, ``requires_approval`` leave
  the offer alone; they act on whether the turn goes on, or on whether a call pauses.

The constraints of every rule that applies intersect. When nothing is left, every tool is
offered again, as Letta does: a step never goes out with no tool at all because of rules.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.agents.tool_rules import rule_text

# Rules that narrow the offer right after their tool; the tool's call also keeps a
# memgpt_v2_agent going (Letta's "child based" rules).
CHILD_BASED = frozenset({"constrain_child_tools", "conditional", "max_count_per_step"})
# Rules that make the next step call a tool (tool_choice "required") once they narrow it.
FORCING = frozenset({"constrain_child_tools", "conditional", "parent_last_tool"})
# Rules that look only at the step's own calls.
_STEP_ONLY = frozenset({"exit_loop", "continue_loop", "requires_approval"})
# Rules that only concern approvals: a set of these alone still allows parallel calls.
APPROVAL_ONLY = frozenset({"requires_approval"})


@dataclass(slots=True)
class ToolHistory:
    """The tools a turn has run (a call refused by the rules is not among them), and the
    output of the last one, which ``conditional`` rules read."""

    names: list[str] = field(default_factory=list)
    last_output: str | None = None

    @property
    def last(self) -> str | None:
        return self.names[-1] if self.names else None


def _children(rule: Mapping[str, Any]) -> list[str]:
    return [str(c) for c in rule.get("children") or ()]


def output_matches(output: str, key: str) -> bool:
    """Whether a tool's output selects a ``child_output_mapping`` key: the same text (spaces
    around it aside), or, for keys that are booleans or numbers, the same value."""
    output, key = output.strip(), key.strip()
    if output == key:
        return True
    if key.lower() in ("true", "false"):
        return output.lower() == key.lower()
    try:
        return float(output) == float(key)
    except ValueError:
        return False


class Solver:
    def __init__(self, rules: Sequence[Mapping[str, Any]]) -> None:
        self.rules = list(rules)

    def _of(self, *kinds: str) -> list[Mapping[str, Any]]:
        return [r for r in self.rules if r.get("type") in kinds]

    def names(self, *kinds: str) -> set[str]:
        return {str(r["tool_name"]) for r in self._of(*kinds)}

    @property
    def constrains(self) -> bool:
        """Whether any rule bears on tool calls beyond approvals (Letta then turns parallel
        tool calls off)."""
        return any(r.get("type") not in APPROVAL_ONLY for r in self.rules)

    @property
    def reads_history(self) -> bool:
        """Whether any rule depends on the tools the turn ran before the step."""
        return any(r.get("type") not in _STEP_ONLY for r in self.rules)

    def allowed(self, available: Iterable[str], history: ToolHistory) -> set[str]:
        """The tools of ``available`` the next call may use."""
        tools = set(available)
        if not history.names:
            init = self.names("run_first")
            if init:
                offered = init & tools
            else:
                offered = tools - {c for r in self._of("parent_last_tool") for c in _children(r)}
        else:
            offered = set(tools)
            for rule in self._of(*CHILD_BASED, "parent_last_tool"):
                offered &= self._valid(rule, tools, history)
        return offered or tools

    def _valid(self, rule: Mapping[str, Any], tools: set[str], history: ToolHistory) -> set[str]:
        kind, name, just_ran = rule["type"], rule["tool_name"], history.last == rule["tool_name"]
        if kind == "constrain_child_tools":
            return set(_children(rule)) if just_ran else tools
        if kind == "parent_last_tool":
            children = set(_children(rule))
            return children if just_ran else tools - children
        if kind == "max_count_per_step":
            limit = int(rule.get("max_count_limit") or 1)
            return tools - {name} if history.names.count(name) >= limit else tools
        if kind == "conditional" and just_ran:
            return self._mapped(rule, tools, history.last_output or "")
        return tools

    @staticmethod
    def _mapped(rule: Mapping[str, Any], tools: set[str], output: str) -> set[str]:
        for key, child in (rule.get("child_output_mapping") or {}).items():
            if output_matches(output, str(key)):
                return {str(child)}
        if rule.get("require_output_mapping"):
            return set()
        default = rule.get("default_child")
        return {str(default)} if default else tools

    def prefilled(self, allowed: set[str], history: ToolHistory) -> dict[str, dict[str, Any]]:
        """The arguments rules fix for the next call, by tool: a ``run_first`` rule's
        ``args`` on the turn's first call, the ``child_arg_nodes`` of a child rule whose
        tool just ran."""
        fixed: dict[str, dict[str, Any]] = {}
        if not history.names:
            for rule in self._of("run_first"):
                if isinstance(rule.get("args"), dict) and rule["args"]:
                    fixed[str(rule["tool_name"])] = dict(rule["args"])
        else:
            for rule in self._of("constrain_child_tools"):
                if rule["tool_name"] != history.last:
                    continue
                for node in rule.get("child_arg_nodes") or ():
                    if isinstance(node.get("args"), dict) and node["args"]:
                        fixed[str(node["name"])] = dict(node["args"])
        return {name: args for name, args in fixed.items() if name in allowed}

    def forced(self, history: ToolHistory) -> bool:
        """Whether the next step must call a tool: its first call under ``run_first``, or
        right after a tool whose rule names what comes next."""
        if not history.names:
            return bool(self.names("run_first"))
        return history.last in self.names(*FORCING)

    def is_terminal(self, name: str) -> bool:
        return name in self.names("exit_loop")

    def keeps_going(self, name: str) -> bool:
        """Whether a memgpt_v2_agent's call of ``name`` goes on without asking to: a continue
        rule, or a rule naming what may follow it."""
        return name in self.names("continue_loop", *CHILD_BASED)

    def uncalled_required(self, available: Iterable[str], history: ToolHistory) -> list[str]:
        """The ``required_before_exit`` tools of ``available`` the turn has not run yet."""
        pending = self.names("required_before_exit") & set(available)
        return sorted(pending - set(history.names))

    def refusal(self, name: str, offered: Iterable[str], history: ToolHistory) -> str:
        """The error result of a call the rules did not allow at this step."""
        hints = [
            f"\t- {rule_text(r)}"
            for r in self.rules
            if r.get("type") not in ("required_before_exit", "requires_approval")
            and r["tool_name"] in (name, history.last)
        ]
        hint = "\n** Hint: Possible rules that were violated:\n" + "\n".join(hints) if hints else ""
        valid = sorted(offered)
        return f"[ToolConstraintError] Cannot call {name}, valid tools include: {valid}.{hint}"
