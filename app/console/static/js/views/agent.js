// One agent: a header, tabs (memory, conversation, runs, group, approvals) and, beside them,
// the talk panel. Switching tabs keeps the talk panel (and what it is watching) alive.

import { get } from "../api.js";
import { badge, failure, h, loading, replace } from "../dom.js";
import * as approvals from "./approvals.js";
import * as conversation from "./conversation.js";
import * as group from "./group.js";
import * as memory from "./memory.js";
import * as runs from "./runs.js";
import { Talk } from "./talk.js";

const TABS = [
  ["memory", "Memory", memory],
  ["conversation", "Conversation", conversation],
  ["runs", "Runs", runs],
  ["group", "Group", group],
  ["approvals", "Approvals", approvals],
];

export class AgentView {
  constructor(main, agentId, navigate) {
    this.main = main;
    this.id = agentId;
    this.navigate = navigate;
    this.controller = new AbortController();
    this.tab = null;
    this.tabController = null;
    this.agent = null;
    this.names = new Map();
    this.openHistories = new Set(); // blocks whose history stays open across refreshes
  }

  accepts(parts) {
    return parts[0] === "agents" && parts[1] === this.id;
  }

  destroy() {
    this.controller.abort();
    this.tabController?.abort();
  }

  async start(tab) {
    replace(this.main, loading("the agent"));
    await this.loadAgent();
    this.header = h("div", { class: "agent-head" });
    this.tabs = h("nav", { class: "tabs", "aria-label": "Agent views" });
    this.content = h("section", { class: "tab-content", tabindex: "-1" });
    this.talk = new Talk(this);
    replace(
      this.main,
      h("nav", { class: "crumbs", "aria-label": "Breadcrumbs" }, h("a", { href: "#/agents" }, "Agents"), " / ", this.agent.name),
      this.header,
      h("div", { class: "agent-layout" }, h("div", { class: "agent-main" }, this.tabs, this.content), this.talk.element),
    );
    this.drawHeader();
    await this.show(tab);
  }

  async loadAgent() {
    this.agent = await get(`/v1/agents/${encodeURIComponent(this.id)}`, this.controller.signal);
    this.group = this.agent.managed_group || this.agent.multi_agent_group || null;
    this.names.set(this.agent.id, this.agent.name);
    const members = (this.group?.agent_ids || []).filter((id) => !this.names.has(id));
    const loaded = await Promise.all(
      members.map((id) => get(`/v1/agents/${encodeURIComponent(id)}`, this.controller.signal)),
    );
    for (const member of loaded) this.names.set(member.id, member.name);
    document.title = `${this.agent.name} · sleeptime console`;
  }

  /** Every agent whose runs belong on this page: the agent and its sleeptime agents. */
  agentIds() {
    return [this.agent.id, ...(this.group?.agent_ids || []).filter((id) => id !== this.agent.id)];
  }

  drawHeader() {
    const a = this.agent;
    replace(
      this.header,
      h("h1", {}, a.name),
      h(
        "p",
        { class: "meta" },
        badge(a.agent_type, "type"),
        " ",
        h("span", {}, a.model || "no model"),
        " · ",
        h("code", {}, a.id),
        " · sleeptime ",
        a.enable_sleeptime ? "on" : "off",
        a.tags.length ? [" · ", a.tags.map((t) => badge(t, "tag"))] : null,
      ),
      a.description ? h("p", { class: "muted" }, a.description) : null,
    );
    this.drawTabs();
  }

  drawTabs() {
    const pending = this.agent.last_stop_reason === "requires_approval";
    replace(
      this.tabs,
      TABS.map(([key, label]) =>
        h(
          "a",
          {
            href: `#/agents/${encodeURIComponent(this.id)}/${key}`,
            "aria-current": key === this.tab ? "page" : null,
          },
          label,
          key === "approvals" && pending ? [" ", badge("waiting", "pending")] : null,
        ),
      ),
    );
  }

  async show(tab) {
    const entry = TABS.find(([key]) => key === tab);
    if (!entry) {
      replace(this.content, failure(`No view named ${tab}`));
      return;
    }
    this.tab = tab;
    this.drawTabs();
    await this.renderTab();
  }

  async renderTab() {
    this.tabController?.abort();
    const controller = new AbortController();
    this.tabController = controller;
    const signal = AbortSignal.any([controller.signal, this.controller.signal]);
    const [, label, module] = TABS.find(([key]) => key === this.tab);
    replace(this.content, loading(label.toLowerCase()));
    try {
      await module.render(this.content, this, signal);
    } catch (error) {
      if (!signal.aborted) replace(this.content, failure(error));
    }
  }

  /** Reload the agent and the open tab (after a turn, a sleeptime run, an approval). */
  async refresh() {
    try {
      await this.loadAgent();
    } catch (error) {
      if (!this.controller.signal.aborted) replace(this.content, failure(error));
      return;
    }
    this.drawHeader();
    await this.renderTab();
  }

  nameOf(agentId) {
    return this.names.get(agentId) || agentId;
  }
}
