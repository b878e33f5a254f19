// One run: its facts, its steps, and its stream, replayed from its stored events and then
// followed live until it ends.

import { api, get, stream } from "../api.js";
import { badge, duration, failure, h, notice, replace, shortId, when } from "../dom.js";
import { LiveLog, messageItem } from "../messages.js";
import { runMillis } from "./runs.js";

const ACTIVE = new Set(["created", "running"]);

export async function render(main, runId, ctx) {
  const url = `/v1/runs/${encodeURIComponent(runId)}`;
  let run = await get(url, ctx.signal);
  document.title = `Run ${shortId(run.id)} · sleeptime console`;
  const facts = h("dl", { class: "facts" });
  const steps = h("div", { class: "steps" });
  const log = new LiveLog("Stream events");
  const state = h("p", { class: "stream-state", role: "status" });
  const cancel = h("button", { type: "button", class: "danger" }, "Cancel run");
  const drawFacts = () => {
    replace(facts, factList(run, agent));
    cancel.hidden = !ACTIVE.has(run.status);
  };
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await api("POST", `${url}/cancel`, {}, ctx.signal);
    } catch (error) {
      main.append(failure(error));
    }
  });
  // Its agent may be gone by now: the run is still shown, its agent by id.
  const agent = await get(`/v1/agents/${encodeURIComponent(run.agent_id)}`, ctx.signal).catch(
    (error) => {
      if (error.status === 404) return { id: run.agent_id, name: shortId(run.agent_id) };
      throw error;
    },
  );
  replace(
    main,
    h(
      "nav",
      { class: "crumbs", "aria-label": "Breadcrumbs" },
      h("a", { href: "#/agents" }, "Agents"),
      " / ",
      h("a", { href: `#/agents/${encodeURIComponent(agent.id)}/runs` }, agent.name),
      " / run",
    ),
    h("h1", {}, "Run ", h("code", {}, run.id)),
    facts,
    cancel,
    h("section", { "aria-labelledby": "stream-h" }, h("h2", { id: "stream-h" }, "Stream"), state, log.list),
    h("section", { "aria-labelledby": "steps-h" }, h("h2", { id: "steps-h" }, "Steps"), steps),
  );
  drawFacts();
  const drawSteps = async () => replace(steps, stepTable(await get(`${url}/steps?order=asc`, ctx.signal)));
  await drawSteps();
  replace(state, ACTIVE.has(run.status) ? "Following the run live…" : "Replaying the stored events…");
  try {
    await stream("GET", `${url}/stream?starting_after=0`, undefined, (e) => log.add(e), ctx.signal);
    run = await get(url, ctx.signal);
    drawFacts();
    await drawSteps();
    replace(state, `The run ended: ${run.status}${run.stop_reason ? ` (${run.stop_reason})` : ""}.`);
  } catch (error) {
    if (ctx.signal.aborted) return;
    if (error.status !== 410) throw error;
    replace(state, notice("Its stream is no longer kept; these are its stored messages."));
    const messages = await get(`${url}/messages?order=asc&limit=1000`, ctx.signal);
    log.list.append(...messages.map(messageItem).filter(Boolean));
  }
}

function factList(run, agent) {
  const usage = run.usage || {};
  const link = (prefix, id) => (id ? h("a", { href: `#/${prefix}/${encodeURIComponent(id)}` }, shortId(id)) : "—");
  const rows = [
    ["Kind", badge(run.kind, run.kind)],
    ["Status", badge(run.status, run.status)],
    ["Stop reason", run.stop_reason || "—"],
    ["Agent", h("a", { href: `#/agents/${encodeURIComponent(agent.id)}` }, agent.name)],
    ["Triggered by", link("runs", run.parent_run_id)],
    ["Created", when(run.created_at)],
    ["Started", when(run.started_at)],
    ["Completed", when(run.completed_at)],
    ["Duration", duration(runMillis(run))],
    ["Steps", usage.step_count ?? "—"],
    ["Tokens", usage.total_tokens !== undefined ? `${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion` : "—"],
    ["Attempts", run.attempts],
    ["Error", run.error ? `${run.error.type || "error"}: ${run.error.message || ""}` : "—"],
  ];
  return rows.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]);
}

function stepTable(steps) {
  if (!steps.length) return h("p", { class: "muted" }, "No steps yet.");
  return h(
    "table",
    { class: "list" },
    h("thead", {}, h("tr", {}, ["Step", "Model", "Prompt", "Completion", "Stop"].map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      {},
      steps.map((s) =>
        h(
          "tr",
          {},
          h("td", {}, h("code", {}, shortId(s.id))),
          h("td", {}, s.model || "—"),
          h("td", {}, s.prompt_tokens),
          h("td", {}, s.completion_tokens),
          h("td", {}, s.stop_reason || "—"),
        ),
      ),
    ),
  );
}
