// The console's entry: the API key form, and a hash router that shows one view at a time.

import { apiKey, setApiKey } from "./api.js";
import { failure, notice, replace } from "./dom.js";
import { AgentView } from "./views/agent.js";
import * as agents from "./views/agents.js";
import * as run from "./views/run.js";
import * as runs from "./views/runs.js";

const main = document.getElementById("main");
let current = null; // the view on screen: {accepts(parts), show(parts), destroy()}

function parse() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [route, query = ""] = raw.split("?");
  const parts = route.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(query) };
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

/** A view for a plain page: rendered once, its requests aborted when it goes. */
function page(renderer) {
  const controller = new AbortController();
  return {
    accepts: () => false,
    destroy: () => controller.abort(),
    start: (parts, query) => renderer({ parts, query, signal: controller.signal, navigate }),
  };
}

function create(parts) {
  const [first, id, tab] = parts;
  if (first === "agents" && id) {
    const view = new AgentView(main, id, navigate);
    return { accepts: (p) => view.accepts(p), destroy: () => view.destroy(), start: () => view.start(tab || "memory"), show: (p) => view.show(p[2] || "memory") };
  }
  if (!first || (first === "agents" && !id)) return page((ctx) => agents.render(main, ctx));
  if (first === "runs" && !id) return page((ctx) => runs.renderAll(main, ctx));
  if (first === "runs") return page((ctx) => run.render(main, id, ctx));
  return page(() => replace(main, notice("There is no such page.", "error")));
}

async function route() {
  const { parts, query } = parse();
  if (current?.accepts(parts)) {
    await current.show(parts);
    return;
  }
  current?.destroy();
  const view = create(parts);
  current = view;
  main.focus({ preventScroll: true });
  try {
    await view.start(parts, query);
  } catch (error) {
    if (current !== view || error.name === "AbortError") return;
    replace(main, error.status === 401 ? keyNeeded(error) : failure(error));
  }
}

function keyNeeded(error) {
  if (apiKey()) return notice(`The server refused this key (${error.detail}): type another above.`, "error");
  return notice("This server needs an API key: type one in the API key field above.", "error");
}

function keyForm() {
  const form = document.getElementById("key-form");
  const input = document.getElementById("api-key");
  const state = document.getElementById("key-state");
  const draw = () => {
    replace(state, apiKey() ? "key kept for this tab" : "no key");
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey(input.value.trim());
    input.value = "";
  });
  document.getElementById("key-forget").addEventListener("click", () => setApiKey(""));
  window.addEventListener("console:key", () => {
    draw();
    current?.destroy();
    current = null;
    route();
  });
  window.addEventListener("console:unauthorized", () => input.focus());
  draw();
}

keyForm();
window.addEventListener("hashchange", route);
route();
