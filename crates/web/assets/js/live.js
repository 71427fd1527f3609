// Live updates: Chirp's Server-Sent Events read with fetch rather than EventSource, so
// that the token travels in Authorization (never in a URL) and a reconnection after a
// token renewal can still say, with Last-Event-ID, what the page last got.

import { accessToken, refresh } from "./session.js";

const STALL_MS = 45_000;

/** The newer of two item ids (decimal strings of 64-bit numbers; `a` may be null). */
export function newer(a, b) {
  if (a === null) return b;
  return BigInt(b) > BigInt(a) ? b : a;
}

/**
 * Opens `stream` ("home" or "notifications"); calls `on[event](data, id)` per event, and
 * `on.state(open)` when the connection comes or goes. With `since` (the newest item the
 * page already shows), the server first sends what came after it, so that nothing that
 * arrived while the page loaded is missed. Returns `{close()}`.
 */
export function openStream(stream, on, { since = null } = {}) {
  const stop = new AbortController();
  let lastId = since;
  let delay = 1000;

  const dispatch = (event, data, id) => {
    // Only forward: a delete names the deleted post, which may be older than the last.
    if (id && event !== "delete") lastId = newer(lastId, id);
    const f = on[event];
    if (!f) return;
    try {
      f(JSON.parse(data), id);
    } catch (e) {
      console.error(`chirp: a ${event} event the page could not use`, e);
    }
  };

  async function connect() {
    const token = await accessToken();
    if (!token) return false;
    const headers = { Authorization: `Bearer ${token}`, Accept: "text/event-stream" };
    if (lastId) headers["Last-Event-ID"] = lastId;
    const res = await fetch(`/api/v1/streaming?stream=${stream}`, { headers, signal: stop.signal });
    if (res.status === 401) return (await refresh()) ? "retry" : false;
    if (!res.ok || !res.body) throw new Error(`the stream answered ${res.status}`);
    on.state?.(true);
    delay = 1000;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let event = "message";
    let data = [];
    let id = null;
    for (;;) {
      // The server writes at least a comment every 15 s: three missed mean a connection
      // that is gone without saying so (a network change), so begin again.
      let stalled;
      const timeout = new Promise((r) => (stalled = setTimeout(() => r({ stalled: true }), STALL_MS)));
      const got = await Promise.race([reader.read(), timeout]);
      clearTimeout(stalled);
      if (got.stalled) {
        reader.cancel().catch(() => {});
        break;
      }
      const { value, done } = got;
      if (done) break;
      buffer += value;
      let nl;
      while ((nl = buffer.search(/\r\n|\n|\r/)) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          if (data.length) dispatch(event, data.join("\n"), id);
          event = "message";
          data = [];
          id = null;
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? "" : line.slice(colon + 1);
          if (val.startsWith(" ")) val = val.slice(1);
          if (field === "event") event = val;
          else if (field === "data") data.push(val);
          else if (field === "id") id = val;
        }
      }
    }
    return "retry";
  }

  (async () => {
    while (!stop.signal.aborted) {
      let again;
      try {
        again = await connect();
      } catch (e) {
        if (stop.signal.aborted) return;
        again = "retry";
      }
      on.state?.(false);
      if (!again || stop.signal.aborted) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 30_000);
    }
  })();

  return { close: () => stop.abort() };
}
