// Runs as a timeline: newest first, each sleeptime run under the turn that triggered it,
// with kind, status, duration, steps, tokens and errors.

import { get, path } from "../api.js";
import { badge, duration, h, replace, shortId, when } from "../dom.js";

const PAGE = 50;

/** The agent page's tab: the agent's runs and its sleeptime agents'. */
export async function render(el, view, signal) {
  const runs = await get(path("/v1/runs/", { agent_ids: view.agentIds(), limit: PAGE }), signal);
  replace(
    el,
    h("h2", { class: "visually-hidden" }, "Runs"),
    timeline(runs, (id) => view.nameOf(id)),
  );
}

/** ``#/runs``: every run of the organization. */
export async function renderAll(main, ctx) {
  document.title = "Runs · sleeptime console";
  const runs = await get(path("/v1/runs/", { limit: PAGE }), ctx.signal);
  replace(main, h("h1", {}, "Runs"), timeline(runs, shortId));
}

export function runMillis(run) {
  if (run.total_duration_ns) return run.total_duration_ns / 1e6;
  const start = run.started_at || run.created_at;
  if (!start) return null;
  const end = run.completed_at ? Date.parse(run.completed_at) : Date.now();
  return Math.max(0, end - Date.parse(start));
}

export function timeline(runs, nameOf) {
  if (!runs.length) return h("p", { class: "muted" }, "No runs yet.");
  const ids = new Set(runs.map((r) => r.id));
  const children = new Map();
  for (const run of runs) {
    if (run.parent_run_id && ids.has(run.parent_run_id)) {
      const list = children.get(run.parent_run_id) || [];
      list.push(run);
      children.set(run.parent_run_id, list);
    }
  }
  const longest = Math.max(1, ...runs.map((r) => runMillis(r) || 0));
  const item = (run) =>
    runItem(run, nameOf, longest, (children.get(run.id) || []).map(item));
  const top = runs.filter((r) => !(r.parent_run_id && ids.has(r.parent_run_id)));
  return h("ol", { class: "timeline", "aria-label": "Runs, newest first" }, top.map(item));
}

function runItem(run, nameOf, longest, nested) {
  const ms = runMillis(run);
  const bar = h("span", { class: `bar bar-${run.status}` });
  bar.style.width = `${Math.max(2, Math.round(((ms || 0) / longest) * 100))}%`;
  const usage = run.usage || {};
  return h(
    "li",
    { class: `run run-${run.status}`, dataset: { kind: run.kind, status: run.status, run: run.id } },
    h(
      "div",
      { class: "run-head" },
      badge(run.kind, run.kind),
      " ",
      badge(run.status, run.status),
      " ",
      h("a", { href: `#/runs/${encodeURIComponent(run.id)}` }, shortId(run.id)),
      " ",
      h("span", { class: "muted" }, nameOf(run.agent_id)),
    ),
    h(
      "p",
      { class: "run-meta" },
      when(run.created_at),
      ` · ${duration(ms)}`,
      usage.step_count !== undefined ? ` · ${usage.step_count} step(s)` : "",
      usage.total_tokens !== undefined
        ? ` · ${usage.prompt_tokens ?? 0} + ${usage.completion_tokens ?? 0} tokens`
        : "",
      run.stop_reason ? ` · ${run.stop_reason}` : "",
      run.attempts > 1 ? ` · attempt ${run.attempts}` : "",
    ),
    h("div", { class: "bar-track", "aria-hidden": "true" }, bar),
    run.error ? h("p", { class: "error-text" }, `${run.error.type || "error"}: ${run.error.message || ""}`) : null,
    nested.length ? h("ol", { class: "timeline nested", "aria-label": "Sleeptime runs it triggered" }, nested) : null,
  );
}
