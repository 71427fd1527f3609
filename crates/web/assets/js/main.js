// The client's entry: restores the session, draws the navigation, and draws the page the
// address names (links inside the client change the address with the history API; a
// reload or a shared link draws the same page).

import { h, replace, errorBox, showError } from "./dom.js";
import { attachBadge, follow } from "./badge.js";
import { runStreams } from "./hub.js";
import { currentUser, logOut, onSessionChange, refresh } from "./session.js";
import * as home from "./pages/home.js";
import { login, signup } from "./pages/auth.js";
import * as thread from "./pages/thread.js";
import * as profile from "./pages/profile.js";
import * as notifications from "./pages/notifications.js";
import * as search from "./pages/search.js";
import * as settings from "./pages/settings.js";

const ROUTES = [
  [/^\/$/, home],
  [/^\/login$/, login],
  [/^\/signup$/, signup],
  [/^\/notifications$/, notifications],
  [/^\/search$/, search],
  [/^\/settings$/, settings],
  [/^\/posts\/(?<id>\d{1,20})$/, thread],
  [/^\/@(?<handle>\w{1,30})$/, profile],
  [/^\/@(?<handle>\w{1,30})\/(?<tab>followers|following|likes)$/, profile],
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const banner = errorBox("banner");
document.querySelector("header.top").after(banner);
let cleanup = null;
let drawing = 0;
/** The address of the page drawn last. */
let drawnPath = location.pathname + location.search;

function go(path, { replace: swap = false } = {}) {
  if (swap) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  draw(true);
}

function setTitle(text) {
  document.title = `${text} · Chirp`;
}

function drawNav() {
  const me = currentUser();
  const here = location.pathname;
  const link = (href, label, extra) =>
    h("a", { href, "aria-current": here === href ? "page" : null }, label, extra);
  if (me) {
    const badge = h(
      "span",
      { class: "badge count-badge", hidden: true },
      h("span", { class: "n", "aria-hidden": "true" }),
      h("span", { class: "visually-hidden" }, " (unread)"),
    );
    attachBadge(badge);
    const out = h("button", { type: "button", class: "link" }, "Log out");
    out.addEventListener("click", async () => {
      out.disabled = true;
      try {
        await logOut();
        go("/login");
      } catch (e) {
        showError(banner, `You are still logged in: ${e.message}`);
        out.disabled = false;
      }
    });
    replace(
      nav,
      link("/", "Home"),
      link("/search", "Search"),
      link("/notifications", "Notifications", badge),
      link(`/@${me.handle}`, "Profile"),
      link("/settings", "Settings"),
      out,
    );
  } else {
    replace(nav, link("/search", "Search"), link("/login", "Log in"), link("/signup", "Sign up"));
  }
}

async function draw(moved) {
  const n = ++drawing;
  cleanup?.();
  cleanup = null;
  const path = location.pathname;
  drawnPath = path + location.search;
  const route = ROUTES.find(([re]) => re.test(path));
  drawNav();
  main.replaceChildren();
  if (!route) {
    setTitle("Not found");
    main.append(h("h1", {}, "This page does not exist"), h("p", {}, h("a", { href: "/" }, "Go home")));
    return;
  }
  const [re, page] = route;
  const me = currentUser();
  if (page.needsSession && !me) {
    go(`/login?next=${encodeURIComponent(path + location.search)}`, { replace: true });
    return;
  }
  if ((page === login || page === signup) && me) {
    go("/", { replace: true });
    return;
  }
  setTitle(page.title);
  const params = path.match(re).groups || {};
  try {
    const done = await page.render(main, params, { go, setTitle });
    if (n !== drawing) done?.();
    else cleanup = done || null;
  } catch (e) {
    if (n !== drawing) return;
    main.append(h("p", { class: "error", role: "alert" }, e.message || "This page could not be drawn."));
  }
  if (moved && n === drawing && !main.contains(document.activeElement)) {
    const heading = main.querySelector("h1");
    if (heading) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
    window.scrollTo({ top: 0 });
  }
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[href]");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  if (a.target === "_blank" || a.origin !== location.origin || a.pathname.startsWith("/api/")) return;
  // A link within the page (the skip link) is the browser's to follow.
  if (a.pathname + a.search === location.pathname + location.search) return;
  e.preventDefault();
  go(a.pathname + a.search);
});
// Back and forward draw the page again; a move within the page (the skip link's
// fragment) does not.
window.addEventListener("popstate", () => {
  if (location.pathname + location.search !== drawnPath) draw(true);
});

let signedIn = null;
let shown = null;
onSessionChange((user) => {
  // Another tab signed in as someone else, and this tab's refresh brought that session:
  // nothing on this page is theirs.
  if (user && shown && user.id !== shown.id) {
    location.reload();
    return;
  }
  const now = Boolean(user);
  if (now !== signedIn) {
    signedIn = now;
    runStreams(now);
    follow(now);
  }
  // The navigation is drawn again only when what it shows changes (not on each token
  // renewal, which would take the keyboard's focus out of it).
  if (user?.handle !== shown?.handle || Boolean(user) !== Boolean(shown)) drawNav();
  shown = user ? { id: user.id, handle: user.handle } : null;
});

(async () => {
  try {
    await refresh();
  } catch (e) {
    showError(banner, `Your session could not be checked: ${e.message}`);
  }
  if (signedIn === null) {
    signedIn = Boolean(currentUser());
    runStreams(signedIn);
    follow(signedIn);
  }
  draw(false);
})();
