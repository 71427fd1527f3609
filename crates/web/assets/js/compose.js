// The box a post or a reply is written in: a live count of characters against the limit,
// the server's refusal shown beside it, and the text kept until the post is accepted.

import { api } from "./api.js";
import { h, length, errorBox, showError } from "./dom.js";

export const LIMIT = 280;

/** A random key (crypto.randomUUID exists only on HTTPS and localhost pages). */
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A form that posts (with `replyTo`, a reply) and calls `onPosted(post)`. */
export function composeBox({ id, label, placeholder, replyTo, onPosted, button = "Post" }) {
  const area = h("textarea", {
    id,
    name: "text",
    rows: 3,
    placeholder,
    "aria-describedby": `${id}-count ${id}-error`,
  });
  // Not a live region: read when the box is focused; going over the limit is announced
  // by the error beside it.
  const counter = h("span", { id: `${id}-count`, class: "count" });
  const error = errorBox(`${id}-error`);
  const submit = h("button", { type: "submit", class: "primary" }, button);
  const form = h(
    "form",
    { class: "compose" },
    h("label", { for: id }, label),
    area,
    h("div", { class: "compose-foot" }, counter, submit),
    error,
  );
  // One key per text: a retry of the same text after a lost answer creates nothing new.
  let key = null;
  let keyText = null;
  const update = () => {
    const n = length(area.value);
    const over = n - LIMIT;
    counter.textContent = over > 0 ? `${over} over the limit` : `${n}/${LIMIT}`;
    counter.classList.toggle("over", over > 0);
    submit.disabled = n === 0 || over > 0 || !area.value.trim();
    if (over > 0) showError(error, `A post is at most ${LIMIT} characters: this one is ${over} too long.`);
    else if (error.dataset.kind === "length") showError(error, "");
    error.dataset.kind = over > 0 ? "length" : "";
  };
  area.addEventListener("input", update);
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = area.value;
    if (keyText !== text) {
      key = newKey();
      keyText = text;
    }
    submit.disabled = true;
    try {
      const body = replyTo ? { text, reply_to: replyTo } : { text };
      const post = await api("POST", "/posts", body, { headers: { "Idempotency-Key": key } });
      // What was typed while it was being sent stays.
      if (area.value === text) area.value = "";
      key = null;
      keyText = null;
      showError(error, "");
      onPosted?.(post);
    } catch (err) {
      error.dataset.kind = "server";
      showError(error, `Not posted: ${err.message} Your text is still here.`);
    } finally {
      update();
    }
  });
  update();
  return { form, area };
}
