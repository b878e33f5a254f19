"""When a turn goes on after a step, and why it stops: the tool rules, and the two loops.

Agents of the newer kind (letta_v1_agent, sleeptime_agent) go on after every tool call until
the model answers without one (``end_turn``) or calls a terminal tool (``tool_rule``).

A ``memgpt_v2_agent`` must call a tool on every step, and goes on after a call only when it
asks to, with the ``request_heartbeat`` argument its tool schemas offer, or when a rule says
so (a continue rule, a rule naming the tools allowed next, or a required tool not yet called).
Otherwise the turn ends with ``end_turn``; a terminal tool also ends it, with ``tool_rule``
when the call had asked to go on; a step without a tool call is a failure (``no_tool_call``).
"""

import json
from dataclasses import dataclass
from typing import Any, Literal

from app.agents.models import Agent
from app.engine.solver import Solver, ToolHistory
from app.kit.memo import ByIdentity
from app.providers.base import LLMResponse
from app.runs.states import StopReason

HEARTBEAT_AGENTS = frozenset({"memgpt_v2_agent"})
REQUEST_HEARTBEAT = "request_heartbeat"
HEARTBEAT_SCHEMA = {
    "type": "boolean",
    "description": (
        "Request an immediate heartbeat after the call: set to true to keep working (for "
        "example to call another tool) before the user answers."
    ),
}


def rule_names(agent: Agent, *kinds: str) -> set[str]:
    return {r["tool_name"] for r in agent.tool_rules if r.get("type") in kinds}


def uses_heartbeats(agent: Agent) -> bool:
    return agent.agent_type in HEARTBEAT_AGENTS


def _arguments(arguments: str) -> dict[str, Any] | None:
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return None
    return args if isinstance(args, dict) else None


def requested_heartbeat(arguments: str) -> bool:
    value = (_arguments(arguments) or {}).get(REQUEST_HEARTBEAT)
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def sound(agent: Agent, call: dict[str, Any]) -> bool:
    """Whether a call could run: it names one of the agent's tools, with arguments that are
    a JSON object. Any other call fails before it runs, with an error result."""
    return call["name"] in agent.tool_names and _arguments(call["arguments"]) is not None


@dataclass(frozen=True, slots=True)
class Decision:
    stop: StopReason | None  # None: go on
    # Why the turn goes on when the model meant to stop, stored as a heartbeat message.
    nudge: str | None = None


def decide(
    agent: Agent,
    calls: list[dict[str, Any]],
    response: LLMResponse,
    solver: Solver,
    history: ToolHistory,
    ran: frozenset[str],
    *,
    last: bool = False,
) -> Decision:
    """Whether the turn stops after a step, and why. ``history`` already holds this step's
    calls that ran (``ran``). A call that did not run (refused, or broken) never ends the
    turn unless another call of the step does: the model must see its error and try again,
    or a terminal tool called with broken arguments would end the turn with nothing said.
    A required_before_exit tool not run yet keeps the turn going, even past a terminal
    tool, as in Letta (on the last step the turn stops anyway: no heartbeat then)."""
    decision = _decide(agent, calls, response, solver, history, ran, last)
    return Decision(decision.stop) if last else decision


def _decide(
    agent: Agent,
    calls: list[dict[str, Any]],
    response: LLMResponse,
    solver: Solver,
    history: ToolHistory,
    ran: frozenset[str],
    last: bool,
) -> Decision:
    if any(c.get("requires_approval") for c in calls):
        return Decision(StopReason.requires_approval)
    required = solver.uncalled_required(agent.tool_names, history)
    ending = [c for c in calls if c["id"] in ran and solver.is_terminal(c["name"])]
    if len(ran) < len(calls) and not ending:
        return Decision(None)
    if ending and required:
        return Decision(None, _must_call(required))
    if uses_heartbeats(agent):
        return _decide_heartbeat(calls, response, solver, ending, required)
    return _decide_v1(calls, response, ending, required, last)


def _decide_v1(
    calls: list[dict[str, Any]],
    response: LLMResponse,
    ending: list[dict[str, Any]],
    required: list[str],
    last: bool,
) -> Decision:
    if ending:
        return Decision(StopReason.tool_rule)
    if calls:
        return Decision(None)
    if required and not last:
        return Decision(None, _must_call(required))
    return Decision(_cut_off(response) or StopReason.end_turn)


def _decide_heartbeat(
    calls: list[dict[str, Any]],
    response: LLMResponse,
    solver: Solver,
    ending: list[dict[str, Any]],
    required: list[str],
) -> Decision:
    if not calls:
        return Decision(_cut_off(response) or StopReason.no_tool_call)
    if ending:
        asked_on = any(requested_heartbeat(c["arguments"]) for c in ending)
        return Decision(StopReason.tool_rule if asked_on else StopReason.end_turn)
    if any(solver.keeps_going(c["name"]) or requested_heartbeat(c["arguments"]) for c in calls):
        return Decision(None)  # asked to go on
    return Decision(None, _must_call(required)) if required else Decision(StopReason.end_turn)


NOT_FROM_USER = "[Automated system message, not shown to the user] "


def _must_call(tools: list[str]) -> str:
    return f"{NOT_FROM_USER}ToolRuleViolated: call {', '.join(tools)} before ending your turn."


def _cut_off(response: LLMResponse) -> StopReason | None:
    return StopReason.max_tokens_exceeded if response.finish_reason == "length" else None


_STOP_ERRORS: dict[str, str] = {
    StopReason.no_tool_call: "the model answered without calling a tool; this agent must call one",
    StopReason.max_tokens_exceeded: "the model's answer was cut off at its token limit",
    StopReason.invalid_tool_call: "a tool rule's prefilled arguments do not fit the tool",
}


def stop_error(stop_reason: str) -> dict[str, Any] | None:
    """The run error a step's own failing stop reason records."""
    message = _STOP_ERRORS.get(stop_reason)
    return None if message is None else {"type": stop_reason, "message": message}


def tool_choice(agent: Agent, has_tools: bool) -> Literal["required"] | None:
    """A memgpt_v2_agent must answer with a tool call, as Letta requires of that loop."""
    return "required" if has_tools and uses_heartbeats(agent) else None


def _with_heartbeat(schema: dict[str, Any]) -> dict[str, Any]:
    parameters = dict(schema.get("parameters") or {"type": "object", "properties": {}})
    properties = {**parameters.get("properties", {}), REQUEST_HEARTBEAT: HEARTBEAT_SCHEMA}
    required = [*parameters.get("required", []), REQUEST_HEARTBEAT]
    return {**schema, "parameters": {**parameters, "properties": properties, "required": required}}


# A tool schema that also offers ``request_heartbeat`` (required, as Letta's are): made once
# per schema (the built-in and registered tools' schemas are the process's own objects), so
# a step's tools are the same objects from step to step. Never to be changed in place.
with_heartbeat = ByIdentity(_with_heartbeat)
