// The sessions list: search by title, filter by status, open one; and a
// new session from the problem text.

import { api } from "../api.js";
import { h, replace, field, time, randomKey, announce } from "../dom.js";
import { Attachments } from "../attachments.js";

const STATUSES = ["", "active", "paused", "resolved", "closed"];

export async function sessionsScreen(main, ctx) {
  main.dataset.title = "Sessions";
  const q = h("input", { type: "search", placeholder: "Search titles", "data-testid": "session-search" });
  const status = h("select", { "data-testid": "session-status-filter" },
    STATUSES.map((s) => h("option", { value: s }, s ? s[0].toUpperCase() + s.slice(1) : "Any status")));
  const list = h("ul", { class: "session-list", "data-testid": "session-list", "aria-live": "polite" });
  const problem = h("textarea", { rows: 4, required: true, "data-testid": "new-session-text",
    placeholder: "e.g. Outlook keeps prompting for a password for every user at one client since this morning" });
  const error = h("p", { class: "error", role: "alert" });
  const attachments = new Attachments("new-session-attachments");
  attachments.bind(problem);
  const picker = attachments.picker("new-session-attach", "new-session-attach-input");
  const start = h("button", { type: "submit", "data-testid": "new-session-submit" }, "Start session");
  const key = randomKey(); // one per visit: a double click opens one session
  const create = h("form", { class: "panel", "data-testid": "new-session" },
    h("h2", {}, "New session"), field("What is the problem?", problem,
      "Paste or drop screenshots into the box, or attach them."),
    attachments.el, error,
    h("div", { class: "row" }, start, picker));
  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!problem.value.trim()) { error.textContent = "Describe the problem first."; return; }
    start.disabled = true;
    try {
      const { session } = await api("POST", "/sessions", { text: problem.value }, { "Idempotency-Key": key });
      // The workspace sends the problem as the first message.
      sessionStorage.setItem(`flowpilot.first.${session.id}`, problem.value);
      if (attachments.items.length) {
        try {
          sessionStorage.setItem(`flowpilot.first.images.${session.id}`, JSON.stringify(attachments.saved()));
        } catch {
          announce("The screenshots are too large to carry over: attach them to your next message.", "error");
        }
      }
      ctx.go(`#/sessions/${session.id}`);
    } catch (e) {
      error.textContent = e.message;
      start.disabled = false;
    }
  });
  problem.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) create.requestSubmit();
  });

  let timer = null;
  let seq = 0;
  async function load() {
    const mine = ++seq;
    const params = new URLSearchParams();
    if (q.value.trim()) params.set("q", q.value.trim());
    if (status.value) params.set("status", status.value);
    const page = await api("GET", `/sessions?${params}`);
    if (mine !== seq) return; // a newer search answered first
    replace(list, page.items.length ? page.items.map(row)
      : h("li", { class: "muted", "data-testid": "session-list-empty" }, "No sessions match."));
  }
  const reload = () => { clearTimeout(timer); timer = setTimeout(() => load().catch(showError), 200); };
  const showError = (e) => replace(list, h("li", { class: "error", role: "alert" }, e.message));
  q.addEventListener("input", reload);
  status.addEventListener("change", reload);

  replace(main, h("div", { class: "sessions-screen" },
    create,
    h("section", { class: "panel", "aria-labelledby": "sessions-h" },
      h("div", { class: "row" }, h("h2", { id: "sessions-h" }, "Sessions"),
        h("div", { class: "filters" }, field("Search", q), field("Status", status))),
      list)));
  await load();
  problem.focus();
  return () => clearTimeout(timer);
}

function row(s) {
  return h("li", { "data-testid": "session-row", "data-session-id": s.id },
    h("a", { href: `#/sessions/${s.id}` }, s.title || "(untitled)"),
    h("span", { class: `badge status-${s.status}` }, s.status),
    h("span", { class: "muted" }, `${s.step_count} steps · `, time(s.updated_at)));
}
