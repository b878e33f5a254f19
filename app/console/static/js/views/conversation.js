// The agent's messages, oldest first, with older pages loaded on demand.

import { get, path } from "../api.js";
import { failure, h, replace } from "../dom.js";
import { messageItem } from "../messages.js";

const PAGE = 50;

export async function render(el, view, signal) {
  const list = h("ol", { class: "messages", "aria-label": "Messages" });
  const older = h("button", { type: "button", class: "secondary", hidden: true }, "Load older messages");
  let oldest = null;
  const load = async () => {
    const url = path(`/v1/agents/${encodeURIComponent(view.id)}/messages`, {
      limit: PAGE,
      order: "desc",
      before: oldest,
    });
    const page = await get(url, signal);
    const items = [...page].reverse().map(messageItem).filter(Boolean);
    list.prepend(...items);
    if (page.length) oldest = page[page.length - 1].id;
    older.hidden = page.length < PAGE;
  };
  older.addEventListener("click", () => load().catch((e) => el.append(failure(e))));
  await load();
  replace(
    el,
    h("h2", { class: "visually-hidden" }, "Conversation"),
    older,
    list.children.length ? list : h("p", { class: "muted" }, "No messages yet."),
  );
}
