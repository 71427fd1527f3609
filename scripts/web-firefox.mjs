// The web client in Firefox: Debian's firefox-esr driven over WebDriver BiDi by
// puppeteer-core (npm; it downloads no browser). A shorter walk than the Chromium test
// (scripts/web-test.py), through the parts that lean on what browsers differ in: sign up
// (the session cookie, Web Locks), follow, a post arriving live under the bar (the stream
// read with fetch and TextDecoderStream), post, like, a profile, log out.
//
// Usage: node scripts/web-firefox.mjs BASE_URL PUPPETEER_CORE_DIR

import { randomBytes } from "node:crypto";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [base, puppeteerDir] = process.argv.slice(2);
if (!base || !puppeteerDir) {
  console.error("usage: node scripts/web-firefox.mjs BASE_URL PUPPETEER_CORE_DIR");
  process.exit(2);
}
const { default: puppeteer } = await import(
  pathToFileURL(path.join(puppeteerDir, "node_modules/puppeteer-core/lib/puppeteer/puppeteer-core.js")).href
);

// API.md's 5 s promise for fanout, plus the page's own drawing (as in web-test.py).
const EVENTUAL_MS = 6_000;
const PROMPT_MS = 9_000;
const PASSWORD = "a long enough password";

async function api(method, route, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${route}`, { method, headers, body: body && JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

function check(ok, what) {
  if (!ok) throw new Error(`Firefox check failed: ${what}`);
  console.log(`ok: ${what}`);
}

const tag = randomBytes(3).toString("hex");
const handle = `fox_${tag}`;
const other = await api("POST", "/api/v1/auth/signup", {
  handle: `owl_${tag}`,
  email: `owl_${tag}@example.com`,
  password: PASSWORD,
});
check(other.status === 201, "a second user signed up through the API");

const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath: "/usr/bin/firefox-esr",
  headless: true,
  protocolTimeout: 30_000,
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(PROMPT_MS);
  // What the page says goes to the test's output (an error there is the first clue).
  page.on("console", (m) => console.log(`page ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => console.log(`page error: ${e.message}`));
  console.log(`browser: ${await browser.version()}`);

  await page.goto(`${base}/signup`);
  await page.locator("#handle").fill(handle);
  await page.locator("#email").fill(`${handle}@example.com`);
  await page.locator("#password").fill(PASSWORD);
  await page.locator("form.auth button[type=submit]").click();
  await page.waitForSelector("#compose");
  check(true, "signed up, home drawn");

  // Follow the other user from their profile.
  await page.goto(`${base}/@owl_${tag}`);
  await page.locator(".controls button[data-key=follow]").click();
  await page.waitForSelector("::-p-text(Unfollow)");
  check(true, "followed from the profile");

  // Home, with its stream connected; the other user posts; the bar says so.
  await page.goto(`${base}/`);
  await page.waitForSelector("main.live");
  const posted = await api("POST", "/api/v1/posts", { text: `Owls at night ${tag}` }, other.body.access_token);
  check(posted.status === 201, "the followed user posted");
  await page.waitForSelector("::-p-text(1 new post)", { timeout: EVENTUAL_MS });
  await page.locator(".new-posts").click();
  await page.waitForSelector(`::-p-text(Owls at night ${tag})`);
  check(true, "the post arrived live, under the bar");

  // Post, and like one's own post: the count changes at once.
  await page.locator("#compose").fill(`Hello from Firefox ${tag} #fox${tag}`);
  await page.locator("form.compose button[type=submit]").click();
  await page.waitForSelector(`::-p-text(Hello from Firefox ${tag})`);
  const mine = `article.post[data-id="${await page.$eval("article.post", (a) => a.dataset.id)}"]`;
  await page.locator(`${mine} button.like`).click();
  await page.waitForSelector(`${mine} button.like[aria-pressed="true"]`);
  const likes = await page.$eval(`${mine} button.like .n`, (n) => n.textContent);
  check(likes === "1", "posted, and the like counted at once");
  const tagLink = await page.$eval(`${mine} a.tag`, (a) => a.getAttribute("href"));
  check(tagLink === `/search?q=%23fox${tag}`, "the hashtag is a link to its search");

  // The profile, through the navigation.
  await page.locator(`#nav a[href="/@${handle}"]`).click();
  await page.waitForSelector("#profile-name");
  check(true, "the profile drawn from the navigation");

  // Log out: the page goes to the login page, and a reload finds no session.
  await page.locator("#nav button.link").click();
  await page.waitForSelector("form.auth");
  check(page.url() === `${base}/login`, "logged out");
  await page.goto(`${base}/`);
  await page.waitForSelector("form.auth");
  check(page.url() === `${base}/login?next=%2F`, "no session after logging out");
} catch (e) {
  // What the page said, beside the error: a refusal shows in its error boxes.
  const pages = await browser.pages();
  for (const p of pages) {
    const said = await p.$$eval(".error:not([hidden])", (els) => els.map((el) => el.textContent)).catch(() => []);
    console.error(`page ${p.url()}: ${JSON.stringify(said)}`);
  }
  throw e;
} finally {
  await browser.close();
}
