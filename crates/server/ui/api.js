// The UI's only door to the server: JSON over fetch, same origin, with the
// sign-in cookie. Every request carries `X-FlowPilot-Request: 1`, which the
// server requires (or a same-origin Origin) on cookie-authenticated writes:
// a page on another site can't add that header without a CORS preflight,
// which this server never grants.

import { SseParser } from "./sse.js";

const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, message, turnId) {
    super(message);
    this.status = status;
    this.code = code;
    this.turnId = turnId ?? null;
  }
}

function headers(extra = {}) {
  return { "X-FlowPilot-Request": "1", Accept: "application/json", ...extra };
}

async function failure(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON: a proxy's page */ }
  const err = body && body.error;
  return new ApiError(response.status, err ? err.code : "http_error",
    err ? err.message : `the server answered ${response.status}; try again in a moment`,
    body && body.turn_id);
}

/** `api("GET", "/sessions")` → the parsed JSON body (null for 204). */
export async function api(method, path, body, extraHeaders = {}) {
  const init = { method, headers: headers(extraHeaders), credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch {
    throw new ApiError(0, "network", "could not reach FlowPilot; check the connection and try again");
  }
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

/**
 * Sends a message and streams its turn. `on(event, data)` is called for
 * each SSE event; resolves with the `turn.completed` data, rejects with an
 * ApiError for `turn.failed` or an error answer.
 */
export async function streamTurn(sessionId, body, key, on, signal) {
  let response;
  try {
    response = await fetch(`${BASE}/sessions/${sessionId}/messages`, {
      method: "POST",
      credentials: "same-origin",
      headers: headers({
        Accept: "text/event-stream",
        "Content-Type": "application/json",
        "Idempotency-Key": key,
      }),
      body: JSON.stringify(body),
      signal,
    });
  } catch {
    throw new ApiError(0, "network", "could not reach FlowPilot; your message was not sent, try again");
  }
  if (!response.ok) throw await failure(response);
  if (!(response.headers.get("Content-Type") || "").includes("text/event-stream")) {
    return response.json(); // a replayed send answers with the stored turn
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  let turnId = null;
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch {
      throw new ApiError(0, "stream_broken",
        "the connection dropped while the reply was being written; the session refreshes from what was stored",
        turnId);
    }
    if (chunk.done) break;
    for (const e of parser.feed(chunk.value)) {
      let data;
      try { data = JSON.parse(e.data); } catch { continue; }
      if (e.event === "turn.started") turnId = data.turn_id;
      on(e.event, data);
      if (e.event === "turn.completed") return data;
      if (e.event === "turn.failed") {
        throw new ApiError(502, data.error?.code ?? "turn_failed",
          data.error?.message ?? "the reply failed", data.turn_id);
      }
    }
  }
  throw new ApiError(0, "stream_broken",
    "the reply stopped before it finished; the session refreshes from what was stored", turnId);
}
