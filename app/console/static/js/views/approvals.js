// Tool calls waiting for approval: approve or deny each (with a reason), and watch the turn
// resume in the talk panel.

import { get, path } from "../api.js";
import { h, replace, shortId } from "../dom.js";

/**
 * The calls of the agent's paused turn. AgentState's ``pending_approval`` is not filled by
 * this server, so the pause is read from the agent's last stop reason and the calls from the
 * newest run that stopped for approval.
 */
export async function pendingCalls(view, signal) {
  if (view.agent.last_stop_reason !== "requires_approval") return null;
  const [run] = await get(
    path("/v1/runs/", { agent_id: view.id, stop_reason: "requires_approval", limit: 1 }),
    signal,
  );
  if (!run) return null;
  const messages = await get(`/v1/runs/${encodeURIComponent(run.id)}/messages?limit=1000&order=asc`, signal);
  const requests = messages.filter((m) => m.message_type === "approval_request_message");
  const last = requests[requests.length - 1];
  if (!last) return null;
  const calls = last.tool_calls?.length ? last.tool_calls : [last.tool_call];
  return { run_id: run.id, calls: calls.filter(Boolean) };
}

export async function render(el, view, signal) {
  const pending = await pendingCalls(view, signal);
  if (!pending || !pending.calls.length) {
    replace(el, h("h2", {}, "Approvals"), h("p", { class: "muted" }, "Nothing is waiting for approval."));
    return;
  }
  const ids = pending.calls.map((call) => call.tool_call_id);
  const form = h(
    "form",
    {
      class: "approvals",
      onsubmit: (event) => {
        event.preventDefault();
        const approvals = ids.map((id) => {
          const approve = form.querySelector(`input[name="decision-${CSS.escape(id)}"]:checked`).value === "approve";
          const reason = form.querySelector(`textarea[data-call="${CSS.escape(id)}"]`).value.trim();
          return { type: "approval", tool_call_id: id, approve, ...(approve || !reason ? {} : { reason }) };
        });
        form.querySelector("button[type=submit]").disabled = true;
        view.talk.send({ messages: [{ type: "approval", approvals }] }, "Decision sent");
      },
    },
    pending.calls.map((call) => callFieldset(call.tool_call_id, call)),
    h("button", { type: "submit" }, "Send decision"),
  );
  replace(
    el,
    h("h2", {}, "Approvals"),
    h("p", {}, "Run ", h("a", { href: `#/runs/${encodeURIComponent(pending.run_id)}` }, shortId(pending.run_id)), " is paused until you decide."),
    form,
  );
}

function callFieldset(id, call) {
  let args = call?.arguments ?? "";
  try {
    args = JSON.stringify(JSON.parse(args), null, 2);
  } catch {
    // not JSON: show it as it came
  }
  const reasonId = `reason-${id}`;
  return h(
    "fieldset",
    { class: "card approval" },
    h("legend", {}, h("code", {}, call?.name ?? "tool call"), " ", h("span", { class: "muted" }, id)),
    h("pre", { class: "value" }, args),
    h(
      "div",
      { class: "choices" },
      h("label", {}, h("input", { type: "radio", name: `decision-${id}`, value: "approve", checked: true }), " Approve"),
      h("label", {}, h("input", { type: "radio", name: `decision-${id}`, value: "deny" }), " Deny"),
    ),
    h("label", { for: reasonId }, "Reason (sent with a denial)"),
    h("textarea", { id: reasonId, rows: "2", dataset: { call: id } }),
  );
}
