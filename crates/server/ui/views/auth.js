// First-run setup (the first account and its admin) and sign-in.

import { api } from "../api.js";
import { h, replace, field } from "../dom.js";

function form(title, intro, fields, submitLabel, testid, onsubmit, footer) {
  const error = h("p", { class: "error", role: "alert", "data-testid": `${testid}-error` });
  const submit = h("button", { type: "submit", "data-testid": `${testid}-submit` }, submitLabel);
  const el = h("form", { class: "panel narrow", "data-testid": testid, novalidate: false },
    h("h1", {}, title), intro ? h("p", {}, intro) : null, fields, error, submit, footer);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      await onsubmit();
    } catch (e) {
      error.textContent = e.message;
    } finally {
      submit.disabled = false;
    }
  });
  return el;
}

const input = (name, type, testid, extra = {}) =>
  h("input", { name, type, required: true, "data-testid": testid, ...extra });

export function setupScreen(main, ctx) {
  main.dataset.title = "Set up";
  const account = input("account_name", "text", "setup-account", { autocomplete: "organization" });
  const name = input("name", "text", "setup-name", { autocomplete: "name" });
  const email = input("email", "email", "setup-email", { autocomplete: "email" });
  const password = input("password", "password", "setup-password", { autocomplete: "new-password", minlength: 12 });
  replace(main, form("Set up FlowPilot",
    "Create your organisation's account and its first administrator. This works once, on a new installation.",
    [field("Organisation", account), field("Your name", name), field("Email", email),
      field("Password", password, "At least 12 characters.")],
    "Create account", "setup",
    async () => {
      await api("POST", "/setup", {
        account_name: account.value, name: name.value, email: email.value, password: password.value,
      });
      await api("POST", "/auth/login", { email: email.value, password: password.value });
      await ctx.signedIn();
      ctx.go("#/sessions");
    },
    h("p", { class: "muted" }, "Already set up? ", h("a", { href: "#/login" }, "Sign in"))));
  account.focus();
}

export function loginScreen(main, ctx) {
  main.dataset.title = "Sign in";
  const email = input("email", "email", "login-email", { autocomplete: "username" });
  const password = input("password", "password", "login-password", { autocomplete: "current-password" });
  replace(main, form("Sign in", null,
    [field("Email", email), field("Password", password)],
    "Sign in", "login",
    async () => {
      await api("POST", "/auth/login", { email: email.value, password: password.value });
      await ctx.signedIn();
      ctx.go("#/sessions");
    },
    h("p", { class: "muted" }, "New installation? ", h("a", { href: "#/setup", "data-testid": "to-setup" }, "Set up FlowPilot"))));
  email.focus();
}
