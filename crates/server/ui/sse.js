// An incremental parser for text/event-stream, for the one stream
// EventSource can't open: the POST that sends a message. Feed it chunks as
// they arrive; it returns the events completed so far.

export class SseParser {
  constructor() {
    this.buffer = "";
    this.reset();
  }

  reset() {
    this.event = { id: null, event: "message", data: [] };
  }

  /** @returns {{id: string|null, event: string, data: string}[]} */
  feed(chunk) {
    this.buffer += chunk;
    const events = [];
    let end;
    while ((end = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, end);
      const eol = this.buffer.startsWith("\r\n", end) ? 2 : 1;
      // A lone "\r" at the end may be the first half of "\r\n".
      if (eol === 1 && this.buffer[end] === "\r" && end === this.buffer.length - 1) break;
      this.buffer = this.buffer.slice(end + eol);
      const done = this.line(line);
      if (done) events.push(done);
    }
    return events;
  }

  line(line) {
    if (line === "") {
      const e = this.event;
      this.reset();
      return e.data.length ? { id: e.id, event: e.event, data: e.data.join("\n") } : null;
    }
    if (line.startsWith(":")) return null; // a heartbeat comment
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "data") this.event.data.push(value);
    else if (name === "event") this.event.event = value;
    else if (name === "id") this.event.id = value;
    return null;
  }
}
