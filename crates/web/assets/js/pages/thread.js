// A post with the posts it replies to above it and its replies below (oldest first: a
// conversation reads down), and a box to reply in.

import { api } from "../api.js";
import { h, errorBox, showError } from "../dom.js";
import { composeBox } from "../compose.js";
import { pagedList, postCard } from "../posts.js";
import { currentUser } from "../session.js";

export const title = "Post";

export async function render(main, { id }, { go, setTitle }) {
  const error = errorBox("thread-error");
  main.append(error);
  let post;
  let ancestors;
  try {
    [post, ancestors] = await Promise.all([api("GET", `/posts/${id}`), api("GET", `/posts/${id}/ancestors`)]);
  } catch (e) {
    main.append(h("h1", {}, e.status === 404 ? "This post does not exist" : "This post could not be loaded"));
    showError(error, e.status === 404 ? "It may have been deleted." : e.message);
    return;
  }
  setTitle(`${post.author.display_name}: “${post.text.slice(0, 40)}”`);
  if (post.repost_of) {
    go(`/posts/${post.repost_of.id}`, { replace: true });
    return;
  }
  const replies = pagedList(`/posts/${id}/replies`, (p) => postCard(p, { onDelete: (d) => replies.remove(d.id) }), {
    label: "Replies",
    empty: "No replies yet.",
    // Replies come oldest first: the next page holds later ones.
    moreLabel: "Load more replies",
  });
  const above = h("section", { class: "ancestors", "aria-label": "Earlier in the conversation" }, ancestors.items.map((p) => postCard(p)));
  const focus = postCard(post, { onDelete: () => go("/") });
  focus.classList.add("focus");
  main.append(h("h1", { class: "visually-hidden" }, `Post by ${post.author.display_name}`), above, focus);
  if (currentUser()) {
    const { form } = composeBox({
      id: "reply",
      label: `Reply to @${post.author.handle}`,
      placeholder: "Write your reply",
      replyTo: post.id,
      button: "Reply",
      onPosted: (reply) => replies.add(reply),
    });
    main.append(form);
  } else {
    main.append(h("p", { class: "hint" }, h("a", { href: `/login?next=${encodeURIComponent(location.pathname)}` }, "Log in"), " to reply."));
  }
  main.append(h("h2", {}, "Replies"), replies.element);
  await replies.loaded;
}
