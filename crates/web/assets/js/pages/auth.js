// Log in and sign up: forms whose errors appear beside the field they are about.

import { h, errorBox, showError } from "../dom.js";
import { logIn, signUp } from "../session.js";

function field(id, label, attrs = {}, hint) {
  const input = h("input", { id, name: id, "aria-describedby": `${id}-error${hint ? ` ${id}-hint` : ""}`, ...attrs });
  const error = errorBox(`${id}-error`);
  const wrap = h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { id: `${id}-hint`, class: "hint" }, hint) : null,
    input,
    error,
  );
  return { wrap, input, error };
}

/** The field an error of AuthService's is about, from the words of its detail. */
function fieldOf(detail, fields) {
  const d = detail.toLowerCase();
  for (const [name, f] of Object.entries(fields)) {
    if (d.includes(name.replace("_", " "))) return f;
  }
  return null;
}

/** Where to go after signing in: `?next=`, if it is a page of this site. */
function nextPage() {
  const next = new URLSearchParams(location.search).get("next");
  if (!next) return "/";
  const url = new URL(next, location.origin);
  return url.origin === location.origin ? url.pathname + url.search : "/";
}

function authForm(main, { heading, fields, submitLabel, submit, footer, go }) {
  const formError = errorBox("form-error");
  const button = h("button", { type: "submit", class: "primary" }, submitLabel);
  const form = h(
    "form",
    { class: "card auth", novalidate: true },
    h("h1", {}, heading),
    Object.values(fields).map((f) => f.wrap),
    formError,
    button,
    footer,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    for (const f of Object.values(fields)) {
      showError(f.error, "");
      f.input.removeAttribute("aria-invalid");
    }
    showError(formError, "");
    button.disabled = true;
    try {
      await submit();
      go(nextPage());
    } catch (err) {
      const target = err.status === 409 || err.status === 422 ? fieldOf(err.message, fields) : null;
      if (target) {
        showError(target.error, err.message);
        target.input.setAttribute("aria-invalid", "true");
        target.input.focus();
      } else {
        showError(formError, err.status === 429 ? `Too many attempts: ${err.message}` : err.message);
      }
    } finally {
      button.disabled = false;
    }
  });
  main.append(form);
  Object.values(fields)[0].input.focus();
}

export const login = {
  title: "Log in",
  render(main, _params, { go }) {
    const fields = {
      login: field("login", "Handle or email", { autocomplete: "username", required: true }),
      password: field("password", "Password", { type: "password", autocomplete: "current-password", required: true }),
    };
    authForm(main, {
      heading: "Log in to Chirp",
      fields,
      submitLabel: "Log in",
      submit: () => logIn(fields.login.input.value.trim(), fields.password.input.value),
      footer: h("p", {}, "New here? ", h("a", { href: "/signup" }, "Create an account")),
      go,
    });
  },
};

export const signup = {
  title: "Sign up",
  render(main, _params, { go }) {
    const fields = {
      handle: field("handle", "Handle", { autocomplete: "username", required: true, maxlength: 30 }, "3 to 30 letters, digits or underscores; people find you by it."),
      display_name: field("display_name", "Display name", { autocomplete: "name", maxlength: 50 }, "Optional: your handle until you set one."),
      email: field("email", "Email", { type: "email", autocomplete: "email", required: true }),
      password: field("password", "Password", { type: "password", autocomplete: "new-password", required: true }, "At least 8 characters."),
    };
    authForm(main, {
      heading: "Create your Chirp account",
      fields,
      submitLabel: "Sign up",
      submit: () => {
        const display = fields.display_name.input.value.trim();
        return signUp({
          handle: fields.handle.input.value.trim(),
          email: fields.email.input.value.trim(),
          password: fields.password.input.value,
          ...(display ? { display_name: display } : {}),
        });
      },
      footer: h("p", {}, "Have an account? ", h("a", { href: "/login" }, "Log in")),
      go,
    });
  },
};
