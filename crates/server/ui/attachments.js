// Screenshots pasted or dropped into a message box: kept as base64 for
// the message's `images`, shown as thumbnails that can be removed.

import { h, replace, announce } from "./dom.js";

const TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
const MAX_IMAGES = 8;
const MAX_BYTES = 5 * 1024 * 1024;

export class Attachments {
  constructor(testid = "attachments") {
    this.items = []; // {media_type, data, name, bytes, url}
    this.el = h("ul", { class: "attachments", "data-testid": testid, "aria-label": "Attached images" });
    this.onchange = () => {};
  }

  /** A hidden file input and the button-styled label that opens it. */
  picker(id, testid) {
    const input = h("input", { type: "file", id, accept: TYPES.join(","), multiple: true,
      class: "visually-hidden", "data-testid": testid,
      onchange: () => { this.add([...input.files]); input.value = ""; } });
    return [input, h("label", { for: id, class: "button ghost small attach" }, "Attach screenshot")];
  }

  /** Listens for pasted and dropped images on `box`. */
  bind(box) {
    box.addEventListener("paste", (e) => {
      const files = [...(e.clipboardData?.files ?? [])].filter((f) => f.type.startsWith("image/"));
      if (files.length) { e.preventDefault(); this.add(files); }
    });
    box.addEventListener("dragover", (e) => {
      if ([...(e.dataTransfer?.items ?? [])].some((i) => i.kind === "file")) e.preventDefault();
    });
    box.addEventListener("drop", (e) => {
      const files = [...(e.dataTransfer?.files ?? [])];
      if (files.length) { e.preventDefault(); this.add(files); }
    });
  }

  async add(files) {
    for (const file of files) {
      if (!TYPES.includes(file.type)) { announce(`${file.name || "That file"} is not a PNG, JPEG, GIF or WebP image.`, "error"); continue; }
      if (file.size > MAX_BYTES) { announce(`${file.name || "The image"} is larger than 5 MB.`, "error"); continue; }
      if (this.items.length >= MAX_IMAGES) { announce(`At most ${MAX_IMAGES} images per message.`, "error"); break; }
      const data = await base64(file);
      this.items.push({ media_type: file.type, data, name: file.name || "pasted image", bytes: file.size,
        url: URL.createObjectURL(file) });
    }
    this.render();
  }

  /** Restores items saved by `saved()`. */
  restore(saved) {
    for (const s of saved ?? []) {
      const bytes = Uint8Array.from(atob(s.data), (c) => c.charCodeAt(0));
      this.items.push({ ...s, url: URL.createObjectURL(new Blob([bytes], { type: s.media_type })) });
    }
    this.render();
  }

  saved() {
    return this.items.map(({ media_type, data, name, bytes }) => ({ media_type, data, name, bytes }));
  }

  /** The message's `images`. */
  images() {
    return this.items.map(({ media_type, data }) => ({ media_type, data }));
  }

  clear() {
    for (const item of this.items) URL.revokeObjectURL(item.url);
    this.items = [];
    this.render();
  }

  render() {
    replace(this.el, this.items.map((item, i) => h("li", { "data-testid": "attachment" },
      h("img", { src: item.url, alt: item.name }),
      h("span", { class: "hint" }, `${item.name} · ${Math.ceil(item.bytes / 1024)} KB`),
      h("button", { type: "button", class: "link small", "aria-label": `Remove ${item.name}`, "data-testid": "attachment-remove",
        onclick: () => { URL.revokeObjectURL(item.url); this.items.splice(i, 1); this.render(); } }, "Remove"))));
    this.onchange();
  }
}

function base64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] ?? "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}
