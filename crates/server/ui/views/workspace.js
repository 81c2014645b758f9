// A session's workspace: the conversation and composer in the middle,
// branches and suggested flows on the left, the fix, the task lane and
// "What we know" on the right. The session's event stream keeps it
// current; a turn the engineer sends streams over its own POST.

import { api, streamTurn } from "../api.js";
import { h, replace, announce, randomKey, time, plural } from "../dom.js";
import { renderMarkdown } from "../markdown.js";
import { Attachments } from "../attachments.js";
import { taskLane, taskResponses, factsPanel, fixCard, branchesPanel, flowsPanel } from "./panels.js";

const DEFAULT_ANSWER_TEXT = "Here are my results for the open questions and checks.";
const DEFAULT_IMAGE_TEXT = "See the attached screenshot.";

export async function workspaceScreen(main, ctx, id) {
  const ws = new Workspace(main, ctx, id);
  await ws.start();
  return () => ws.stop();
}

class Workspace {
  constructor(main, ctx, id) {
    this.main = main;
    this.ctx = ctx;
    this.id = id;
    this.view = null;
    this.turns = [];
    this.suggestedFlows = [];
    this.responses = new Map(); // task-lane item id → {status, answer}
    this.drafts = new Map();    // text typed in a panel's box, kept across re-renders
    this.streaming = null;      // {key, abort, turnId}
    this.live = null;           // a turn another tab is running: {text}
    this.failure = null;        // {message, code}
    this.refreshTimer = null;
    this.refreshWanted = false;
    this.draftKey = `flowpilot.draft.${id}`;
  }

  async start() {
    await this.load();
    this.build();
    this.render();
    this.subscribe();
    const first = sessionStorage.getItem(`flowpilot.first.${this.id}`);
    const firstImages = sessionStorage.getItem(`flowpilot.first.images.${this.id}`);
    sessionStorage.removeItem(`flowpilot.first.${this.id}`);
    sessionStorage.removeItem(`flowpilot.first.images.${this.id}`);
    if (first && this.turns.length === 0) {
      this.composer.value = first;
      if (firstImages) this.attachments.restore(JSON.parse(firstImages));
      this.saveDraft();
      this.send();
    } else {
      this.composer.focus();
    }
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.refreshTimer);
    if (this.events) this.events.close();
    // A turn in flight goes on server-side and is stored; only our view of it ends.
    if (this.streaming) this.streaming.abort.abort();
  }

  async load() {
    const [view, turns] = await Promise.all([
      api("GET", `/sessions/${this.id}`),
      api("GET", `/sessions/${this.id}/turns`),
    ]);
    this.view = view;
    this.turns = turns.items;
    // Answers to items no longer in the lane mean nothing now.
    const ids = new Set([...view.task_lane.questions, ...view.task_lane.actions].map((i) => i.id));
    for (const key of this.responses.keys()) if (!ids.has(key)) this.responses.delete(key);
  }

  /** Reloads soon, once, and never under a reply being streamed. */
  refreshSoon(delay = 150) {
    if (this.streaming) { this.refreshWanted = true; return; }
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.refresh(), delay);
  }

  async refresh() {
    if (this.stopped) return;
    try {
      await this.load();
      this.render();
    } catch (e) {
      if (e.status === 404) { announce("This session no longer exists.", "error"); this.ctx.go("#/sessions"); return; }
      announce(e.message, "error");
    }
  }

  /** Runs a write, reports its error, refreshes. */
  async act(fn, done) {
    let ok = false;
    try {
      await fn();
      ok = true;
      if (done) announce(done);
    } catch (e) {
      announce(e.status === 409 ? `${e.message} (the page was refreshed: check and try again)` : e.message, "error");
    }
    await this.refresh();
    return ok;
  }

  /** A text box whose value survives re-renders (kept under `key`). */
  draftBox(key, attrs) {
    const box = h("textarea", { ...attrs, value: this.drafts.get(key) ?? "",
      oninput: () => { if (box.value) this.drafts.set(key, box.value); else this.drafts.delete(key); } });
    return box;
  }

  // ---- layout --------------------------------------------------------

  build() {
    this.head = h("div", { class: "ws-head" });
    this.left = h("aside", { class: "ws-left", "aria-label": "Branches and suggested flows" });
    this.right = h("aside", { class: "ws-right", "aria-label": "Fix, task lane and what we know" });
    this.conversation = h("ol", { class: "conversation", "data-testid": "conversation", "aria-label": "Conversation" });
    this.liveTurn = h("div", { class: "live-turn", "aria-live": "polite", "data-testid": "live-turn" });
    this.failureBox = h("div", { class: "failure-box", "data-testid": "turn-failure" });
    this.composer = h("textarea", {
      id: "composer", rows: 3, "data-testid": "composer",
      placeholder: "Describe what you see, or ask… (Enter sends, Shift+Enter for a new line)",
      oninput: () => this.saveDraft(),
      onkeydown: (e) => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); }
      },
    });
    this.composer.value = localStorage.getItem(this.draftKey) || "";
    this.attachments = new Attachments();
    this.attachments.bind(this.composer);
    this.attachments.onchange = () => this.renderComposerState();
    const [picker, attach] = this.attachments.picker("attach", "attach-input");
    this.sendButton = h("button", { type: "submit", "data-testid": "send" }, "Send");
    this.stopButton = h("button", { type: "button", class: "ghost", hidden: true, "data-testid": "stop",
      onclick: () => this.stopTurn() }, "Stop");
    this.responsesNote = h("span", { class: "muted", "data-testid": "responses-note" });
    const form = h("form", { class: "composer", "data-testid": "composer-form" },
      h("label", { for: "composer", class: "visually-hidden" }, "Message"),
      this.composer,
      this.attachments.el,
      h("div", { class: "row" }, picker, attach, this.responsesNote, h("span", { class: "spacer" }), this.stopButton, this.sendButton));
    form.addEventListener("submit", (e) => { e.preventDefault(); this.send(); });
    this.connection = h("span", { class: "connection muted", "data-testid": "live-status", role: "status" });
    this.chatScroll = h("div", { class: "chat-scroll", tabindex: 0, role: "region", "aria-label": "Messages" },
      this.conversation, this.liveTurn);
    const chat = h("section", { class: "ws-chat", "aria-label": "Chat" }, this.chatScroll, this.failureBox, form);
    replace(this.main, h("div", { class: "workspace", "data-testid": "workspace" },
      this.head, this.left, chat, this.right));
  }

  render() {
    // Re-rendering replaces the panels: keep the engineer's place in them.
    const focus = focusPlace();
    const s = this.view.session;
    this.main.dataset.title = s.title;
    document.title = `${s.title} — FlowPilot`;
    this.renderHead(s);
    this.renderConversation();
    replace(this.left, branchesPanel(this), flowsPanel(this));
    replace(this.right, fixCard(this), taskLane(this), factsPanel(this));
    this.renderComposerState();
    restoreFocus(this.main, focus);
  }

  renderHead(s) {
    const patch = (status, done) => this.act(
      () => api("PATCH", `/sessions/${this.id}`, { status, state_version: s.state_version }), done);
    const button = (label, status, testid, done) =>
      h("button", { type: "button", class: "ghost", "data-testid": testid, onclick: () => patch(status, done) }, label);
    const open = s.status === "active" || s.status === "paused";
    replace(this.head,
      h("div", { class: "ws-title" },
        h("h1", { "data-testid": "session-title" }, s.title || "(untitled)"),
        h("span", { class: `badge status-${s.status}`, "data-testid": "session-status" }, s.status),
        s.problem_summary ? h("p", { class: "muted summary" }, s.problem_summary) : null),
      h("div", { class: "ws-actions", role: "group", "aria-label": "Session" },
        this.connection,
        s.status === "active" ? button("Pause", "paused", "pause-session", "Session paused.") : null,
        s.status === "paused" ? button("Resume", "active", "resume-session", "Session resumed.") : null,
        open ? button("Resolve", "resolved", "resolve-session", "Session resolved.") : null,
        open ? button("Close", "closed", "close-session", "Session closed.") : null,
        !open ? button("Reopen", "active", "reopen-session", "Session reopened.") : null,
        h("a", { class: "button ghost", href: `/api/v1/sessions/${this.id}/report`,
          download: `flowpilot-session-${this.id.slice(0, 8)}.md`, "data-testid": "export-report" }, "Export report")));
  }

  /** The turns on the path to the active branch (all of them before a fork). */
  visibleTurns() {
    const s = this.view.session;
    if (!s.is_branching || !s.active_branch_id) return this.turns;
    const byId = new Map(this.view.branches.map((b) => [b.id, b]));
    const path = new Set();
    for (let b = byId.get(s.active_branch_id); b; b = byId.get(b.parent_branch_id)) path.add(b.id);
    return this.turns.filter((t) => !t.branch_id || path.has(t.branch_id));
  }

  renderConversation() {
    const turns = this.visibleTurns();
    const hidden = this.turns.length - turns.length;
    const branches = new Map(this.view.branches.map((b) => [b.id, b]));
    replace(this.conversation,
      turns.length === 0 && !this.streaming
        ? h("li", { class: "muted empty" }, "No messages yet. Describe the problem and press Enter.") : null,
      turns.map((t) => turnItem(t, branches.get(t.branch_id))),
      hidden ? h("li", { class: "muted" }, `${plural(hidden, "turn")} on other branches are not shown.`) : null);
    this.scrollDown();
  }

  scrollDown() {
    const el = this.chatScroll;
    requestAnimationFrame(() => { el.scrollTop = el.scrollHeight; });
  }

  renderComposerState() {
    const s = this.view.session;
    const open = s.status === "active" || s.status === "paused";
    const busy = Boolean(this.streaming || this.live);
    this.composer.disabled = !open;
    if (!open) this.composer.placeholder = `This session is ${s.status}: reopen it to continue.`;
    this.sendButton.disabled = !open || busy;
    this.stopButton.hidden = !this.streaming && !this.live;
    const answered = taskResponses(this).filter((r) => r.status !== "pending").length;
    this.responsesNote.textContent = answered
      ? `${plural(answered, "task-lane answer")} will go with this message.` : "";
  }

  renderFailure() {
    if (!this.failure) return replace(this.failureBox);
    replace(this.failureBox, h("div", { class: "failure", role: "alert" },
      h("strong", {}, "The assistant could not answer. "),
      h("span", { "data-testid": "turn-failure-message" }, this.failure.message),
      h("p", { class: "muted" }, "Your message is still in the box below."),
      h("button", { type: "button", "data-testid": "retry", onclick: () => this.send() }, "Retry"),
      h("button", { type: "button", class: "ghost", onclick: () => { this.failure = null; this.renderFailure(); } }, "Dismiss")));
  }

  saveDraft() {
    if (this.composer.value) localStorage.setItem(this.draftKey, this.composer.value);
    else localStorage.removeItem(this.draftKey);
  }

  // ---- sending a message ---------------------------------------------

  async send() {
    if (this.streaming || this.live) return;
    const responses = taskResponses(this);
    let text = this.composer.value.trim();
    const images = this.attachments.images();
    if (!text && responses.some((r) => r.status !== "pending")) text = DEFAULT_ANSWER_TEXT;
    if (!text && images.length) text = DEFAULT_IMAGE_TEXT;
    if (!text) { this.composer.focus(); return; }
    const body = { text };
    if (responses.length) body.task_responses = responses;
    if (images.length) body.images = images;
    // A fresh key per attempt: a retry after a failure is a new turn.
    this.streaming = { key: randomKey(), abort: new AbortController(), turnId: null };
    this.failure = null;
    this.renderFailure();
    const bubble = h("div", { class: "assistant streaming", "data-testid": "streaming-reply" });
    replace(this.liveTurn, h("div", { class: "user-message" }, text,
      images.length ? h("span", { class: "hint" }, ` (+${plural(images.length, "image")})`) : null), bubble);
    this.renderComposerState();
    this.scrollDown();
    let shown = "";
    let frame = 0;
    const paint = () => {
      frame = 0;
      replace(bubble, renderMarkdown(shown));
      this.scrollDown();
    };
    try {
      const result = await streamTurn(this.id, body, this.streaming.key, (event, data) => {
        if (event === "turn.started") this.streaming.turnId = data.turn_id;
        if (event === "display.delta") {
          shown += data.text;
          if (!frame) frame = requestAnimationFrame(paint);
        }
      }, this.streaming.abort.signal);
      this.composer.value = "";
      this.saveDraft();
      this.responses.clear();
      this.attachments.clear();
      this.suggestedFlows = result.suggested_flows || [];
      if (result.turn?.status === "stopped") announce("Stopped. The text so far was kept.");
      if (result.turn?.status === "failed" && result.turn.error) {
        this.failure = { message: result.turn.error.message, code: result.turn.error.code };
      }
    } catch (e) {
      if (this.stopped) return;
      this.failure = { message: e.message, code: e.code };
    } finally {
      cancelAnimationFrame(frame);
      this.streaming = null;
      if (!this.stopped) {
        replace(this.liveTurn);
        this.renderFailure();
        this.refreshWanted = false;
        await this.refresh();
        this.composer.focus();
      }
    }
  }

  async stopTurn() {
    try {
      await api("POST", `/sessions/${this.id}/stop`);
    } catch (e) {
      if (e.status !== 409) announce(e.message, "error");
    }
  }

  // ---- live updates ----------------------------------------------------

  subscribe() {
    // EventSource reconnects by itself and sends Last-Event-ID, so no
    // event is missed across a dropped connection or a server restart.
    const es = new EventSource(`/api/v1/sessions/${this.id}/events`);
    this.events = es;
    const on = (name, fn) => es.addEventListener(name, (e) => {
      let data = null;
      try { data = JSON.parse(e.data); } catch { return; }
      fn(data);
    });
    es.onopen = () => { this.connection.textContent = "Live"; };
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        replace(this.connection, "Live updates stopped. ",
          h("button", { type: "button", class: "link", "data-testid": "reconnect",
            onclick: () => { es.close(); this.subscribe(); this.refreshSoon(0); } }, "Reconnect"));
      } else {
        this.connection.textContent = "Reconnecting…";
      }
    };
    // Another tab's (or another engineer's) turn, shown as it is written.
    on("turn.started", () => {
      if (this.streaming) return;
      this.live = { text: "" };
      replace(this.liveTurn, h("div", { class: "assistant streaming" }, "…"));
      this.renderComposerState();
    });
    on("display.delta", (data) => {
      if (this.streaming || !this.live) return;
      this.live.text += data.text;
      replace(this.liveTurn, h("div", { class: "assistant streaming" }, renderMarkdown(this.live.text)));
      this.scrollDown();
    });
    const ended = () => {
      if (this.streaming) return;
      this.live = null;
      replace(this.liveTurn);
      this.refreshSoon(0);
    };
    on("turn.completed", ended);
    on("turn.failed", ended);
    on("session.changed", () => this.refreshSoon());
  }
}

/** Where the focus is, by test id and the item it belongs to. */
function focusPlace() {
  const el = document.activeElement;
  const testid = el?.getAttribute?.("data-testid");
  if (!testid || el.id === "composer") return null;
  const item = el.closest("[data-item-id], [data-branch-id]");
  const owner = item ? `[data-item-id="${item.dataset.itemId ?? ""}"], [data-branch-id="${item.dataset.branchId ?? ""}"]` : null;
  return { testid, owner, end: el.selectionEnd ?? null };
}

function restoreFocus(root, place) {
  if (!place) return;
  const scope = place.owner ? root.querySelector(place.owner) : root;
  const el = scope?.querySelector(`[data-testid="${place.testid}"]`);
  if (!el) return;
  el.focus();
  if (place.end !== null && typeof el.setSelectionRange === "function") el.setSelectionRange(place.end, place.end);
}

function turnItem(t, branch) {
  const user = h("div", { class: "user-message" }, t.text ?? t.user_message);
  const responses = t.task_responses?.length
    ? h("ul", { class: "responses" }, t.task_responses.map((r) =>
      h("li", {}, h("span", { class: "muted" }, `${r.kind === "action" ? "Check" : "Question"}: `), r.text, " — ",
        h("strong", {}, r.status), r.answer ? `: ${r.answer}` : ""))) : null;
  const reply = h("div", { class: "assistant" }, renderMarkdown(t.display));
  const notes = [];
  if (t.status === "failed") notes.push(h("p", { class: "error" }, "No answer: ", t.error?.message ?? "the assistant failed."));
  if (t.status === "incomplete") notes.push(h("p", { class: "warning" }, "The reply broke off; what arrived is kept, its suggestions were not applied."));
  if (t.status === "stopped") notes.push(h("p", { class: "muted" }, "Stopped before the end."));
  return h("li", { class: `turn turn-${t.status}`, "data-testid": "turn", "data-turn-id": t.id },
    h("div", { class: "turn-meta muted" }, time(t.created_at),
      branch && !branch.is_root ? h("span", { class: "badge" }, branch.label) : null,
      t.images?.length ? h("span", { "data-testid": "turn-images" },
        `${plural(t.images.length, "image")} attached`) : null),
    user, responses, t.display ? reply : null, notes);
}
