// The only way model or engineer text becomes HTML: marked turns Markdown
// into HTML, DOMPurify removes anything that could run or restyle the
// page, and the result comes back as a DocumentFragment (never a string
// assigned to innerHTML). The page's CSP is the second line of defence.

import { marked } from "./vendor/marked.esm.js";
import DOMPurify from "./vendor/purify.es.mjs";

marked.use({ gfm: true, breaks: true });

const PURIFY = {
  RETURN_DOM_FRAGMENT: true,
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe"],
  FORBID_ATTR: ["style", "class", "id"],
};

// Links open in a new tab and tell the target nothing about us; a code
// block, which may scroll sideways, can take the focus to be scrolled
// with the keyboard.
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
  if (node.tagName === "PRE") node.setAttribute("tabindex", "0");
});

/** Markdown → a sanitised DocumentFragment. */
export function renderMarkdown(text) {
  const html = marked.parse(String(text ?? ""), { async: false });
  return DOMPurify.sanitize(html, PURIFY);
}
