"""A step under the tool rules: the tools it offers, the calls they refuse, and the messages
the rules add to what the step stores (refusals, the heartbeat that keeps a turn going)."""

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.agents.models import Agent
from app.engine import answer, prefill, rules
from app.engine.solver import Solver, ToolHistory
from app.kit.db import utcnow
from app.messages.factory import Owner, new_message, tool_result
from app.messages.models import Message
from app.providers.base import LLMRequest
from app.tools.toolset import Toolset


@dataclass(frozen=True, slots=True)
class Screened:
    """A step's calls as the rules see them before any runs."""

    refused: dict[str, str]  # call id -> the error result the model gets instead of a run
    ran: frozenset[str]  # ids of the calls that run now (not refused, sound, not paused)
    # A rule's prefilled arguments did not fit the tool: the turn stops (invalid_tool_call).
    misfit: bool = False


def screen(
    agent: Agent,
    solver: Solver,
    offered: frozenset[str],
    prefilled: Mapping[str, Mapping[str, Any]],
    calls: list[dict[str, Any]],
    history: ToolHistory,
    toolset: Toolset,
) -> Screened:
    """Refuse the calls of the agent's tools the rules did not offer at this step; as in
    Letta, such a call does not run, its result tells the model what it may call, and the
    turn goes on. Calls of offered tools get the arguments the rules fix for them."""
    refused: dict[str, str] = {}
    ran: set[str] = set()
    misfit = False
    for call in calls:
        name, call_id = str(call["name"]), str(call["id"])
        if name in prefilled and name in toolset:
            try:
                fixed = prefilled[name]
                call["arguments"] = prefill.merged(
                    toolset[name].json_schema, call["arguments"], fixed
                )
            except ValueError as exc:
                refused[call_id] = f"Invalid prefilled tool arguments from tool rules: {exc}"
                call.pop("requires_approval", None)  # it will not run: nothing to approve
                misfit = True
                continue
        if call.get("requires_approval"):
            continue
        if name in agent.tool_names and name not in offered:
            refused[call_id] = solver.refusal(name, offered, history)
        elif rules.sound(agent, call):
            ran.add(call_id)
    return Screened(refused, frozenset(ran), misfit)


@dataclass(frozen=True, slots=True)
class Offer:
    request: LLMRequest  # with only the tools the rules allow at this step
    offered: frozenset[str]  # their names, client tools included
    prefilled: dict[str, dict[str, Any]]  # arguments rules fix for a call of a tool, by tool


def offer(
    agent: Agent,
    request: LLMRequest,
    client_tools: Collection[str],
    solver: Solver,
    history: ToolHistory,
) -> Offer:
    """The step's request as the rules shape it, as in Letta: only the allowed tools (client
    tools always), a tool call required when a rule says what must come next (and that one
    tool named when it is the only one offered; a memgpt_v2_agent always calls a tool), and
    no parallel calls under rules that bear on the order of calls."""
    server = [str(s["name"]) for s in request.tools if s["name"] not in client_tools]
    allowed = solver.allowed(server, history)
    tools = [s for s in request.tools if s["name"] in allowed or s["name"] in client_tools]
    must = bool(tools) and (rules.uses_heartbeats(agent) or solver.forced(history))
    shaped = replace(
        request,
        tools=tools,
        tool_choice="required" if must else None,
        forced_tool=str(tools[0]["name"]) if must and len(tools) == 1 else None,
        parallel_tool_calls=False if solver.constrains else request.parallel_tool_calls,
    )
    names = frozenset(str(s["name"]) for s in tools)
    return Offer(shaped, names, solver.prefilled(set(names), history))


def results(
    owner: Owner,
    calls: list[dict[str, Any]],
    ran: list[Message],
    screened: Screened,
    step_id: str,
) -> list[Message]:
    """The results of the step's calls in their order: those that ran, and the errors of
    those the rules refused."""
    by_call = {m.tool_call_id: m for m in ran}
    names = {str(c["id"]): str(c["name"]) for c in calls}
    for call_id, text in screened.refused.items():
        refused = tool_result(owner, call_id, "error", text, step_id=step_id)
        refused.name = answer.result_name(names[call_id])
        by_call[call_id] = refused
    return [by_call[str(c["id"])] for c in calls if str(c["id"]) in by_call]


def nudge(owner: Owner, decision: rules.Decision, step_id: str) -> list[Message]:
    """The heartbeat telling the model why its turn goes on, when a rule keeps it going: a
    user-role message in Letta's packed form, shown in the history but not in the turn's
    response."""
    if decision.nudge is None:
        return []
    text = json.dumps({"type": "heartbeat", "reason": decision.nudge, "time": utcnow().isoformat()})
    message = new_message(owner, "user", step_id=step_id, content=[{"type": "text", "text": text}])
    message.text = text
    return [message]


def last_output(stored: list[Message], ran: frozenset[str], history: ToolHistory) -> str | None:
    """The output of the step's last call that ran (what a conditional rule reads next)."""
    outputs = [m.text or "" for m in stored if m.role == "tool" and m.tool_call_id in ran]
    return outputs[-1] if outputs else history.last_output


def resumed(agent: Agent, paused: Message | None, inputs: list[Message]) -> ToolHistory:
    """What a resumed turn has run before its first step, as Letta counts it: the approved
    calls of the paused step (``paused``), which ran when the approval was accepted, in the
    order of the approval (``inputs``: the turn's stored input). Client returns and denials
    are not runs of the agent's tools."""
    history = ToolHistory()
    names = {str(c["id"]): str(c["name"]) for c in (paused.tool_calls if paused else None) or []}
    outputs = {m.tool_call_id: m.text for m in inputs if m.role == "tool"}
    approval = next((m for m in inputs if m.role == "approval"), None)
    for item in (approval.approvals if approval else None) or []:
        call_id = str(item.get("tool_call_id"))
        name = names.get(call_id)
        if item.get("type") == "approval" and item.get("approve") and name in agent.tool_names:
            history.names.append(str(name))
            history.last_output = outputs.get(call_id)
    return history
