// Building the page from data: every element made with createElement and every piece of
// user text set as a text node, so nothing a user wrote can reach the page as markup.

/** An element: `h("a", {href: "/", class: "x", onclick: f}, "text", child, ...)`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** Appends children: strings as text nodes, arrays flattened, null skipped. */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces what `el` holds. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** "3 min", "2 h", "4 d" or a date: how long ago `iso` was. */
export function ago(iso) {
  const then = new Date(iso);
  const s = Math.max(0, (Date.now() - then.getTime()) / 1000);
  if (s < 60) return "now";
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  if (s < 7 * 86400) return `${Math.floor(s / 86400)} d`;
  return then.toLocaleDateString();
}

/** A `<time>` element showing how long ago, with the full date as its title. */
export function time(iso) {
  return h("time", { datetime: iso, title: new Date(iso).toLocaleString() }, ago(iso));
}

/** "1 post", "2 posts". */
export function count(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** Counts Unicode scalar values, as the server does (not UTF-16 units). */
export function length(text) {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

/** An error message shown next to what caused it (announced to screen readers). */
export function errorBox(id) {
  return h("p", { id, class: "error", role: "alert", hidden: true });
}

/** Shows `message` in `box` (or hides it with none). */
export function showError(box, message) {
  box.textContent = message || "";
  box.hidden = !message;
}
