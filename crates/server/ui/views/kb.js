// The knowledge base: the account's flows (list, search, view, edit, new,
// import Markdown or JSON files) and the script templates fixes can name.

import { api } from "../api.js";
import { h, replace, field, announce, time } from "../dom.js";
import { renderMarkdown } from "../markdown.js";

const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);
const commas = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

function tabs(active) {
  const tab = (hash, label, testid) => h("a", { href: hash, class: `tab ${active === hash ? "current" : ""}`,
    "aria-current": active === hash ? "page" : null, "data-testid": testid }, label);
  return h("nav", { class: "tabs", "aria-label": "Knowledge base" },
    tab("#/kb", "Flows", "tab-flows"), tab("#/templates", "Script templates", "tab-templates"));
}

// ---- flows --------------------------------------------------------------

export async function flowsScreen(main) {
  main.dataset.title = "Knowledge base";
  const q = h("input", { type: "search", placeholder: "Symptoms, an error code, a product…", "data-testid": "flow-search" });
  const list = h("ul", { class: "flow-list", "data-testid": "flow-list", "aria-live": "polite" });
  const more = h("button", { type: "button", class: "ghost", hidden: true, "data-testid": "flow-more" }, "Show more");
  const files = h("input", { type: "file", multiple: true, accept: ".md,.markdown,.json,text/markdown,application/json",
    "data-testid": "flow-import-files" });
  const report = h("div", { class: "import-report", "data-testid": "flow-import-report", "aria-live": "polite" });
  let cursor = null;
  let timer = null;
  let seq = 0;

  const row = (f, snippet) => h("li", { "data-testid": "flow-row", "data-flow-id": f.id },
    h("a", { href: `#/kb/${f.id}` }, f.title),
    h("span", { class: "muted" }, ` ${f.slug}`),
    snippet ? h("p", { class: "hint" }, snippet) : null,
    f.tags?.length ? h("span", { class: "tags" }, f.tags.map((t) => h("span", { class: "badge" }, t))) : null);

  async function load(append = false) {
    const mine = ++seq;
    const text = q.value.trim();
    if (text) {
      const found = await api("GET", `/flows/search?${new URLSearchParams({ q: text, limit: "20" })}`);
      if (mine !== seq) return;
      more.hidden = true;
      replace(list, found.items.length ? found.items.map((i) => row(i.flow, i.snippet))
        : h("li", { class: "muted", "data-testid": "flow-list-empty" }, "No flow matches."));
      return;
    }
    const params = new URLSearchParams({ limit: "50" });
    if (append && cursor) params.set("cursor", cursor);
    const page = await api("GET", `/flows?${params}`);
    if (mine !== seq) return;
    cursor = page.next_cursor ?? null;
    more.hidden = !cursor;
    if (!append) replace(list);
    list.append(...page.items.map((f) => row(f)));
    if (!list.childElementCount) {
      list.append(h("li", { class: "muted", "data-testid": "flow-list-empty" },
        "No flows yet. Write one, or import Markdown files (or `flowpilot kb import DIR` from a folder)."));
    }
  }
  const showError = (e) => replace(list, h("li", { class: "error", role: "alert" }, e.message));
  q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => load().catch(showError), 200); });
  more.addEventListener("click", () => load(true).catch(showError));

  const importForm = h("form", { class: "panel", "data-testid": "flow-import" },
    h("h2", {}, "Import"),
    h("p", { class: "hint" }, "Markdown files with front matter (title, slug, symptoms, tags; a “## Resolution” section), as `flowpilot kb import` reads them, or a JSON file {\"flows\": [...]}. A flow whose slug exists is updated."),
    field("Files", files),
    h("button", { type: "submit", "data-testid": "flow-import-submit" }, "Import"), report);
  importForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!files.files.length) { replace(report, h("p", { class: "error" }, "Choose one or more files first.")); return; }
    replace(report, h("p", { class: "muted" }, `Importing ${files.files.length} file(s)…`));
    try {
      const body = { flows: [], files: [] };
      for (const file of files.files) {
        const text = await file.text();
        if (file.name.toLowerCase().endsWith(".json")) {
          const parsed = JSON.parse(text);
          body.flows.push(...(Array.isArray(parsed) ? parsed : parsed.flows ?? []));
        } else {
          body.files.push({ name: file.name, text });
        }
      }
      const r = await api("POST", "/flows/import", body);
      replace(report,
        h("p", { "data-testid": "flow-import-summary" }, `${r.created} created, ${r.updated} updated, ${r.rejected.length} rejected.`),
        r.rejected.length ? h("ul", { class: "error" }, r.rejected.map((x) => h("li", {}, `${x.file ?? `#${x.index + 1}`}: ${x.reason}`))) : null);
      files.value = "";
      await load();
    } catch (err) {
      replace(report, h("p", { class: "error", role: "alert" }, err instanceof SyntaxError ? `Not valid JSON: ${err.message}` : err.message));
    }
  });

  replace(main, h("div", { class: "kb-screen" },
    tabs("#/kb"),
    h("section", { class: "panel", "aria-labelledby": "flows-h" },
      h("div", { class: "row" }, h("h1", { id: "flows-h" }, "Flows"), h("span", { class: "spacer" }),
        h("a", { class: "button", href: "#/kb/new", "data-testid": "flow-new" }, "New flow")),
      field("Search", q), list, more),
    importForm));
  await load();
  q.focus();
  return () => clearTimeout(timer);
}

export async function flowScreen(main, ctx, id) {
  const { flow } = await api("GET", `/flows/${id}`);
  main.dataset.title = flow.title;
  const view = () => replace(main, h("article", { class: "panel flow-view", "data-testid": "flow-view" },
    tabs(null),
    h("div", { class: "row" }, h("h1", { "data-testid": "flow-title" }, flow.title), h("span", { class: "spacer" }),
      h("button", { type: "button", class: "ghost", "data-testid": "flow-edit", onclick: edit }, "Edit"),
      h("button", { type: "button", class: "ghost danger", "data-testid": "flow-delete", onclick: remove }, "Delete")),
    h("p", { class: "muted" }, flow.slug, " · updated ", time(flow.updated_at)),
    flow.tags.length ? h("p", { class: "tags" }, flow.tags.map((t) => h("span", { class: "badge" }, t))) : null,
    flow.symptoms.length ? [h("h2", {}, "Symptoms"), h("ul", {}, flow.symptoms.map((s) => h("li", {}, s)))] : null,
    h("h2", {}, "Steps"), h("div", { class: "markdown", "data-testid": "flow-body" }, renderMarkdown(flow.body)),
    flow.resolution ? [h("h2", {}, "Resolution"), h("div", { class: "markdown" }, renderMarkdown(flow.resolution))] : null));
  async function remove() {
    if (!confirm(`Delete “${flow.title}”? Sessions keep their history.`)) return;
    try {
      await api("DELETE", `/flows/${flow.id}`);
      announce("Flow deleted.");
      ctx.go("#/kb");
    } catch (e) { announce(e.message, "error"); }
  }
  function edit() {
    flowForm(main, flow, async (body) => {
      const saved = await api("PUT", `/flows/${flow.id}`, body);
      Object.assign(flow, saved.flow);
      announce("Flow saved.");
      view();
    }, view);
  }
  view();
}

export async function newFlowScreen(main, ctx) {
  main.dataset.title = "New flow";
  flowForm(main, null, async (body) => {
    const { flow } = await api("POST", "/flows", body);
    announce("Flow created.");
    ctx.go(`#/kb/${flow.id}`);
  }, () => ctx.go("#/kb"));
}

function flowForm(main, flow, save, cancel) {
  const title = h("input", { type: "text", required: true, value: flow?.title ?? "", "data-testid": "flow-form-title" });
  const slug = h("input", { type: "text", value: flow?.slug ?? "", placeholder: "from the title", "data-testid": "flow-form-slug" });
  const symptoms = h("textarea", { rows: 3, value: (flow?.symptoms ?? []).join("\n"), "data-testid": "flow-form-symptoms" });
  const tags = h("input", { type: "text", value: (flow?.tags ?? []).join(", "), "data-testid": "flow-form-tags" });
  const body = h("textarea", { rows: 14, required: true, value: flow?.body ?? "", class: "mono", "data-testid": "flow-form-body" });
  const resolution = h("textarea", { rows: 5, value: flow?.resolution ?? "", class: "mono", "data-testid": "flow-form-resolution" });
  const error = h("p", { class: "error", role: "alert", "data-testid": "flow-form-error" });
  const form = h("form", { class: "panel flow-form", "data-testid": "flow-form" },
    h("h1", {}, flow ? `Edit “${flow.title}”` : "New flow"),
    field("Title", title), field("Slug", slug, "Unique in your account; letters, digits and dashes."),
    field("Symptoms", symptoms, "One per line, in the words engineers and users use."),
    field("Tags", tags, "Comma-separated."),
    field("Steps (Markdown)", body, "“## Diagnostic questions” (bullets) and “## Checks” (### Label, a line, a fenced command) are what the offline guide asks and proposes."),
    field("Resolution (Markdown)", resolution),
    error,
    h("div", { class: "row" }, h("button", { type: "submit", "data-testid": "flow-form-save" }, "Save"),
      h("button", { type: "button", class: "ghost", onclick: cancel }, "Cancel")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    const payload = { title: title.value.trim(), symptoms: lines(symptoms.value), tags: commas(tags.value),
      body: body.value, resolution: resolution.value };
    if (slug.value.trim()) payload.slug = slug.value.trim();
    try { await save(payload); } catch (err) { error.textContent = err.message; }
  });
  replace(main, form);
  title.focus();
}

// ---- script templates -----------------------------------------------------

export async function templatesScreen(main) {
  main.dataset.title = "Script templates";
  const list = h("div", { class: "template-list", "data-testid": "template-list" });
  const editor = h("div", { "data-testid": "template-editor" });

  async function load() {
    const page = await api("GET", "/script-templates?limit=200");
    replace(list, page.items.length ? h("ul", {}, page.items.map((t) => h("li", { "data-testid": "template-row", "data-template-id": t.id },
      h("button", { type: "button", class: "link", onclick: () => edit(t) }, t.name),
      h("span", { class: "muted" }, ` ${t.language} · ${t.slug}`),
      t.parameters.length ? h("span", { class: "hint" }, ` parameters: ${t.parameters.join(", ")}`) : null)))
      : h("p", { class: "muted", "data-testid": "template-list-empty" }, "No templates yet. A fix can name one by its slug; its {{parameters}} are filled from the fix."));
  }

  function edit(t) {
    const name = h("input", { type: "text", required: true, value: t?.name ?? "", "data-testid": "template-name" });
    const slug = h("input", { type: "text", value: t?.slug ?? "", placeholder: "from the name", "data-testid": "template-slug" });
    const language = h("input", { type: "text", required: true, value: t?.language ?? "powershell", "data-testid": "template-language" });
    const description = h("input", { type: "text", value: t?.description ?? "", "data-testid": "template-description" });
    const body = h("textarea", { rows: 10, required: true, class: "mono", value: t?.body ?? "", "data-testid": "template-body" });
    const error = h("p", { class: "error", role: "alert" });
    const form = h("form", { class: "panel" }, h("h2", {}, t ? `Edit “${t.name}”` : "New template"),
      field("Name", name), field("Slug", slug), field("Language", language), field("Description", description),
      field("Script", body, "Write {{name}} where a value goes; the fix card asks for each one."),
      error,
      h("div", { class: "row" },
        h("button", { type: "submit", "data-testid": "template-save" }, "Save"),
        t ? h("button", { type: "button", class: "ghost danger", "data-testid": "template-delete", onclick: remove }, "Delete") : null,
        h("button", { type: "button", class: "ghost", onclick: () => replace(editor) }, "Cancel")));
    async function remove() {
      if (!confirm(`Delete the template “${t.name}”?`)) return;
      try { await api("DELETE", `/script-templates/${t.id}`); announce("Template deleted."); replace(editor); await load(); }
      catch (e) { error.textContent = e.message; }
    }
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const payload = { name: name.value.trim(), language: language.value.trim(), body: body.value, description: description.value };
      if (slug.value.trim()) payload.slug = slug.value.trim();
      try {
        if (t) await api("PUT", `/script-templates/${t.id}`, payload);
        else await api("POST", "/script-templates", payload);
        announce("Template saved.");
        replace(editor);
        await load();
      } catch (err) { error.textContent = err.message; }
    });
    replace(editor, form);
    name.focus();
  }

  replace(main, h("div", { class: "kb-screen" },
    tabs("#/templates"),
    h("section", { class: "panel", "aria-labelledby": "templates-h" },
      h("div", { class: "row" }, h("h1", { id: "templates-h" }, "Script templates"), h("span", { class: "spacer" }),
        h("button", { type: "button", "data-testid": "template-new", onclick: () => edit(null) }, "New template")),
      list),
    editor));
  await load();
}
