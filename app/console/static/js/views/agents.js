// The agents list: search by name, filter by tags, page through.

import { get, path } from "../api.js";
import { badge, failure, h, loading, replace, when } from "../dom.js";
import { createForm } from "./create.js";

const PAGE = 50;

export async function render(main, ctx) {
  document.title = "Agents · sleeptime console";
  const text = ctx.query.get("q") || "";
  const chosen = new Set(ctx.query.getAll("tag"));
  const tagBox = h("fieldset", { class: "tags" }, h("legend", {}, "Tags"), loading("tags"));
  const search = h("input", {
    id: "agent-search",
    type: "search",
    name: "q",
    value: text,
    placeholder: "part of a name",
  });
  const form = h(
    "form",
    {
      class: "filters",
      role: "search",
      "aria-label": "Find agents",
      onsubmit: (event) => {
        event.preventDefault();
        const tags = [...form.querySelectorAll("input[name=tag]:checked")].map((i) => i.value);
        ctx.navigate(path("#/agents", { q: search.value.trim(), tag: tags }));
      },
    },
    h("div", { class: "field" }, h("label", { for: "agent-search" }, "Search by name"), search),
    tagBox,
    h("button", { type: "submit" }, "Search"),
  );
  const table = h("div", { class: "agents" }, loading("agents"));
  replace(main, h("h1", {}, "Agents"), createForm(ctx), form, table);

  get("/v1/tags/?limit=200", ctx.signal)
    .then((tags) => fillTags(tagBox, tags, chosen))
    .catch((error) => replace(tagBox, h("legend", {}, "Tags"), failure(error)));
  await listAgents(table, { query_text: text, tags: [...chosen], match_all_tags: true }, ctx);
}

function fillTags(box, tags, chosen) {
  const items = tags.map((tag) =>
    h(
      "label",
      { class: "chip" },
      h("input", { type: "checkbox", name: "tag", value: tag, checked: chosen.has(tag) }),
      tag,
    ),
  );
  replace(box, h("legend", {}, "Tags"), items.length ? items : h("span", { class: "muted" }, "none yet"));
}

async function listAgents(container, filters, ctx) {
  const rows = h("tbody");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");
  const table = h(
    "table",
    { class: "list" },
    h("caption", { class: "visually-hidden" }, "Agents"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Name", "Type", "Model", "Tags", "Sleeptime", "Last run", "Created"].map((c) =>
          h("th", { scope: "col" }, c),
        ),
      ),
    ),
    rows,
  );
  let after = null;
  const load = async () => {
    more.disabled = true;
    const page = await get(
      path("/v1/agents/", { ...filters, limit: PAGE, order: "desc", after }),
      ctx.signal,
    );
    rows.append(...page.map(row));
    after = page.length ? page[page.length - 1].id : after;
    more.hidden = page.length < PAGE;
    more.disabled = false;
    if (!rows.children.length) replace(container, h("p", { class: "muted" }, "No agents match."));
  };
  more.addEventListener("click", () => load().catch((e) => container.append(failure(e))));
  replace(container, table, more);
  await load();
}

function row(agent) {
  const pending = agent.last_stop_reason === "requires_approval"
    ? h("a", { href: `#/agents/${encodeURIComponent(agent.id)}/approvals` }, badge("awaiting approval", "pending"))
    : null;
  return h(
    "tr",
    {},
    h(
      "th",
      { scope: "row" },
      h("a", { href: `#/agents/${encodeURIComponent(agent.id)}` }, agent.name),
      " ",
      pending,
    ),
    h("td", {}, badge(agent.agent_type, "type")),
    h("td", {}, agent.model || "—"),
    h("td", {}, agent.tags.length ? agent.tags.map((t) => badge(t, "tag")) : "—"),
    h("td", {}, agent.enable_sleeptime ? "on" : "off"),
    h("td", {}, agent.last_stop_reason || "—"),
    h("td", {}, when(agent.created_at)),
  );
}
