// A post's text as page content: mentions, hashtags and links as links, everything else
// as text nodes. The rules follow the server's (crates/core/src/text.rs): a mention is an
// `@` not after a word character, 3 to 30 handle characters, not followed by a word
// character, and links only when the post's `mentions` name that user; a hashtag is `#`
// and letters, digits or underscores.

import { h } from "./dom.js";

// Rust's `char::is_alphanumeric`: Alphabetic or Numeric.
const WORD = /[\p{Alphabetic}\p{N}_]/u;
const TOKEN = /(https?:\/\/[^\s<>"]+)|@([A-Za-z0-9_]{3,30})|#([\p{Alphabetic}\p{N}_]+)/gu;

/** Trailing punctuation that ends a sentence rather than a link. */
function trimLink(url) {
  const m = url.match(/[.,;:!?)\]'"]+$/);
  return m ? url.slice(0, -m[0].length) : url;
}

/** A fragment for `text`, linking the handles of `mentions` (`[{id, handle}]`). */
export function richText(text, mentions = []) {
  const known = new Map(mentions.map((m) => [m.handle.toLowerCase(), m.handle]));
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(TOKEN)) {
    const start = m.index;
    let end = start + m[0].length;
    let node = null;
    if (m[1]) {
      const url = trimLink(m[1]);
      end = start + url.length;
      node = h("a", { href: url, rel: "nofollow noopener noreferrer", target: "_blank" }, url);
    } else if (m[2]) {
      const before = text.slice(0, start);
      const prev = [...before].pop();
      const next = text.slice(end, end + 2);
      const nextChar = [...next][0];
      const handle = known.get(m[2].toLowerCase());
      if (handle && !(prev && WORD.test(prev)) && !(nextChar && WORD.test(nextChar))) {
        node = h("a", { href: `/@${handle}`, class: "mention" }, m[0]);
      }
    } else if (m[3]) {
      const tag = m[3].toLowerCase();
      node = h("a", { href: `/search?q=${encodeURIComponent("#" + tag)}`, class: "tag" }, m[0]);
    }
    if (!node) continue;
    if (start > last) frag.append(document.createTextNode(text.slice(last, start)));
    frag.append(node);
    last = end;
  }
  if (last < text.length) frag.append(document.createTextNode(text.slice(last)));
  return frag;
}
