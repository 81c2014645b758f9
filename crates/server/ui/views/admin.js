// Administration: the model in use (and the offline-guide notice), how
// retrieval runs, users, teams and their members, and API tokens.

import { api } from "../api.js";
import { h, replace, field, announce, time, copy } from "../dom.js";

const section = (title, testid, ...body) =>
  h("section", { class: "panel", "data-testid": testid, "aria-label": title }, h("h2", {}, title), body);

export async function adminScreen(main, ctx) {
  main.dataset.title = "Administration";
  const isAdmin = ctx.user?.role === "admin";
  const [provider, retrieval] = await Promise.all([
    api("GET", "/settings/provider"),
    api("GET", "/settings/retrieval").catch(() => null),
  ]);
  const users = h("div", { "data-testid": "admin-users" });
  const teams = h("div", { "data-testid": "admin-teams" });
  const tokens = h("div", { "data-testid": "admin-tokens" });

  replace(main, h("div", { class: "admin-screen" },
    h("h1", {}, "Administration"),
    section("Assistant model", "admin-provider", providerView(provider)),
    retrieval ? section("Retrieval", "admin-retrieval", retrievalView(retrieval)) : null,
    section("API tokens", "admin-tokens-panel", tokens),
    isAdmin ? section("Users", "admin-users-panel", users) : null,
    isAdmin ? section("Teams", "admin-teams-panel", teams) : null));

  await Promise.all([loadTokens(tokens), isAdmin ? loadUsers(users) : null, isAdmin ? loadTeams(teams) : null]);
}

function providerView(p) {
  return [
    p.notice ? h("p", { class: "banner warning", role: "status", "data-testid": "provider-notice" }, p.notice) : null,
    h("dl", { class: "facts-list" },
      h("dt", {}, "Provider"), h("dd", { "data-testid": "provider-name" }, p.provider),
      p.model ? [h("dt", {}, "Model"), h("dd", {}, p.model)] : null,
      p.base_url ? [h("dt", {}, "Endpoint"), h("dd", {}, p.base_url)] : null,
      h("dt", {}, "API key"), h("dd", {}, p.api_key_set ? "set" : "not set"),
      h("dt", {}, "Reply limit"), h("dd", {}, `${p.max_tokens} tokens`),
      h("dt", {}, "Context window"), h("dd", {}, `${p.context_window_tokens} tokens`)),
    h("p", { class: "hint" }, "Set with FLOWPILOT_LLM_PROVIDER, FLOWPILOT_LLM_MODEL, FLOWPILOT_LLM_API_KEY (see `flowpilot serve --help`)."),
  ];
}

function retrievalView(r) {
  return [
    r.notice ? h("p", { class: "banner warning", role: "status", "data-testid": "retrieval-notice" }, r.notice) : null,
    h("dl", { class: "facts-list" },
      h("dt", {}, "Mode"), h("dd", { "data-testid": "retrieval-mode" }, r.mode),
      r.model ? [h("dt", {}, "Embedding model"), h("dd", {}, r.model)] : null,
      r.dense_weight !== null && r.dense_weight !== undefined ? [h("dt", {}, "Dense weight"), h("dd", {}, String(r.dense_weight))] : null,
      h("dt", {}, "Flows"), h("dd", {}, `${r.flows} (${r.embedded} embedded, ${r.pending} waiting)`)),
  ];
}

// ---- tokens ----------------------------------------------------------------

async function loadTokens(el) {
  const page = await api("GET", "/tokens");
  const name = h("input", { type: "text", required: true, placeholder: "e.g. ticket-system sync", "data-testid": "token-name" });
  const shown = h("div", { "data-testid": "token-created", "aria-live": "polite" });
  const form = h("form", { class: "row" }, field("New token", name),
    h("button", { type: "submit", class: "small", "data-testid": "token-create" }, "Create"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const created = await api("POST", "/tokens", { name: name.value.trim() });
      await loadTokens(el);
      const button = h("button", { type: "button", class: "ghost small" }, "Copy");
      button.addEventListener("click", () => copy(created.token, button));
      el.prepend(h("div", { class: "banner", role: "status" },
        h("p", {}, `Token “${created.name}” created. Copy it now: it is not shown again.`),
        h("div", { class: "code" }, h("pre", { "data-testid": "token-value", tabindex: 0 }, h("code", {}, created.token)), button)));
    } catch (err) { announce(err.message, "error"); }
  });
  replace(el,
    page.items.length ? h("ul", { class: "plain" }, page.items.map((t) => h("li", { "data-testid": "token-row" },
      h("strong", {}, t.name), h("span", { class: "muted" }, " created ", time(t.created_at),
        t.last_used_at ? [", last used ", time(t.last_used_at)] : ", never used"),
      h("button", { type: "button", class: "link small", "aria-label": `Revoke ${t.name}`, "data-testid": "token-revoke",
        onclick: async () => {
          if (!confirm(`Revoke “${t.name}”? Scripts using it stop working at once.`)) return;
          try { await api("DELETE", `/tokens/${t.id}`); announce("Token revoked."); await loadTokens(el); }
          catch (err) { announce(err.message, "error"); }
        } }, "Revoke"))))
      : h("p", { class: "muted" }, "No API tokens. Scripts and integrations authenticate with one (Authorization: Bearer …)."),
    form, shown);
}

// ---- users -----------------------------------------------------------------

async function loadUsers(el) {
  const page = await api("GET", "/users");
  const email = h("input", { type: "email", required: true, autocomplete: "off", "data-testid": "user-email" });
  const name = h("input", { type: "text", required: true, "data-testid": "user-name" });
  const password = h("input", { type: "password", required: true, minlength: 12, autocomplete: "new-password", "data-testid": "user-password" });
  const role = h("select", { "data-testid": "user-role" },
    h("option", { value: "engineer" }, "Engineer"), h("option", { value: "admin" }, "Administrator"));
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "grid-form", "data-testid": "user-form" },
    h("h3", {}, "Add a user"), field("Email", email), field("Name", name),
    field("Password", password, "At least 12 characters; they can change it later."), field("Role", role), error,
    h("button", { type: "submit", class: "small", "data-testid": "user-create" }, "Add user"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("POST", "/users", { email: email.value.trim(), name: name.value.trim(), password: password.value, role: role.value });
      announce("User added.");
      await loadUsers(el);
    } catch (err) { error.textContent = err.message; }
  });
  replace(el,
    h("table", { class: "table" }, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Email"), h("th", {}, "Role"), h("th", {}, "Since"))),
      h("tbody", {}, page.items.map((u) => h("tr", { "data-testid": "user-row" },
        h("td", {}, u.name), h("td", {}, u.email), h("td", {}, u.role), h("td", {}, time(u.created_at)))))),
    form);
}

// ---- teams -----------------------------------------------------------------

async function loadTeams(el) {
  const [teams, users] = await Promise.all([api("GET", "/teams"), api("GET", "/users")]);
  const name = h("input", { type: "text", required: true, "data-testid": "team-name" });
  const form = h("form", { class: "row" }, field("New team", name),
    h("button", { type: "submit", class: "small", "data-testid": "team-create" }, "Create"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try { await api("POST", "/teams", { name: name.value.trim() }); announce("Team created."); await loadTeams(el); }
    catch (err) { announce(err.message, "error"); }
  });
  const items = await Promise.all(teams.items.map(async (t) => {
    const members = await api("GET", `/teams/${t.id}/members`);
    const ids = new Set(members.items.map((m) => m.id));
    const pick = h("select", { "data-testid": "team-add-member" },
      h("option", { value: "" }, "Add a member…"),
      users.items.filter((u) => !ids.has(u.id)).map((u) => h("option", { value: u.id }, `${u.name} (${u.email})`)));
    pick.addEventListener("change", async () => {
      if (!pick.value) return;
      try { await api("PUT", `/teams/${t.id}/members/${pick.value}`); await loadTeams(el); }
      catch (err) { announce(err.message, "error"); }
    });
    return h("li", { "data-testid": "team-row" }, h("strong", {}, t.name),
      h("ul", { class: "plain" }, members.items.map((m) => h("li", {}, `${m.name} `,
        h("button", { type: "button", class: "link small", "aria-label": `Remove ${m.name} from ${t.name}`,
          onclick: async () => {
            try { await api("DELETE", `/teams/${t.id}/members/${m.id}`); await loadTeams(el); }
            catch (err) { announce(err.message, "error"); }
          } }, "Remove")))),
      field(`Add to ${t.name}`, pick));
  }));
  replace(el, items.length ? h("ul", { class: "plain" }, items) : h("p", { class: "muted" }, "No teams yet."), form);
}
