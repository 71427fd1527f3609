// Search for posts (every word must match; `#tag` finds the hashtag) or for people (by
// the start of a handle or name). The query lives in the address, so a search can be
// shared and the back button works.

import { h } from "../dom.js";
import { pagedList, postCard, userCard } from "../posts.js";

export const title = "Search";

export async function render(main, _params, { go, setTitle }) {
  const params = new URLSearchParams(location.search);
  const q = params.get("q") || "";
  const kind = params.get("type") === "users" ? "users" : "posts";
  const input = h("input", { id: "q", name: "q", type: "search", value: q, autocomplete: "off" });
  const radio = (value, label) =>
    h("label", { class: "choice" }, h("input", { type: "radio", name: "type", value, checked: kind === value }), ` ${label}`);
  const form = h(
    "form",
    { class: "search card", role: "search" },
    h("h1", {}, "Search"),
    h("label", { for: "q" }, "Search for"),
    h("div", { class: "row" }, input, h("button", { type: "submit", class: "primary" }, "Search")),
    h("fieldset", {}, h("legend", {}, "Look for"), radio("posts", "Posts"), radio("users", "People")),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const type = form.querySelector("input[name=type]:checked")?.value || "posts";
    const next = new URLSearchParams({ q: input.value.trim() });
    if (type === "users") next.set("type", "users");
    go(`/search?${next}`);
  });
  main.append(form);
  if (!q.trim()) {
    input.focus();
    return;
  }
  setTitle(`Search: ${q}`);
  const results =
    kind === "users"
      ? pagedList(`/search/users?q=${encodeURIComponent(q)}`, userCard, { label: "People found", empty: `No one matches “${q}”.` })
      : pagedList(`/search/posts?q=${encodeURIComponent(q)}`, (p) => postCard(p), { label: "Posts found", empty: `No post matches “${q}”.` });
  main.append(h("h2", {}, kind === "users" ? "People" : "Posts"), results.element);
  await results.loaded;
}
