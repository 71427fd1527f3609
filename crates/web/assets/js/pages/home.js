// Home: the compose box, the home timeline with "Load older", and new posts arriving live,
// held under a "N new posts" bar until asked for, so that the page never moves under the
// reader.

import { h } from "../dom.js";
import { composeBox } from "../compose.js";
import { subscribe } from "../hub.js";
import { pagedList, postCard } from "../posts.js";
import { currentUser } from "../session.js";

export const title = "Home";
export const needsSession = true;

export async function render(main) {
  const pending = [];
  const bar = h("button", { type: "button", class: "new-posts", hidden: true, "aria-live": "polite" });
  const drawBar = () => {
    bar.hidden = pending.length === 0;
    bar.textContent = pending.length === 1 ? "1 new post" : `${pending.length} new posts`;
  };
  const unpend = (id) => {
    const i = pending.findIndex((p) => p.id === id);
    if (i >= 0) pending.splice(i, 1);
    drawBar();
  };
  // A post that leaves may come back (an unmute): the list forgets it was shown.
  const feed = pagedList("/timelines/home", (p) => postCard(p, { onDelete: (d) => feed.remove(d.id) }), {
    label: "Home timeline",
    empty: "Your home timeline is empty. Follow people to see their posts here.",
  });
  const show = (post) => {
    unpend(post.id);
    feed.add(post, { first: true });
  };
  const { form } = composeBox({
    id: "compose",
    label: "What's happening?",
    placeholder: "Write a post",
    onPosted: show,
  });
  bar.addEventListener("click", () => {
    while (pending.length) show(pending.pop());
    feed.list.querySelector("article")?.focus();
    window.scrollTo({ top: 0 });
  });
  main.append(h("h1", { class: "visually-hidden" }, "Home"), form, bar, feed.element);
  // Listening from before the first page arrives: what comes meanwhile waits for it, and
  // goes under the bar unless the page holds it.
  const stop = subscribe("home", {
    post: feed.afterFirstPage((post) => {
      if (feed.has(post.id) || pending.some((p) => p.id === post.id)) return;
      // The reader's own posts (from another tab, or this one's before its answer came)
      // go straight to the top, as the compose box puts them.
      if (post.author.id === currentUser()?.id && !post.repost_of) {
        show(post);
        return;
      }
      pending.unshift(post);
      drawBar();
    }),
    delete: ({ id }) => {
      unpend(id);
      feed.remove(id);
    },
    state: (open) => main.classList.toggle("live", open),
  });
  await feed.loaded;
  performance.mark("chirp-home-drawn");
  return stop;
}
