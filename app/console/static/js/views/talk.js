// The talk panel: send a message, watch the turn stream in, then watch each sleeptime run it
// triggered (followed through the run's stream) and see memory refresh when it ends.

import { get, stream } from "../api.js";
import { badge, failure, h, replace, shortId } from "../dom.js";
import { LiveLog } from "../messages.js";

export class Talk {
  constructor(view) {
    this.view = view;
    this.input = h("textarea", { id: "talk-input", rows: "3", required: true });
    this.button = h("button", { type: "submit" }, "Send");
    this.activity = h("div", { class: "activity" });
    const form = h(
      "form",
      {
        class: "talk-form",
        onsubmit: (event) => {
          event.preventDefault();
          const text = this.input.value.trim();
          if (!text) return;
          this.send({ messages: [{ role: "user", content: text }] }, `You: ${text}`).then((ok) => {
            if (ok) this.input.value = "";
          });
        },
      },
      h("label", { for: "talk-input" }, "Message"),
      this.input,
      this.button,
    );
    this.element = h(
      "aside",
      { class: "talk", "aria-labelledby": "talk-h" },
      h("h2", { id: "talk-h" }, "Send a message"),
      form,
      h("h3", { class: "activity-title" }, "Activity"),
      this.activity,
    );
  }

  /** Run one turn through the streaming route; true when it went through. */
  async send(body, title) {
    const signal = this.view.controller.signal;
    this.button.disabled = true;
    const log = new LiveLog("Turn events");
    const state = h("p", { class: "muted", role: "status" }, "Sending…");
    const heading = h("h4", {}, title);
    this.activity.prepend(h("section", { class: "turn", dataset: { kind: "turn" } }, heading, state, log.list));
    let sleeptime = [];
    let runId = null;
    try {
      await stream(
        "POST",
        `/v1/agents/${encodeURIComponent(this.view.id)}/messages/stream`,
        { ...body, stream_tokens: false },
        (event) => {
          if (!runId && event.run_id) {
            runId = event.run_id;
            replace(state, "Turn ", runLink(runId), " running…");
          }
          if (event.message_type === "usage_statistics") sleeptime = event.run_ids || [];
          if (event.message_type === "stop_reason") replace(state, "Turn ", runLink(runId), " ended: ", badge(event.stop_reason, event.stop_reason));
          log.add(event);
        },
        signal,
      );
    } catch (error) {
      if (signal.aborted) return false;
      replace(state, failure(error));
      return false;
    } finally {
      this.button.disabled = false;
    }
    await this.view.refresh();
    await Promise.all(sleeptime.map((id) => this.watch(id)));
    return true;
  }

  /** Follow a sleeptime run from its first stored event to its end, then refresh the page. */
  async watch(runId) {
    const signal = this.view.controller.signal;
    const url = `/v1/runs/${encodeURIComponent(runId)}`;
    const log = new LiveLog("Sleeptime run events");
    const state = h("p", { class: "muted", role: "status" }, "Sleeptime run ", runLink(runId), " queued…");
    this.activity.prepend(
      h("section", { class: "turn sleeptime", dataset: { kind: "sleeptime", run: runId } }, h("h4", {}, "Sleeptime run"), state, log.list),
    );
    try {
      const run = await get(url, signal);
      replace(state, "Sleeptime run ", runLink(runId), ` by ${this.view.nameOf(run.agent_id)}: following…`);
      await stream("GET", `${url}/stream?starting_after=0`, undefined, (event) => log.add(event), signal);
      const ended = await get(url, signal);
      replace(state, "Sleeptime run ", runLink(runId), " ended: ", badge(ended.status, ended.status));
      await this.view.refresh();
    } catch (error) {
      if (!signal.aborted) replace(state, failure(error));
    }
  }
}

function runLink(runId) {
  return runId ? h("a", { href: `#/runs/${encodeURIComponent(runId)}` }, shortId(runId)) : "";
}
