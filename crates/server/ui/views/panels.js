// The workspace's side panels. Each takes the workspace (`ws`: its view of
// the session, `act` for writes, `responses` for task-lane answers) and
// returns an element; the workspace re-renders them after every change.

import { api } from "../api.js";
import { h, replace, field, copy, time } from "../dom.js";
import { renderMarkdown } from "../markdown.js";

const panel = (title, testid, ...body) =>
  h("section", { class: "panel", "data-testid": testid, "aria-label": title }, h("h2", {}, title), body);

const codeBlock = (text, testid) => {
  const button = h("button", { type: "button", class: "ghost small", "data-testid": `${testid}-copy` }, "Copy");
  button.addEventListener("click", () => copy(text, button));
  return h("div", { class: "code" }, h("pre", { "data-testid": testid, tabindex: 0 }, h("code", {}, text)), button);
};

// ---- task lane --------------------------------------------------------

/** The lane's items as `task_responses` for the next message. */
export function taskResponses(ws) {
  const lane = ws.view.task_lane;
  return [...lane.questions, ...lane.actions].map((item) => {
    const r = ws.responses.get(item.id);
    const out = { item_id: item.id, status: r?.status ?? "pending" };
    if (r?.answer) out.answer = r.answer;
    return out;
  });
}

function setResponse(ws, id, status, answer) {
  ws.responses.set(id, { status, answer });
  ws.renderComposerState();
}

export function taskLane(ws) {
  const { questions, actions } = ws.view.task_lane;
  if (!questions.length && !actions.length) {
    return panel("Task lane", "task-lane", h("p", { class: "muted" }, "No open questions or checks."));
  }
  return panel("Task lane", "task-lane",
    h("p", { class: "hint" }, "Answers and results go with your next message."),
    questions.length ? h("h3", {}, "Questions") : null,
    questions.map((q) => question(ws, q)),
    actions.length ? h("h3", {}, "Checks to run") : null,
    actions.map((a) => action(ws, a)));
}

function question(ws, q) {
  const r = ws.responses.get(q.id);
  const answer = h("textarea", { rows: 2, "data-testid": "question-answer", value: r?.answer ?? "",
    oninput: () => setResponse(ws, q.id, answer.value.trim() ? "answered" : "pending", answer.value.trim()) });
  const skipped = r?.status === "skipped";
  const skip = h("button", { type: "button", class: "ghost small", "aria-pressed": String(skipped), "data-testid": "question-skip",
    onclick: () => { setResponse(ws, q.id, skipped ? "pending" : "skipped"); ws.render(); } }, skipped ? "Skipped (undo)" : "Skip");
  return h("div", { class: `task ${r?.status ?? "pending"}`, "data-testid": "question", "data-item-id": q.id },
    field(q.text, answer), q.context ? h("p", { class: "hint" }, q.context) : null, skip);
}

function action(ws, a) {
  const r = ws.responses.get(a.id);
  const state = r?.status ?? "pending";
  const toggle = (status, label, testid) => h("button", {
    type: "button", class: "ghost small", "aria-pressed": String(state === status), "data-testid": testid,
    onclick: () => { setResponse(ws, a.id, state === status ? "pending" : status, result.value.trim()); ws.render(); },
  }, label);
  const result = h("textarea", { rows: 2, "data-testid": "action-result", value: r?.answer ?? "",
    placeholder: "What did it show? (optional)",
    oninput: () => {
      const current = ws.responses.get(a.id)?.status;
      setResponse(ws, a.id, current && current !== "pending" ? current : "done", result.value.trim());
    } });
  return h("div", { class: `task ${state}`, "data-testid": "action", "data-item-id": a.id },
    h("p", { class: "task-label" }, a.label),
    a.description ? h("p", { class: "hint" }, a.description) : null,
    a.command ? codeBlock(a.command, "action-command") : null,
    field("Result", result),
    h("div", { class: "row" }, toggle("done", "Done", "action-done"), toggle("skipped", "Skip", "action-skip")));
}

// ---- what we know -------------------------------------------------------

const SOURCES = { question: "from an answer", diagnostic_check: "from a check", ai_synthesis: "assistant", user_note: "your note" };

export function factsPanel(ws) {
  const facts = ws.view.facts;
  const note = ws.draftBox("note", { rows: 2, required: true, "data-testid": "fact-note" });
  const form = h("form", { class: "add-note" }, field("Add a note", note),
    h("button", { type: "submit", class: "small", "data-testid": "fact-add" }, "Add"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = note.value.trim();
    if (!text) return;
    ws.drafts.delete("note");
    ws.act(() => api("POST", `/sessions/${ws.id}/facts`, { text }), "Note added.")
      .then((ok) => { if (!ok) ws.drafts.set("note", text); });
  });
  return panel("What we know", "facts",
    facts.length ? h("ul", { class: "facts" }, facts.map((f) => factItem(ws, f)))
      : h("p", { class: "muted" }, "Nothing established yet."),
    form);
}

function factItem(ws, f) {
  const editing = `editing:${f.id}`;
  const toggle = () => {
    if (ws.drafts.has(editing)) { ws.drafts.delete(editing); ws.drafts.delete(`fact:${f.id}`); }
    else { ws.drafts.set(editing, "1"); ws.drafts.set(`fact:${f.id}`, f.text); }
    ws.render();
    // Keyboard users land in the box they opened.
    ws.main.querySelector(`[data-fact-id="${f.id}"] [data-testid=fact-edit-text]`)?.focus();
  };
  let editor = null;
  if (ws.drafts.has(editing)) {
    const text = ws.draftBox(`fact:${f.id}`, { rows: 2, required: true, "data-testid": "fact-edit-text" });
    editor = h("form", { class: "fact-edit" }, field("Fact", text),
      h("div", { class: "row" }, h("button", { type: "submit", class: "small", "data-testid": "fact-edit-save" }, "Save"),
        h("button", { type: "button", class: "ghost small", onclick: toggle }, "Cancel")));
    editor.addEventListener("submit", (e) => {
      e.preventDefault();
      const value = text.value.trim();
      if (!value) return;
      ws.act(() => api("PATCH", `/sessions/${ws.id}/facts/${f.id}`, { text: value }), "Fact updated.").then((ok) => {
        if (ok) { ws.drafts.delete(editing); ws.drafts.delete(`fact:${f.id}`); ws.render(); }
      });
    });
  }
  return h("li", { "data-testid": "fact", "data-fact-id": f.id, "data-item-id": f.id },
    editor ?? h("span", { class: "fact-text" }, f.text),
    f.summary ? h("span", { class: "hint" }, f.summary) : null,
    h("span", { class: "fact-meta muted" }, h("span", { class: "badge" }, SOURCES[f.source_type] ?? f.source_type), " ", time(f.created_at),
      editor ? null : h("button", { type: "button", class: "link small", "data-testid": "fact-edit", "aria-label": `Edit: ${f.text}`,
        onclick: toggle }, "Edit"),
      h("button", { type: "button", class: "link small", "data-testid": "fact-delete", "aria-label": `Delete: ${f.text}`,
        onclick: () => ws.act(() => api("DELETE", `/sessions/${ws.id}/facts/${f.id}`), "Fact deleted.") }, "Delete")));
}

// ---- the fix ----------------------------------------------------------

const OUTCOME_WORDS = { success: "worked", failure: "did not work", partial: "partly worked" };

export function fixCard(ws) {
  const fix = ws.view.active_fix;
  if (!fix) return panel("Suggested fix", "fix-card", h("p", { class: "muted" }, "No fix suggested yet."));
  const decide = (decision) => ws.act(() => api("POST", `/fixes/${fix.id}/decision`, { decision }), `Fix ${decision}.`);
  const outcome = (value) => ws.act(() => api("PATCH", `/fixes/${fix.id}/outcome`, { outcome: value }), "Outcome recorded.");
  const pressed = (on) => String(Boolean(on));
  const script = h("div", { class: "script", "data-testid": "fix-script" });
  fillScript(ws, fix, script);
  const proposal = fix.ai_outcome_proposal;
  return panel("Suggested fix", "fix-card",
    proposal ? h("div", { class: "banner", role: "status", "data-testid": "outcome-proposal" },
      h("p", {}, `It sounds like this fix ${OUTCOME_WORDS[proposal.outcome] ?? proposal.outcome}. `,
        h("span", { class: "muted" }, proposal.reason)),
      h("button", { type: "button", class: "small", "data-testid": "proposal-confirm", onclick: () => outcome(proposal.outcome) }, "Confirm"),
      h("button", { type: "button", class: "ghost small", "data-testid": "proposal-dismiss",
        onclick: () => ws.act(() => api("DELETE", `/fixes/${fix.id}/outcome-proposal`)) }, "Dismiss")) : null,
    h("h3", { "data-testid": "fix-title" }, fix.title),
    h("div", { class: "confidence" },
      h("meter", { min: 0, max: 100, value: fix.confidence_pct, "aria-label": "Confidence" }),
      h("span", { "data-testid": "fix-confidence" }, `${fix.confidence_pct}% confident`)),
    h("div", { class: "markdown", "data-testid": "fix-description" }, renderMarkdown(fix.description)),
    script,
    h("div", { class: "row", role: "group", "aria-label": "Decision" },
      h("button", { type: "button", class: "small", "aria-pressed": pressed(fix.decision === "accepted"), "data-testid": "fix-accept", onclick: () => decide("accepted") }, "Accept"),
      h("button", { type: "button", class: "ghost small", "aria-pressed": pressed(fix.decision === "deferred"), "data-testid": "fix-defer", onclick: () => decide("deferred") }, "Later"),
      h("button", { type: "button", class: "ghost small", "aria-pressed": pressed(fix.decision === "rejected"), "data-testid": "fix-reject", onclick: () => decide("rejected") }, "Reject")),
    h("div", { class: "row", role: "group", "aria-label": "Outcome" },
      h("span", { class: "muted" }, fix.outcome ? `Outcome: ${fix.outcome}.` : "Tried it?"),
      h("button", { type: "button", class: "ghost small", "aria-pressed": pressed(fix.outcome === "success"), "data-testid": "outcome-success", onclick: () => outcome("success") }, "It worked"),
      h("button", { type: "button", class: "ghost small", "aria-pressed": pressed(fix.outcome === "partial"), "data-testid": "outcome-partial", onclick: () => outcome("partial") }, "Partly"),
      h("button", { type: "button", class: "ghost small", "aria-pressed": pressed(fix.outcome === "failure"), "data-testid": "outcome-failure", onclick: () => outcome("failure") }, "It didn't")),
    earlierFixes(ws, fix));
}

/** The drafted script, or the library template with a form for its parameters. */
async function fillScript(ws, fix, el) {
  const drafted = fix.ai_drafted_parameters || {};
  if (fix.ai_drafted_script) {
    const list = Object.keys(drafted).length
      ? h("dl", { class: "params" }, Object.entries(drafted).map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])) : null;
    el.append(h("h4", {}, "Script (drafted by the assistant: review before running)"), codeBlock(fix.ai_drafted_script, "fix-script-body"));
    if (list) el.append(list);
    return;
  }
  if (!fix.script_template_id) return;
  let t;
  try {
    ({ script_template: t } = await api("GET", `/script-templates/${fix.script_template_id}`));
  } catch (e) {
    el.append(h("p", { class: "error" }, `The script could not be loaded: ${e.message}`));
    return;
  }
  // The engineer's values win over the assistant's; both survive re-renders.
  const key = (p) => `param:${fix.id}:${p}`;
  const value = (p) => ws.drafts.get(key(p)) ?? (drafted[p] === undefined ? "" : String(drafted[p]));
  const code = h("div", { "aria-live": "polite" });
  let timer = null;
  let seq = 0;
  const show = async () => {
    const mine = ++seq;
    const values = Object.fromEntries(t.parameters.map((p) => [p, value(p)]));
    const missing = t.parameters.filter((p) => !values[p].trim());
    let body = t.body;
    let note = null;
    if (missing.length) {
      note = h("p", { class: "hint", "data-testid": "fix-script-missing" }, `Fill in ${missing.join(", ")} to complete the script.`);
    } else {
      try {
        body = (await api("POST", `/script-templates/${t.id}/render`, { parameters: values })).script;
      } catch (e) {
        note = h("p", { class: "error" }, e.message);
      }
    }
    if (mine === seq) replace(code, codeBlock(body, "fix-script-body"), note);
  };
  const inputs = t.parameters.map((p) => {
    const input = h("input", { type: "text", value: value(p), "data-testid": `fix-param-${p}`, "data-param": p,
      oninput: () => {
        ws.drafts.set(key(p), input.value);
        clearTimeout(timer);
        timer = setTimeout(show, 200);
      } });
    return field(p, input);
  });
  el.append(...[h("h4", {}, `Script: ${t.name} (${t.language})`),
    t.description ? h("p", { class: "hint" }, t.description) : null,
    inputs.length ? h("div", { class: "params-form", "data-testid": "fix-params" }, inputs) : null,
    code].filter(Boolean));
  await show();
}

/** Fixes the assistant suggested before this one, loaded when opened. */
function earlierFixes(ws, fix) {
  const list = h("div", { "data-testid": "earlier-fixes-list" });
  const details = h("details", { class: "earlier", "data-testid": "earlier-fixes" },
    h("summary", {}, "Earlier suggestions"), list);
  details.addEventListener("toggle", async () => {
    if (!details.open) return;
    try {
      const page = await api("GET", `/sessions/${ws.id}/fixes`);
      const earlier = page.items.filter((f) => f.id !== fix.id);
      replace(list, earlier.length ? h("ul", { class: "plain" }, earlier.map((f) => h("li", { "data-testid": "earlier-fix" },
        h("strong", {}, f.title), h("span", { class: "muted" }, ` ${f.confidence_pct}%`,
          f.decision ? ` · ${f.decision}` : "", f.outcome ? ` · ${f.outcome}` : "",
          f.superseded_at ? [" · replaced ", time(f.superseded_at)] : ""))))
        : h("p", { class: "muted" }, "None: this is the first suggestion."));
    } catch (e) {
      replace(list, h("p", { class: "error" }, e.message));
    }
  });
  return details;
}

// ---- branches -----------------------------------------------------------

export function branchesPanel(ws) {
  const { branches, fork_points: forks } = ws.view;
  const active = ws.view.session.active_branch_id;
  if (!branches.length) {
    return panel("Branches", "branches", h("p", { class: "muted" },
      "One line of investigation so far. When the evidence fits several explanations, each gets a branch here."));
  }
  const reasons = new Map((forks || []).map((f) => [f.id, f.fork_reason]));
  const children = (parent) => branches.filter((b) => (b.parent_branch_id ?? null) === parent);
  const tree = (parent) => {
    const kids = children(parent);
    if (!kids.length) return null;
    const reason = reasons.get(kids[0].fork_point_id);
    return h("ul", { class: "tree" }, reason ? h("li", { class: "fork-reason muted" }, `Forked: ${reason}`) : null,
      kids.map((b) => h("li", {}, branchItem(ws, b, b.id === active), tree(b.id))));
  };
  return panel("Branches", "branches", tree(null));
}

function branchItem(ws, b, isActive) {
  const patch = (status, evidence, done) =>
    ws.act(() => api("PATCH", `/branches/${b.id}`, evidence ? { status, evidence } : { status }), done);
  const reviving = `reviving:${b.id}`;
  const revive = h("form", { class: "revive", hidden: !ws.drafts.has(reviving) });
  const evidence = ws.draftBox(`evidence:${b.id}`, { rows: 2, required: true, "data-testid": "branch-evidence" });
  revive.append(field("New evidence", evidence), h("button", { type: "submit", class: "small", "data-testid": "branch-revive-submit" }, "Revive"));
  revive.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!evidence.value.trim()) return;
    patch("revived", evidence.value.trim(), "Branch revived.").then((ok) => {
      if (ok) { ws.drafts.delete(reviving); ws.drafts.delete(`evidence:${b.id}`); ws.render(); }
    });
  });
  const ruledOut = b.status === "ruled_out";
  return h("div", { class: `branch ${isActive ? "active" : ""} status-${b.status}`, "data-testid": "branch", "data-branch-id": b.id,
    "aria-current": isActive ? "true" : null },
    h("div", { class: "row" }, h("strong", {}, b.label), isActive ? h("span", { class: "badge active" }, "active") : null,
      b.status !== "active" ? h("span", { class: "badge" }, b.status.replace("_", " ")) : null),
    b.description ? h("p", { class: "hint" }, b.description) : null,
    b.evidence ? h("p", { class: "hint" }, `Evidence: ${b.evidence}`) : null,
    h("div", { class: "row" },
      !isActive && !ruledOut ? h("button", { type: "button", class: "ghost small", "data-testid": "branch-switch",
        onclick: () => ws.act(() => api("POST", `/sessions/${ws.id}/branches/${b.id}/switch`), `Now on “${b.label}”.`) }, "Switch") : null,
      !ruledOut && !b.is_root ? h("button", { type: "button", class: "ghost small", "data-testid": "branch-rule-out",
        onclick: () => patch("ruled_out", null, "Branch ruled out.") }, "Rule out") : null,
      ruledOut ? h("button", { type: "button", class: "ghost small", "data-testid": "branch-revive",
        onclick: () => {
          revive.hidden = !revive.hidden;
          if (revive.hidden) ws.drafts.delete(reviving); else { ws.drafts.set(reviving, "1"); evidence.focus(); }
        } }, "Revive…") : null),
    revive);
}

// ---- suggested flows ------------------------------------------------------

export function flowsPanel(ws) {
  const flows = ws.suggestedFlows;
  return panel("Suggested flows", "suggested-flows",
    flows.length ? h("ul", { class: "flows" }, flows.map((f) => {
      const body = h("div", { class: "markdown" });
      const details = h("details", { "data-testid": "suggested-flow" },
        h("summary", {}, f.flow.title), h("p", { class: "hint" }, f.snippet), body);
      details.addEventListener("toggle", async () => {
        if (!details.open || body.childElementCount) return;
        try {
          const { flow } = await api("GET", `/flows/${f.flow.id}`);
          body.append(renderMarkdown(flow.body));
          if (flow.resolution) body.append(h("h4", {}, "Resolution"), renderMarkdown(flow.resolution));
        } catch (e) {
          body.append(h("p", { class: "error" }, e.message));
        }
      });
      return h("li", {}, details);
    })) : h("p", { class: "muted" }, "Runbooks that match the conversation appear here after each reply."));
}
