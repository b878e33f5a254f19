// The agent's sleeptime group: its schedule, how far behind the sleeptime agents are, its
// members and its last sleeptime run; the schedule can be changed here.

import { api, get } from "../api.js";
import { badge, failure, h, replace, shortId, when } from "../dom.js";

export async function render(el, view, signal) {
  if (!view.group) {
    const groups = await get(`/v1/agents/${encodeURIComponent(view.id)}/groups`, signal);
    replace(
      el,
      h("h2", {}, "Group"),
      groups.length
        ? h("ul", {}, groups.map((g) => h("li", {}, "Member of the group of ", managerLink(g))))
        : h("p", { class: "muted" }, "This agent has no sleeptime group."),
    );
    return;
  }
  const id = encodeURIComponent(view.group.id);
  const [group, lag] = await Promise.all([
    get(`/v1/groups/${id}`, signal),
    get(`/console/api/groups/${id}/lag`, signal),
  ]);
  const frequency = group.sleeptime_agent_frequency;
  replace(
    el,
    h("h2", {}, "Sleeptime group"),
    h(
      "dl",
      { class: "facts" },
      fact("Group", h("code", {}, group.id)),
      fact("Schedule", frequency ? `every ${frequency} turn(s)` : "after every turn"),
      fact("Debounce", group.sleeptime_debounce_seconds ? `${group.sleeptime_debounce_seconds} s idle` : "none"),
      fact("Lag", h("span", { class: "lag" }, `${lag.turns} turn(s) not yet read by the sleeptime agents`)),
      fact("Since the schedule fired", `${group.turns_since_last_processed} turn(s)`),
      fact("Last processed message", group.last_processed_message_id ? h("code", {}, shortId(group.last_processed_message_id)) : "—"),
      fact(
        "Last sleeptime run",
        group.last_sleeptime_run_id
          ? [
              h("a", { href: `#/runs/${encodeURIComponent(group.last_sleeptime_run_id)}` }, shortId(group.last_sleeptime_run_id)),
              " ",
              badge(group.last_sleeptime_run_status, group.last_sleeptime_run_status),
            ]
          : "none yet",
      ),
      fact(
        "Sleeptime agents",
        h("ul", { class: "plain" }, group.agent_ids.map((member) => memberItem(member, lag, view))),
      ),
      fact("Updated", when(group.updated_at)),
    ),
    scheduleForm(group, view, signal),
  );
}

function memberItem(agentId, lag, view) {
  const behind = lag.members.find((m) => m.agent_id === agentId);
  return h(
    "li",
    { dataset: { agent: agentId } },
    h("a", { href: `#/agents/${encodeURIComponent(agentId)}` }, view.nameOf(agentId)),
    behind ? h("span", { class: "muted" }, ` · ${behind.turns} turn(s) behind`) : null,
  );
}

function fact(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}

function managerLink(group) {
  if (!group.manager_agent_id) return h("code", {}, group.id);
  return h("a", { href: `#/agents/${encodeURIComponent(group.manager_agent_id)}/group` }, shortId(group.manager_agent_id));
}

function scheduleForm(group, view, signal) {
  const input = h("input", {
    id: "frequency",
    type: "number",
    min: "1",
    step: "1",
    value: group.sleeptime_agent_frequency ?? "",
    placeholder: "every turn",
  });
  const result = h("div", { role: "status" });
  return h(
    "form",
    {
      class: "inline-form",
      onsubmit: async (event) => {
        event.preventDefault();
        const value = input.value.trim();
        try {
          await api(
            "PATCH",
            `/v1/groups/${encodeURIComponent(group.id)}`,
            { manager_config: { manager_type: "sleeptime", sleeptime_agent_frequency: value ? Number(value) : null } },
            signal,
          );
          await view.refresh();
        } catch (error) {
          replace(result, failure(error));
        }
      },
    },
    h("label", { for: "frequency" }, "Run the sleeptime agents every N turns"),
    input,
    h("button", { type: "submit", class: "secondary" }, "Save schedule"),
    result,
  );
}
