// Posts, users and pages of them, as the pages show them.

import { api, query } from "./api.js";
import { h, append, replace, time, errorBox, showError } from "./dom.js";
import { currentUser } from "./session.js";
import { richText } from "./text.js";

/** The link to a user's profile, by display name and handle. */
export function byline(author) {
  return h(
    "a",
    { href: `/@${author.handle}`, class: "byline" },
    h("span", { class: "name" }, author.display_name),
    " ",
    h("span", { class: "handle" }, `@${author.handle}`),
  );
}

/** A button that toggles a reaction at once for the caller, and undoes it if refused. */
function reactionButton(kind, post, onError) {
  const label = kind === "like" ? "Like" : "Repost";
  const field = kind === "like" ? "like_count" : "repost_count";
  const flag = kind === "like" ? "liked" : "reposted";
  let on = Boolean(post.viewer?.[flag]);
  let n = post[field];
  const num = h("span", { class: "n" });
  // The name is what the button shows ("Like 3": the word for screen readers only);
  // aria-pressed says whether the caller has liked.
  const btn = h(
    "button",
    { type: "button", class: `act ${kind}` },
    h("span", { class: "icon", "aria-hidden": "true" }),
    h("span", { class: "visually-hidden" }, `${label} `),
    num,
  );
  const draw = () => {
    num.textContent = String(n);
    btn.setAttribute("aria-pressed", String(on));
    btn.classList.toggle("on", on);
  };
  draw();
  if (!currentUser()) {
    btn.disabled = true;
    return btn;
  }
  // Changed at once for the caller; one request at a time (a second click waits for the
  // first's answer), so that the count and the state end as the server has them.
  btn.addEventListener("click", async () => {
    if (btn.getAttribute("aria-busy") === "true") return;
    const was = on;
    on = !on;
    n += on ? 1 : -1;
    draw();
    btn.setAttribute("aria-busy", "true");
    try {
      await api(on ? "POST" : "DELETE", `/posts/${post.id}/${kind}`);
      onError("");
    } catch (e) {
      on = was;
      n += on ? 1 : -1;
      draw();
      onError(e.message);
    } finally {
      btn.removeAttribute("aria-busy");
    }
  });
  return btn;
}

/** An `<article>` for `post`; a repost shows its original with who reposted it. */
export function postCard(post, { onDelete } = {}) {
  const shown = post.repost_of || post;
  const error = errorBox();
  const onError = (m) => showError(error, m);
  const me = currentUser();
  const link = `/posts/${shown.id}`;
  const article = h("article", {
    class: "post",
    dataset: { id: post.id, original: shown.id },
    "aria-labelledby": `p${post.id}-by`,
    tabindex: "-1",
  });
  if (post.repost_of) {
    append(article, [
      h("p", { class: "reposted" }, h("span", { "aria-hidden": "true" }, "⟳ "), h("a", { href: `/@${post.author.handle}` }, post.author.display_name), " reposted"),
    ]);
  }
  const head = h(
    "header",
    { id: `p${post.id}-by` },
    byline(shown.author),
    " · ",
    h("a", { href: link, class: "when" }, time(shown.created_at)),
    shown.edited_at ? h("span", { class: "edited" }, " · edited") : null,
  );
  append(article, [head]);
  if (shown.reply_to) {
    append(article, [h("p", { class: "replying" }, h("a", { href: `/posts/${shown.reply_to}` }, "Replying to a post"))]);
  }
  append(article, [h("p", { class: "text" }, richText(shown.text, shown.mentions))]);
  const actions = h(
    "div",
    { class: "actions" },
    h(
      "a",
      { href: link, class: "act reply" },
      h("span", { class: "icon", "aria-hidden": "true" }),
      h("span", { class: "visually-hidden" }, "Replies "),
      h("span", { class: "n" }, String(shown.reply_count)),
    ),
    reactionButton("repost", shown, onError),
    reactionButton("like", shown, onError),
  );
  if (me && post.author.id === me.id && onDelete) {
    const del = h(
      "button",
      { type: "button", class: "act delete" },
      post.repost_of ? "Undo repost" : "Delete",
      h("span", { class: "visually-hidden" }, ` of ${new Date(shown.created_at).toLocaleString()}`),
    );
    del.addEventListener("click", async () => {
      if (!post.repost_of && !confirm("Delete this post?")) return;
      try {
        if (post.repost_of) await api("DELETE", `/posts/${shown.id}/repost`);
        else await api("DELETE", `/posts/${post.id}`);
        onDelete(post);
      } catch (e) {
        onError(e.message);
      }
    });
    append(actions, [del]);
  }
  append(article, [actions, error]);
  return article;
}

/** A user in a list: name, handle, bio. */
export function userCard(user) {
  return h(
    "article",
    { class: "user" },
    byline(user),
    user.bio ? h("p", { class: "bio" }, user.bio) : null,
  );
}

/**
 * A list that pages: `path` answers `{items, next_cursor}`; `card(item)` draws one.
 * Returns the list's element and `loaded` (resolves after the first page is drawn),
 * `has(id)`, `add(item, {first})` (once per id), `remove(id)` (it may be added again), and
 * `afterFirstPage(f)`: `f` as a handler whose calls before the first page wait for it
 * (live items that arrive while the page loads).
 */
export function pagedList(path, card, { empty = "Nothing here yet.", label, limit = 20, moreLabel = "Load older" } = {}) {
  const list = h("div", { class: "list", role: "feed", "aria-label": label, "aria-busy": "true" });
  const more = h("button", { type: "button", class: "more", hidden: true }, moreLabel);
  const error = errorBox();
  const wrap = h("section", { class: "paged" }, list, error, more);
  let cursor = null;
  const seen = new Set();
  function add(item, { first = false } = {}) {
    if (seen.has(item.id)) return;
    seen.add(item.id);
    list.querySelector(".empty")?.remove();
    if (first) list.prepend(card(item));
    else list.append(card(item));
  }
  async function load() {
    more.disabled = true;
    list.setAttribute("aria-busy", "true");
    try {
      const sep = path.includes("?") ? "&" : "?";
      const page = await api("GET", `${path}${sep}${query({ limit, cursor }).slice(1)}`);
      showError(error, "");
      for (const item of page.items) add(item);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      if (!list.children.length) replace(list, h("p", { class: "empty" }, empty));
    } catch (e) {
      showError(error, e.message);
      more.hidden = false;
      more.textContent = "Try again";
    } finally {
      more.disabled = false;
      list.setAttribute("aria-busy", "false");
    }
  }
  more.addEventListener("click", () => {
    more.textContent = moreLabel;
    load();
  });
  let drawn = false;
  const waiting = [];
  const loaded = load().then(() => {
    drawn = true;
    waiting.splice(0).forEach((call) => call());
  });
  return {
    element: wrap,
    list,
    loaded,
    has: (id) => seen.has(id),
    add,
    remove(id) {
      seen.delete(id);
      for (const el of list.querySelectorAll(`[data-id="${id}"]`)) el.remove();
    },
    afterFirstPage: (f) => (...args) => (drawn ? f(...args) : waiting.push(() => f(...args))),
  };
}
