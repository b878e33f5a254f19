// Letta messages (listed or streamed) as list items; a live log that grows as events come.

import { badge, h, replace, shortId, when } from "./dom.js";

export function textOf(content) {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part) => part.text ?? "").join("");
  return JSON.stringify(content);
}

function calls(message) {
  if (Array.isArray(message.tool_calls) && message.tool_calls.length) return message.tool_calls;
  return message.tool_call ? [message.tool_call] : [];
}

function callText(call) {
  return `${call.name ?? "tool"}(${call.arguments ?? ""})`;
}

const LABELS = {
  system_message: "system",
  user_message: "user",
  assistant_message: "assistant",
  reasoning_message: "reasoning",
  hidden_reasoning_message: "reasoning",
  tool_call_message: "tool call",
  tool_return_message: "tool result",
  approval_request_message: "approval request",
  approval_response_message: "approval",
  stop_reason: "stop",
  usage_statistics: "usage",
  error_message: "error",
};

/** The readable body of one message or stream event, or null for events not shown. */
export function bodyOf(message) {
  switch (message.message_type) {
    case "system_message":
      return h("details", {}, h("summary", {}, "System prompt"), h("pre", {}, textOf(message.content)));
    case "user_message":
    case "assistant_message":
      return h("p", { class: "text" }, textOf(message.content));
    case "reasoning_message":
      return h("p", { class: "text muted" }, message.reasoning ?? "");
    case "hidden_reasoning_message":
      return h("p", { class: "muted" }, "(hidden reasoning)");
    case "tool_call_message":
    case "approval_request_message":
      return calls(message).map((call) => h("code", { class: "call" }, callText(call)));
    case "tool_return_message":
      return [
        badge(message.status ?? "returned", message.status === "error" ? "failed" : "completed"),
        " ",
        h("code", { class: "call" }, textOf(message.tool_return)),
      ];
    case "approval_response_message":
      return h(
        "p",
        {},
        (message.approvals || [{ approve: message.approve, reason: message.reason }])
          .map((a) => (a.approve === false ? `denied${a.reason ? `: ${a.reason}` : ""}` : "approved"))
          .join("; "),
      );
    case "stop_reason":
      return badge(message.stop_reason, message.stop_reason);
    case "usage_statistics":
      return h(
        "p",
        { class: "muted" },
        `${message.step_count ?? 0} step(s) · ${message.prompt_tokens ?? 0} prompt + ` +
          `${message.completion_tokens ?? 0} completion tokens`,
      );
    case "error_message":
      return h("p", { class: "error-text" }, message.message ?? message.error_type ?? "error");
    default:
      return null;
  }
}

/** One message as a list item; ``showRun`` links its run (pointless inside one run's log). */
export function messageItem(message, showRun = true) {
  const body = bodyOf(message);
  if (body === null) return null;
  const kind = message.message_type;
  return h(
    "li",
    { class: `msg msg-${kind}`, dataset: { type: kind } },
    h(
      "div",
      { class: "msg-head" },
      h("span", { class: "msg-kind" }, LABELS[kind] ?? kind),
      message.name ? h("span", { class: "muted" }, message.name) : null,
      message.date ? when(message.date) : null,
      showRun && message.run_id
        ? h("a", { href: `#/runs/${encodeURIComponent(message.run_id)}`, class: "muted" }, shortId(message.run_id))
        : null,
    ),
    h("div", { class: "msg-body" }, body),
  );
}

/**
 * A list that shows a stream as it comes: chunks sharing an id and type (token deltas) are
 * merged into one item; pings are not shown.
 */
export class LiveLog {
  constructor(label) {
    this.list = h("ol", { class: "messages live", "aria-label": label, "aria-live": "polite" });
    this.merged = new Map();
  }

  add(event) {
    if (event.message_type === "ping") return;
    const key = event.id && event.message_type ? `${event.message_type}:${event.id}` : null;
    const previous = key ? this.merged.get(key) : undefined;
    const message = previous ? mergeDelta(previous.message, event) : event;
    const item = messageItem(message, false);
    if (item === null) return;
    if (previous) previous.item.replaceWith(item);
    else this.list.append(item);
    if (key) this.merged.set(key, { message, item });
  }

  clear() {
    replace(this.list);
    this.merged.clear();
  }
}

function mergeDelta(previous, delta) {
  const merged = { ...previous };
  if (delta.content !== undefined) merged.content = textOf(previous.content) + textOf(delta.content);
  if (delta.reasoning !== undefined) merged.reasoning = (previous.reasoning ?? "") + delta.reasoning;
  if (delta.tool_call && previous.tool_call) {
    merged.tool_call = {
      ...previous.tool_call,
      name: previous.tool_call.name ?? delta.tool_call.name,
      arguments: (previous.tool_call.arguments ?? "") + (delta.tool_call.arguments ?? ""),
    };
    merged.tool_calls = [merged.tool_call];
  }
  return merged;
}
