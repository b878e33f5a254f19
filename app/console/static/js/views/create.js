// A form to create an agent (with its sleeptime group by default), so a first session needs
// no code: create, talk, watch memory change.

import { api, get } from "../api.js";
import { failure, h, replace } from "../dom.js";

export function createForm(ctx) {
  const models = h("select", { id: "new-model", name: "model", required: true });
  const result = h("div", { role: "status" });
  const field = (id, label, control) =>
    h("div", { class: "field" }, h("label", { for: id }, label), control);
  const form = h(
    "form",
    {
      class: "create-form",
      onsubmit: async (event) => {
        event.preventDefault();
        const data = new FormData(form);
        const blocks = ["persona", "human"]
          .map((label) => ({ label, value: String(data.get(label) || "") }))
          .filter((block) => block.value.trim());
        const tags = String(data.get("tags") || "")
          .split(",")
          .map((tag) => tag.trim())
          .filter(Boolean);
        const submit = form.querySelector("button[type=submit]");
        submit.disabled = true;
        try {
          const agent = await api(
            "POST",
            "/v1/agents/",
            {
              name: String(data.get("name")).trim(),
              model: String(data.get("model")),
              memory_blocks: blocks,
              tags,
              enable_sleeptime: data.get("sleeptime") === "on",
            },
            ctx.signal,
          );
          ctx.navigate(`#/agents/${encodeURIComponent(agent.id)}`);
        } catch (error) {
          replace(result, failure(error));
          submit.disabled = false;
        }
      },
    },
    field("new-name", "Name", h("input", { id: "new-name", name: "name", required: true, autocomplete: "off" })),
    field("new-model", "Model", models),
    field("new-persona", "Persona", h("textarea", { id: "new-persona", name: "persona", rows: "2" }, "I am a helpful assistant.")),
    field("new-human", "Human", h("textarea", { id: "new-human", name: "human", rows: "2" })),
    field("new-tags", "Tags (comma-separated)", h("input", { id: "new-tags", name: "tags", autocomplete: "off" })),
    h(
      "label",
      { class: "check" },
      h("input", { type: "checkbox", name: "sleeptime", checked: true }),
      " With a sleeptime agent that rewrites memory after turns",
    ),
    h("button", { type: "submit" }, "Create agent"),
    result,
  );
  get("/v1/models/", ctx.signal)
    .then((list) => replace(models, list.map((m) => h("option", { value: m.handle }, m.handle))))
    .catch((error) => replace(result, failure(error)));
  return h("details", { class: "card create" }, h("summary", {}, "New agent"), form);
}
