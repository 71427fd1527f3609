// The signed-in session as the page sees it: the user and an access token, in memory
// only. The refresh token stays in an HttpOnly cookie that only /web/session routes
// receive; a new access token is fetched before the current one expires, and at load.
// Refreshing rotates the cookie's token, and presenting a used one ends the session, so
// the tabs of one browser take turns (Web Locks) and each reads the cookie the last
// refresh left.

const CSRF = { "X-Chirp-Csrf": "1" };

/** What a request to a session route failed with. */
export class SessionError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

const state = { user: null, token: null, expiresAt: 0, margin: 0, timer: null };
const listeners = new Set();

/** The signed-in user, or null. */
export function currentUser() {
  return state.user;
}

/** Calls `f(user)` on every sign-in, sign-out and profile change. */
export function onSessionChange(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

function changed() {
  for (const f of listeners) f(state.user);
}

/** Updates the user the page shows (after a profile edit). */
export function setUser(user) {
  state.user = user;
  changed();
}

/** An answer's JSON body, or null (none, or not JSON). */
export async function jsonOf(res) {
  if (res.status === 204) return null;
  try {
    return await res.json();
  } catch {
    return null;
  }
}

async function post(path, method = "POST", body) {
  let res;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: body ? { ...CSRF, "Content-Type": "application/json" } : CSRF,
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new SessionError(0, "Chirp cannot be reached. Check your connection and try again.");
  }
  const data = await jsonOf(res);
  if (!res.ok) {
    const detail = data?.detail || `The server answered ${res.status}.`;
    const err = new SessionError(res.status, detail);
    err.retryAfter = res.headers.get("Retry-After");
    throw err;
  }
  return data;
}

function begin(session) {
  state.user = session.user;
  state.token = session.access_token;
  state.expiresAt = Date.now() + session.expires_in * 1000;
  // How close to its end a token is renewed before use: half a minute, or a fifth of
  // its life if that is shorter (else a short-lived token would be renewed at every use).
  state.margin = Math.min(30_000, session.expires_in * 200);
  clearTimeout(state.timer);
  // Renew at four fifths of the token's life, so that no request carries an expired one.
  state.timer = setTimeout(() => refresh().catch(() => {}), session.expires_in * 800);
  changed();
}

function end() {
  clearTimeout(state.timer);
  state.user = null;
  state.token = null;
  state.expiresAt = 0;
  changed();
}

async function exclusively(f) {
  if (navigator.locks) return navigator.locks.request("chirp-session", f);
  return f();
}

let inFlight = null;

/**
 * A new access token from the cookie's session (at load: the session, if there is one);
 * false, and the page signed out, when it has ended.
 */
export function refresh() {
  if (!inFlight) {
    inFlight = exclusively(async () => {
      try {
        begin(await post("/web/session/refresh"));
        return true;
      } catch (e) {
        if (e.status === 401) {
          end();
          return false;
        }
        throw e;
      }
    }).finally(() => {
      inFlight = null;
    });
  }
  return inFlight;
}

export async function logIn(login, password) {
  begin(await exclusively(() => post("/web/session", "POST", { login, password })));
}

export async function signUp(fields) {
  begin(await exclusively(() => post("/web/signup", "POST", fields)));
}

/** Ends the session on the server, then in the page. */
export async function logOut() {
  await exclusively(() => post("/web/session", "DELETE"));
  end();
}

/** An access token not about to expire (null when signed out). */
export async function accessToken() {
  if (!state.token) return null;
  if (Date.now() > state.expiresAt - state.margin) await refresh();
  return state.token;
}
