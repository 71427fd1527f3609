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
  const feed = pagedList("/timelines/home", (p) => card(p), {
    label: "Home timeline",
    empty: "Your home timeline is empty. Follow people to see their posts here.",
  });
  // A post that leaves may come back (an unmute): forget it was shown.
  const remove = (post) => {
    feed.seen.delete(post.id);
    for (const el of feed.list.querySelectorAll(`[data-id="${post.id}"]`)) el.remove();
  };
  const card = (p) => postCard(p, { onDelete: remove });
  const show = (post) => {
    const waiting = pending.findIndex((p) => p.id === post.id);
    if (waiting >= 0) {
      pending.splice(waiting, 1);
      drawBar();
    }
    if (feed.seen.has(post.id)) return;
    feed.seen.add(post.id);
    feed.list.querySelector(".empty")?.remove();
    feed.list.prepend(card(post));
  };
  const { form } = composeBox({
    id: "compose",
    label: "What's happening?",
    placeholder: "Write a post",
    onPosted: show,
  });
  const drawBar = () => {
    bar.hidden = pending.length === 0;
    bar.textContent = pending.length === 1 ? "1 new post" : `${pending.length} new posts`;
  };
  bar.addEventListener("click", () => {
    while (pending.length) show(pending.pop());
    drawBar();
    feed.list.querySelector("article")?.focus();
    window.scrollTo({ top: 0 });
  });
  main.append(h("h1", { class: "visually-hidden" }, "Home"), form, bar, feed.element);
  // Listening from before the first page arrives: what comes meanwhile waits, and goes
  // under the bar unless the page holds it.
  let loaded = false;
  const early = [];
  const arrived = (post) => {
    if (feed.seen.has(post.id) || pending.some((p) => p.id === post.id)) return;
    // The reader's own posts (from another tab, or this one's before its answer came)
    // go straight to the top, as the compose box puts them.
    if (post.author.id === currentUser()?.id && !post.repost_of) {
      show(post);
      return;
    }
    pending.unshift(post);
    drawBar();
  };
  const stop = subscribe("home", {
    post: (post) => (loaded ? arrived(post) : early.push(post)),
    delete: ({ id }) => {
      const i = pending.findIndex((p) => p.id === id);
      if (i >= 0) pending.splice(i, 1);
      drawBar();
      remove({ id });
    },
    state: (open) => main.classList.toggle("live", open),
  });
  await feed.loaded;
  loaded = true;
  early.forEach(arrived);
  performance.mark("chirp-home-drawn");
  return stop;
}
