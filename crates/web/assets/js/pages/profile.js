// A profile at /@handle: who they are, their counts, what the caller does about them
// (follow, block, mute), and their posts, followers, following and likes.

import { api } from "../api.js";
import { h, append, errorBox, showError } from "../dom.js";
import { pagedList, postCard, userCard } from "../posts.js";
import { currentUser } from "../session.js";

export const title = "Profile";

const TABS = [
  ["posts", "Posts"],
  ["followers", "Followers"],
  ["following", "Following"],
  ["likes", "Likes"],
];

/**
 * A button that sets one side of the caller's relationship, then redraws; its label says
 * what it will do ("Follow", "Unfollow"), and the keyboard's focus stays on it.
 */
function toggle(key, label, onLabel, active, act, error, redraw) {
  const b = h("button", { type: "button", class: active ? "secondary on" : "secondary", dataset: { key } }, active ? onLabel : label);
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await act(!active);
      showError(error, "");
      await redraw();
      document.querySelector(`.controls button[data-key="${key}"]`)?.focus();
    } catch (e) {
      showError(error, e.message);
      b.disabled = false;
    }
  });
  return b;
}

export async function render(main, { handle, tab = "posts" }, { setTitle }) {
  let user;
  try {
    user = await api("GET", `/users?handle=${encodeURIComponent(handle)}`);
  } catch (e) {
    main.append(h("h1", {}, e.status === 404 ? `No one is called @${handle}` : "This profile could not be loaded"));
    if (e.status !== 404) main.append(h("p", { class: "error", role: "alert" }, e.message));
    return;
  }
  setTitle(`${user.display_name} (@${user.handle})`);
  const me = currentUser();
  const error = errorBox("profile-error");
  const controls = h("div", { class: "controls" });
  const base = `/@${user.handle}`;
  const counts = h(
    "p",
    { class: "counts" },
    h("a", { href: `${base}/following` }, h("strong", {}, String(user.following_count)), " following"),
    h("a", { href: `${base}/followers` }, h("strong", {}, String(user.followers_count)), user.followers_count === 1 ? " follower" : " followers"),
    h("span", {}, h("strong", {}, String(user.posts_count)), user.posts_count === 1 ? " post" : " posts"),
  );
  const header = h(
    "section",
    { class: "card profile", "aria-labelledby": "profile-name" },
    h("h1", { id: "profile-name" }, user.display_name, " ", h("span", { class: "handle" }, `@${user.handle}`)),
    user.bio ? h("p", { class: "bio" }, user.bio) : null,
    counts,
    controls,
    error,
  );

  async function drawControls() {
    controls.replaceChildren();
    if (!me) return;
    if (me.id === user.id) {
      append(controls, [h("a", { href: "/settings", class: "button secondary" }, "Edit profile")]);
      return;
    }
    const rel = (await api("GET", `/relationships?ids=${user.id}`)).items[0];
    const path = (what) => `/users/${user.id}/${what}`;
    if (rel.followed_by) append(controls, [h("span", { class: "badge" }, "Follows you")]);
    if (!rel.blocking && !rel.blocked_by) {
      append(controls, [toggle("follow", "Follow", "Unfollow", rel.following, (on) => api(on ? "POST" : "DELETE", path("follow")), error, drawControls)]);
    }
    append(controls, [
      toggle("mute", "Mute", "Unmute", rel.muting, (on) => api(on ? "POST" : "DELETE", path("mute")), error, drawControls),
      toggle("block", "Block", "Unblock", rel.blocking, (on) => api(on ? "POST" : "DELETE", path("block")), error, drawControls),
    ]);
  }

  const nav = h(
    "nav",
    { class: "tabs", "aria-label": "Profile sections" },
    TABS.map(([key, label]) =>
      h("a", { href: key === "posts" ? base : `${base}/${key}`, "aria-current": key === tab ? "page" : null }, label),
    ),
  );
  const lists = {
    posts: () => pagedList(`/users/${user.id}/posts`, (p) => postCard(p, { onDelete: (d) => list.remove(d.id) }), { label: "Posts", empty: "No posts yet." }),
    followers: () => pagedList(`/users/${user.id}/followers`, userCard, { label: "Followers", empty: "No followers yet." }),
    following: () => pagedList(`/users/${user.id}/following`, userCard, { label: "Following", empty: "Not following anyone yet." }),
    likes: () => pagedList(`/users/${user.id}/likes`, (p) => postCard(p), { label: "Likes", empty: "No likes yet." }),
  };
  const list = lists[tab]();
  main.append(header, nav, list.element);
  try {
    await drawControls();
  } catch (e) {
    showError(error, e.message);
  }
  await list.loaded;
}
