// Settings: the display name and bio others see.

import { api } from "../api.js";
import { h, length, errorBox, showError } from "../dom.js";
import { currentUser, setUser } from "../session.js";

export const title = "Settings";
export const needsSession = true;

export async function render(main) {
  const me = await api("GET", "/auth/me");
  const name = h("input", { id: "display_name", name: "display_name", value: me.display_name, maxlength: 50, autocomplete: "name", "aria-describedby": "display_name-error" });
  const bio = h("textarea", { id: "bio", name: "bio", rows: 3, "aria-describedby": "bio-count bio-error" });
  bio.value = me.bio;
  const bioCount = h("span", { id: "bio-count", class: "count" });
  const nameError = errorBox("display_name-error");
  const bioError = errorBox("bio-error");
  const done = h("p", { class: "ok", role: "status" });
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const drawCount = () => {
    const n = length(bio.value);
    bioCount.textContent = `${n}/160`;
    bioCount.classList.toggle("over", n > 160);
  };
  bio.addEventListener("input", drawCount);
  drawCount();
  const form = h(
    "form",
    { class: "card settings" },
    h("h1", {}, "Settings"),
    h("p", { class: "hint" }, `Signed in as @${currentUser()?.handle}.`),
    h("div", { class: "field" }, h("label", { for: "display_name" }, "Display name"), name, nameError),
    h("div", { class: "field" }, h("label", { for: "bio" }, "Bio"), bio, bioCount, bioError),
    save,
    done,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(nameError, "");
    showError(bioError, "");
    done.textContent = "";
    save.disabled = true;
    try {
      const user = await api("PATCH", "/auth/me", { display_name: name.value, bio: bio.value });
      setUser(user);
      done.textContent = "Saved.";
    } catch (err) {
      const box = /bio/i.test(err.message) ? bioError : nameError;
      showError(box, err.message);
    } finally {
      save.disabled = false;
    }
  });
  main.append(form);
}
