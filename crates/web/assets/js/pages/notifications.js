// Notifications: what others did with the caller's posts and account, newest first; new
// ones arrive live. Opening the page marks them read.

import { api } from "../api.js";
import { h, time } from "../dom.js";
import { pagedList } from "../posts.js";
import { onNotification, setReading, setUnread } from "../badge.js";

export const title = "Notifications";
export const needsSession = true;

const WHAT = {
  follow: "followed you",
  like: "liked your post",
  repost: "reposted your post",
  reply: "replied to your post",
  mention: "mentioned you",
};

function card(n) {
  const post = n.post;
  return h(
    "article",
    { class: `notification ${n.type}${n.read ? "" : " unread"}`, dataset: { id: n.id } },
    h("p", {}, n.read ? null : h("span", { class: "visually-hidden" }, "Unread: "), h("a", { href: `/@${n.actor.handle}`, class: "byline" }, h("span", { class: "name" }, n.actor.display_name)), ` ${WHAT[n.type] || n.type} · `, time(n.created_at)),
    post ? h("p", { class: "text quoted" }, h("a", { href: `/posts/${post.id}`, class: "quote-link" }, post.text || post.repost_of?.text || "")) : null,
  );
}

export async function render(main) {
  setReading(true);
  const feed = pagedList("/notifications", card, { label: "Notifications", empty: "No notifications yet." });
  main.append(h("h1", {}, "Notifications"), feed.element);
  const markRead = async (id) => {
    try {
      await api("POST", "/notifications/read", { up_to: id });
      setUnread(0);
    } catch {
      // The badge stays as it is; the next visit marks them.
    }
  };
  // Listening from before the first page arrives; what comes meanwhile is added after it.
  const stop = onNotification(
    feed.afterFirstPage((n) => {
      if (feed.has(n.id)) return;
      feed.add(n, { first: true });
      markRead(n.id);
    }),
  );
  await feed.loaded;
  const newest = feed.list.querySelector("article.notification");
  if (newest) await markRead(newest.dataset.id);
  return () => {
    stop();
    setReading(false);
  };
}
