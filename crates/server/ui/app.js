// The single page: a hash router over four screens (setup, sign-in, the
// sessions list, a session's workspace) and the signed-in user in the top
// bar. Screens are functions `(main, ctx) → cleanup?`.

import { api, ApiError } from "./api.js";
import { h, replace, announce } from "./dom.js";
import { setupScreen, loginScreen } from "./views/auth.js";
import { sessionsScreen } from "./views/sessions.js";
import { workspaceScreen } from "./views/workspace.js";

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
    const session = hash.match(/^#\/sessions\/([0-9a-f-]{36})$/);
    if (session) cleanup = await workspaceScreen(main, ctx, session[1]);
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
