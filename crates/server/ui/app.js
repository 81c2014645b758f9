// The single page: a hash router over the screens (setup, sign-in, the
// sessions list, a session's workspace, the knowledge base, script
// templates, administration) and the signed-in user in the top bar.
// Screens are functions `(main, ctx, ...) → cleanup?`.

import { api, ApiError } from "./api.js";
import { h, replace, announce } from "./dom.js";
import { setupScreen, loginScreen } from "./views/auth.js";
import { sessionsScreen } from "./views/sessions.js";
import { workspaceScreen } from "./views/workspace.js";
import { flowsScreen, flowScreen, newFlowScreen, templatesScreen } from "./views/kb.js";
import { adminScreen } from "./views/admin.js";

const ctx = {
  user: null,
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  async signedIn() {
    try {
      ctx.user = (await api("GET", "/me")).user;
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 401) throw e;
      ctx.user = null;
    }
    renderNav();
    return ctx.user;
  },
  async signOut() {
    try { await api("POST", "/auth/logout"); } catch { /* signed out anyway */ }
    ctx.user = null;
    renderNav();
    ctx.go("#/login");
  },
};

let cleanup = null;

function renderNav() {
  const nav = document.getElementById("user-nav");
  if (!ctx.user) return replace(nav);
  replace(nav,
    h("a", { href: "#/sessions", "data-testid": "nav-sessions" }, "Sessions"),
    h("a", { href: "#/kb", "data-testid": "nav-kb" }, "Knowledge base"),
    h("a", { href: "#/admin", "data-testid": "nav-admin" }, "Admin"),
    h("span", { class: "who", "data-testid": "nav-user" }, ctx.user.name, " · ", ctx.user.email),
    h("button", { type: "button", class: "ghost", "data-testid": "sign-out", onclick: () => ctx.signOut() }, "Sign out"));
}

async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const main = document.getElementById("main");
  const hash = location.hash || "#/sessions";
  try {
    if (hash === "#/setup") return void (cleanup = setupScreen(main, ctx));
    if (hash === "#/login") return void (cleanup = loginScreen(main, ctx));
    if (!ctx.user && !(await ctx.signedIn())) return ctx.go("#/login");
    const uuid = "([0-9a-f-]{36})";
    const session = hash.match(new RegExp(`^#/sessions/${uuid}$`));
    const flow = hash.match(new RegExp(`^#/kb/${uuid}$`));
    if (session) cleanup = await workspaceScreen(main, ctx, session[1]);
    else if (hash === "#/kb/new") cleanup = await newFlowScreen(main, ctx);
    else if (flow) cleanup = await flowScreen(main, ctx, flow[1]);
    else if (hash === "#/kb") cleanup = await flowsScreen(main, ctx);
    else if (hash === "#/templates") cleanup = await templatesScreen(main, ctx);
    else if (hash === "#/admin") cleanup = await adminScreen(main, ctx);
    else cleanup = await sessionsScreen(main, ctx);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return ctx.go("#/login");
    replace(main, h("section", { class: "panel narrow", role: "alert" },
      h("h1", {}, "Something went wrong"), h("p", {}, e.message),
      h("button", { type: "button", onclick: route, "data-testid": "reload" }, "Try again")));
  }
  document.title = `${main.dataset.title || "FlowPilot"} — FlowPilot`;
}

window.addEventListener("hashchange", route);
window.addEventListener("unhandledrejection", (e) => {
  announce(e.reason?.message ?? String(e.reason), "error");
});
route();
