// The unread count beside "Notifications", kept live by the notifications stream while
// the page is signed in: each notification (and each reconnection) asks the server for
// the count again, so that undone actions and missed events never leave it wrong. The
// notifications page listens to the same stream.

import { api } from "./api.js";
import { subscribe } from "./hub.js";

let unread = 0;
let badge = null;
let reading = false;
let timer = null;
let generation = 0;
const listeners = new Set();

function draw() {
  if (!badge) return;
  badge.hidden = unread === 0;
  badge.querySelector(".n").textContent = unread > 99 ? "99+" : String(unread);
}

/** Where the count is shown (its text is read by screen readers; the style shows the number). */
export function attachBadge(el) {
  badge = el;
  draw();
}

export function setUnread(n) {
  unread = n;
  draw();
}

/** While the notifications page is open, it marks what arrives read itself. */
export function setReading(on) {
  reading = on;
}

/** Calls `f(notification)` for each live notification; returns the unsubscribe. */
export function onNotification(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

/** The count as the server has it, asked at most every 300 ms. */
function recount() {
  if (timer) return;
  const mine = generation;
  timer = setTimeout(async () => {
    timer = null;
    if (reading) return;
    try {
      const { count } = await api("GET", "/notifications/unread_count");
      if (mine === generation) setUnread(count);
    } catch {
      // The next notification asks again.
    }
  }, 300);
}

let unsubscribe = null;

/** Starts (signed in) or stops (signed out) the count. */
export function follow(signedIn) {
  generation += 1;
  unsubscribe?.();
  unsubscribe = null;
  setUnread(0);
  if (!signedIn) return;
  unsubscribe = subscribe("notifications", {
    notification: (n) => {
      recount();
      for (const f of listeners) f(n);
    },
    state: (open) => open && recount(),
  });
  recount();
}
