// The agent's memory blocks, each with its full history as diffs and who made each change.

import { get } from "../api.js";
import { diffLines } from "../diff.js";
import { badge, h, replace, shortId, when } from "../dom.js";

const HISTORY = 100;

export async function render(el, view, signal) {
  const blocks = [...view.agent.blocks].sort((a, b) => a.label.localeCompare(b.label));
  const histories = await Promise.all(
    blocks.map((b) => get(`/v1/blocks/${encodeURIComponent(b.id)}/history?limit=${HISTORY}`, signal)),
  );
  if (!blocks.length) {
    replace(el, h("p", { class: "muted" }, "This agent has no memory blocks."));
    return;
  }
  replace(
    el,
    h("h2", { class: "visually-hidden" }, "Memory"),
    blocks.map((block, i) => blockCard(block, histories[i], view)),
  );
}

function blockCard(block, history, view) {
  const id = `block-${block.id}`;
  const last = history[0];
  return h(
    "article",
    { class: "card block", "aria-labelledby": id, dataset: { label: block.label } },
    h(
      "header",
      { class: "card-head" },
      h("h3", { id }, block.label),
      h(
        "span",
        { class: "muted" },
        `v${block.version} · ${block.value.length} / ${block.limit} characters`,
      ),
      block.read_only ? badge("read-only", "readonly") : null,
    ),
    block.description ? h("p", { class: "muted" }, block.description) : null,
    h("pre", { class: "value", "aria-label": `${block.label} value` }, block.value || " "),
    last
      ? h("p", { class: "changed" }, "Last changed ", when(last.created_at), " by ", who(last, view))
      : null,
    h(
      "details",
      {
        class: "history",
        open: view.openHistories.has(block.id),
        ontoggle: (event) => {
          if (event.target.open) view.openHistories.add(block.id);
          else view.openHistories.delete(block.id);
        },
      },
      h("summary", {}, `History (${history.length}${history.length === HISTORY ? "+" : ""} versions)`),
      h("ol", { class: "versions", reversed: true }, history.map((entry, i) => version(entry, history[i + 1], view))),
    ),
  );
}

/** Who made a change: the API, the primary agent or a sleeptime agent, with its run. */
export function who(entry, view) {
  if (entry.actor_type === "api" || !entry.agent_id) return h("strong", {}, "the API");
  const name = view.nameOf(entry.agent_id);
  const role = entry.agent_id === view.agent.id ? "agent" : "sleeptime agent";
  return h(
    "span",
    {},
    `${role} `,
    h("strong", {}, name),
    entry.run_id
      ? [" in run ", h("a", { href: `#/runs/${encodeURIComponent(entry.run_id)}` }, shortId(entry.run_id))]
      : null,
  );
}

function version(entry, previous, view) {
  const lines = previous
    ? diffLines(previous.value, entry.value)
    : entry.value.split("\n").map((text) => ({ op: previous === undefined && entry.version === 1 ? "add" : "same", text }));
  return h(
    "li",
    { class: "version" },
    h("p", { class: "version-head" }, h("strong", {}, `v${entry.version}`), " · ", when(entry.created_at), " · ", who(entry, view)),
    h(
      "pre",
      { class: "diff", "aria-label": `changes in version ${entry.version}` },
      lines.map(diffLine),
    ),
  );
}

function diffLine(line) {
  if (line.op === "add") return h("ins", {}, h("span", { class: "sign", "aria-hidden": "true" }, "+"), line.text, "\n");
  if (line.op === "del") return h("del", {}, h("span", { class: "sign", "aria-hidden": "true" }, "−"), line.text, "\n");
  return h("span", { class: "same" }, h("span", { class: "sign", "aria-hidden": "true" }, " "), line.text, "\n");
}
