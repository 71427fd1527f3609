// The live streams of a signed-in browser, shared by its tabs. Browsers open at most six
// HTTP/1.1 connections to one host, and a stream holds one for as long as it runs: a
// stream per tab and page would leave none for anything else after a few tabs. So one
// tab (elected with a Web Lock, held while it lives) holds the home and notifications
// streams, and relays every event to the others over a BroadcastChannel; when it closes,
// the next tab takes over from the last ids everyone saw (the server replays what came
// after them). Where a page has neither (an insecure context), each tab holds its own.

import { newer, openStream } from "./live.js";

const STREAMS = { home: ["post", "delete"], notifications: ["notification"] };
const channel = "BroadcastChannel" in window ? new BroadcastChannel("chirp-streams") : null;
const subscribers = { home: new Set(), notifications: new Set() };
const lastIds = { home: null, notifications: null };
const connected = { home: false, notifications: false };
let current = null;

function deliver(stream, event, data, id) {
  // A delete carries the deleted post's id, which may be old: ids only move forward.
  if (id && event !== "delete") lastIds[stream] = newer(lastIds[stream], id);
  for (const on of subscribers[stream]) {
    if (event === "state") on.state?.(data);
    else on[event]?.(data, id);
  }
}

function setState(stream, open) {
  connected[stream] = open;
  deliver(stream, "state", open);
}

channel?.addEventListener("message", ({ data: m }) => {
  if (m.ask) {
    // A tab that just started asks how the streams are.
    if (current?.leading) for (const s of Object.keys(STREAMS)) channel.postMessage({ stream: s, event: "state", data: connected[s] });
    return;
  }
  if (m.event === "state") setState(m.stream, m.data);
  else deliver(m.stream, m.event, m.data, m.id);
});

/** Calls `on[event](data, id)` for each event of `stream`, and `on.state(open)`. */
export function subscribe(stream, on) {
  subscribers[stream].add(on);
  if (connected[stream]) on.state?.(true);
  return () => subscribers[stream].delete(on);
}

function openAll() {
  return Object.entries(STREAMS).map(([stream, events]) => {
    const on = {
      state: (open) => {
        setState(stream, open);
        channel?.postMessage({ stream, event: "state", data: open });
      },
    };
    for (const event of events) {
      on[event] = (data, id) => {
        deliver(stream, event, data, id);
        channel?.postMessage({ stream, event, data, id });
      };
    }
    return openStream(stream, on, { since: lastIds[stream] });
  });
}

let wanted = false;

/** Signed in: this tab holds the streams, or waits to (signed out: it lets them go). */
export function runStreams(signedIn) {
  wanted = signedIn;
  if (current) {
    current.stop();
    current = null;
  }
  for (const s of Object.keys(STREAMS)) setState(s, false);
  if (!signedIn) return;
  const mine = { leading: false, streams: [], stop: null };
  if (!navigator.locks || !channel) {
    mine.leading = true;
    mine.streams = openAll();
    mine.stop = () => mine.streams.forEach((s) => s.close());
    current = mine;
    return;
  }
  const giveUp = new AbortController();
  let release;
  const held = new Promise((r) => (release = r));
  navigator.locks
    .request("chirp-streams", { signal: giveUp.signal }, async () => {
      mine.leading = true;
      mine.streams = openAll();
      await held;
      mine.streams.forEach((s) => s.close());
    })
    .catch(() => {});
  mine.stop = () => {
    giveUp.abort();
    release();
  };
  current = mine;
  channel.postMessage({ ask: true });
}

// A page the browser keeps for its back button (Firefox's back-forward cache) would go on
// holding its streams' connections and the lock: it lets them go while hidden, and takes
// its part again when shown.
window.addEventListener("pagehide", () => {
  if (current) {
    current.stop();
    current = null;
  }
});
window.addEventListener("pageshow", (e) => {
  if (e.persisted && wanted) runStreams(true);
});
