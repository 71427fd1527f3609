"""The web client in a real browser: Debian's Chromium driven by Playwright.

Two people sign up in two browser contexts; one follows the other; a post arrives live
at the follower's home under a "new posts" bar; the follower replies, likes and reposts;
the author's unread badge counts up without a reload and the notifications page lists
what happened; search finds the post and the people; a blocked user's posts leave the
blocker's home; logging out ends the session on the server. Beside the scenario: errors
shown next to their cause (a taken handle, a post too long, a service that answers 503)
with nothing typed lost, post text never reaching the page as markup, the session
cookie's flags and the Content-Security-Policy, axe-core on every page (no serious or
critical violation), screenshots of every page at desktop and phone width, and the home
page's weight and time to its first timeline page (Navigation Timing), written to
report.json: figures, not judged by time.

With --token-ttl (the server's access-token lifetime, when the run made it short), a tab
left open on one page for longer than a token lives must have renewed its token on its
own and still save a change.

Usage: web-test.py BASE_URL OUT_DIR AXE_JS [--label NAME] [--token-ttl SECS]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import secrets
import statistics
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# The cases the server's reading of tags and mentions is held to (crates/web/tests).
TEXT_CASES = Path(__file__).resolve().parent.parent / "crates/web/tests/text-cases.json"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# API.md promises fanout, counts, search and notifications within 5 s; the page adds
# the stream's delivery and a draw, which on this two-core machine running the whole
# system take well under a second. Waits that outlast this bound are failures.
EVENTUAL_MS = 6_000
# Anything the page draws from one answer of a local server.
PROMPT_MS = 3_000
PASSWORD = "a long enough password"
# Where the home page's weight and draw time must stay (issue 19): judged for weight
# only; the time is reported, since a benchmark is not a timed test.
WEIGHT_LIMIT = 150 * 1024


class Run:
    def __init__(self, base: str, out: Path, axe: str, label: str) -> None:
        self.base = base.rstrip("/")
        self.out = out
        self.axe = axe
        self.label = label
        self.violations: list[str] = []
        self.checked: list[str] = []
        self.shots: list[str] = []

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def context(self, browser: Browser) -> BrowserContext:
        ctx = browser.new_context(viewport=DESKTOP, base_url=self.base)
        ctx.set_default_timeout(PROMPT_MS * 3)
        return ctx

    def accessible(self, page: Page, name: str) -> None:
        """axe-core on the page as drawn: no violation of the serious or critical kind."""
        page.evaluate(self.axe)
        result = page.evaluate(
            "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
            " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})); }"
        )
        for v in result:
            if v["impact"] in ("serious", "critical"):
                self.violations.append(f"{name}: {v['id']} ({v['impact']}): {v['help']} at {v['nodes']}")
        self.checked.append(name)

    def shoot(self, page: Page, name: str) -> None:
        """The page at desktop and at phone width, then back to desktop."""
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            page.wait_for_timeout(100)
            path = self.out / f"{name}-{size}.png"
            page.screenshot(path=str(path), full_page=False)
            self.shots.append(path.name)
        page.set_viewport_size(DESKTOP)

    def look(self, page: Page, name: str) -> None:
        self.accessible(page, name)
        self.shoot(page, name)


def sign_up(page: Page, handle: str, name: str) -> None:
    page.goto("/signup")
    page.get_by_label("Handle").fill(handle)
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Email").fill(f"{handle}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_label("What's happening?")).to_be_visible()


def post(page: Page, text: str) -> None:
    box = page.get_by_label("What's happening?")
    box.fill(text)
    page.get_by_role("button", name="Post", exact=True).click()
    expect(box).to_have_value("")
    expect(page.locator("article.post .text", has_text=text).first).to_be_visible()


def text_rules(page: Page) -> None:
    """The page's script links the tags and mentions the server reads, no more: each case
    drawn with every @word of its text taken for an existing user."""
    cases = json.loads(TEXT_CASES.read_text())
    for case in cases:
        case["known"] = re.findall(r"@([A-Za-z0-9_]+)", case["text"])
    got = page.evaluate(
        """async (cases) => {
          const { richText } = await import("/assets/js/text.js");
          return cases.map((c) => {
            const div = document.createElement("div");
            div.append(richText(c.text, c.known.map((handle) => ({ id: "1", handle }))));
            const texts = (sel) => [...div.querySelectorAll(sel)].map((a) => a.textContent.slice(1));
            return { tags: texts("a.tag"), mentions: texts("a.mention"), text: div.textContent };
          });
        }""",
        cases,
    )
    for case, page_read in zip(cases, got, strict=True):
        tags = list(dict.fromkeys(t.lower() for t in page_read["tags"]))
        mentions: list[str] = []
        for m in page_read["mentions"]:
            if m.lower() not in (x.lower() for x in mentions):
                mentions.append(m)
        assert tags == case["tags"], (case["text"], tags)
        assert mentions == case["mentions"], (case["text"], mentions)
        assert page_read["text"] == case["text"], case["text"]


def wait_live(page: Page) -> None:
    """Until the page's home stream is connected."""
    expect(page.locator("main.live")).to_have_count(1, timeout=PROMPT_MS)


def api_call(base: str, method: str, path: str, body: dict | None = None,
             token: str | None = None) -> tuple[int, dict | None]:
    """A request to Chirp's public API, as another client than the browser."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{base}{path}", data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req) as res:
            text = res.read()
            return res.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, None


def api_status(base: str, method: str, path: str, body: dict | None = None) -> int:
    return api_call(base, method, path, body)[0]


def drawn_list(page: Page) -> None:
    """Until the page's list has its first page (what a count of its items needs)."""
    expect(page.locator("main .list[aria-busy=false]").first).to_be_visible(timeout=PROMPT_MS)


def reload_until(page: Page, path: str, locator: str, present: bool) -> None:
    """Reloads `path` until `locator` is (or is no longer) on the page, within the
    system's 5 s promise; then asserts it."""
    page.goto(path)
    for _ in range(EVENTUAL_MS // 500):
        drawn_list(page)
        if (page.locator(locator).count() > 0) == present:
            return
        page.wait_for_timeout(500)
        page.reload()
    drawn_list(page)
    if present:
        expect(page.locator(locator).first).to_be_visible()
    else:
        expect(page.locator(locator)).to_have_count(0)


def scenario(run: Run, browser: Browser, token_ttl: int | None) -> dict:
    tag = secrets.token_hex(3)
    a_handle, b_handle = f"ann_{tag}", f"ben_{tag}"
    word = f"chirptest{tag}"

    # Two people, two browsers' worth of cookies.
    ctx_a, ctx_b = run.context(browser), run.context(browser)
    a, b = ctx_a.new_page(), ctx_b.new_page()
    res = a.goto("/signup")
    assert res is not None
    csp = res.headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp, csp
    run.look(a, "signup")
    sign_up(a, a_handle, "Ann Example")
    sign_up(b, b_handle, "Ben Example")
    text_rules(a)
    # A tab of Ben's left on his settings for the whole run, counting its own refreshes.
    keeper = ctx_b.new_page()
    keeper.goto("/settings")
    expect(keeper.get_by_label("Bio")).to_be_visible()
    kept_since = time.monotonic()
    refreshes: list[int] = []
    keeper.on("response", lambda r: refreshes.append(r.status) if r.url.endswith("/web/session/refresh") else None)

    # The session: the refresh token in an HttpOnly, SameSite=Lax cookie; no token in
    # the page's storage.
    cookie = next(c for c in ctx_a.cookies() if c["name"] == "chirp_refresh")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax", cookie
    assert cookie["path"] == "/web/session", cookie
    assert a.evaluate("() => localStorage.length + sessionStorage.length") == 0

    # Errors next to their cause: a taken handle.
    ctx_c = run.context(browser)
    c = ctx_c.new_page()
    c.goto("/signup")
    c.get_by_label("Handle").fill(a_handle.upper())
    c.get_by_label("Email").fill(f"other_{tag}@example.com")
    c.get_by_label("Password").fill(PASSWORD)
    c.get_by_role("button", name="Sign up").click()
    expect(c.locator("#handle-error")).to_have_text("that handle is taken")
    expect(c.get_by_label("Handle")).to_have_value(a_handle.upper())
    c.goto("/login")
    run.look(c, "login")
    c.get_by_label("Handle or email").fill(a_handle)
    c.get_by_label("Password").fill("not the password")
    c.get_by_role("button", name="Log in").click()
    expect(c.locator("#form-error")).to_be_visible()
    ctx_c.close()

    # Ben follows Ann from her profile; Ann follows Ben back.
    b.goto(f"/@{a_handle}")
    b.get_by_role("button", name="Follow", exact=True).click()
    expect(b.get_by_role("button", name="Unfollow")).to_be_visible()
    a.goto(f"/@{b_handle}")
    expect(a.get_by_text("Follows you")).to_be_visible()
    a.get_by_role("button", name="Follow", exact=True).click()
    expect(a.get_by_role("button", name="Unfollow")).to_be_visible()

    # Ben's post, before Ann blocks him later.
    b.goto("/")
    post(b, f"Ben was here {word}")

    # A second tab of Ben's. Both reloading at once refresh one after the other (a
    # rotated refresh token presented twice would end the session), and they share one
    # tab's streams.
    b2 = ctx_b.new_page()
    b2.goto("/")
    wait_live(b2)
    with b.expect_navigation(), b2.expect_navigation():
        b.evaluate("() => setTimeout(() => location.reload(), 0)")
        b2.evaluate("() => setTimeout(() => location.reload(), 0)")

    # Ben waits at his home; Ann posts; the post arrives at Ben's under the bar, and
    # the page does not move until he asks.
    wait_live(b)
    wait_live(b2)
    a.goto("/")
    text = f"Hello @{b_handle}, see #{word} and https://example.com/x. <b>not bold</b>"
    post(a, text)
    bar = b.get_by_role("button", name="1 new post")
    expect(bar).to_be_visible(timeout=EVENTUAL_MS)
    expect(b2.get_by_role("button", name="1 new post")).to_be_visible(timeout=PROMPT_MS)
    b2.close()
    assert b.locator("article.post .text", has_text="Hello").count() == 0
    bar.click()
    card = b.locator("article.post", has_text="Hello").first
    expect(card).to_be_visible()
    body = card.locator(".text")
    expect(body.locator(f'a.mention[href="/@{b_handle}"]')).to_have_count(1)
    expect(body.locator(f'a.tag[href="/search?q=%23{word}"]')).to_have_count(1)
    expect(body.locator('a[href="https://example.com/x"]')).to_have_count(1)
    # Text, never markup: the <b> is characters on the page.
    expect(body.locator("b")).to_have_count(0)
    expect(body).to_contain_text("<b>not bold</b>")
    run.look(b, "home")

    # Ben likes and reposts: the counts change at once for him.
    like = card.locator("button.like")
    like.click()
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(like.locator(".n")).to_have_text("1")
    repost = card.locator("button.repost")
    repost.click()
    expect(repost).to_have_attribute("aria-pressed", "true")
    expect(repost.locator(".n")).to_have_text("1")

    # Ann's badge counts what happens without a reload: Ben's follow, like and repost.
    badge = a.locator("#nav .count-badge .n")
    expect(badge).to_have_text("3", timeout=EVENTUAL_MS)

    # Ben opens the post and replies.
    original = card.get_attribute("data-original")
    card.locator("a.when").click()
    expect(b).to_have_url(f"{run.base}/posts/{original}")
    b.get_by_label(f"Reply to @{a_handle}").fill(f"Nice one {word}")
    b.get_by_role("button", name="Reply", exact=True).click()
    expect(b.locator(".paged article.post", has_text="Nice one")).to_be_visible()
    run.look(b, "thread")
    expect(badge).to_have_text("4", timeout=EVENTUAL_MS)

    # Ann reads her notifications; the badge clears.
    a.get_by_role("link", name="Notifications").click()
    for what in ("followed you", "liked your post", "reposted your post", "replied to your post"):
        expect(a.locator("article.notification", has_text=what)).to_have_count(1)
    expect(a.locator("#nav .count-badge")).to_be_hidden()
    run.look(a, "notifications")

    # Search: the post by its hashtag, and Ben by the start of his handle.
    reload_until(a, f"/search?q=%23{word}", "article.post:has-text('Hello')", present=True)
    run.look(a, "search")
    reload_until(a, f"/search?q=ben_{tag}&type=users", f"article.user:has-text('@{b_handle}')", present=True)

    # Profiles: Ann's, her followers, following and likes lists (Ben's likes hold her post).
    b.goto(f"/@{a_handle}")
    expect(b.locator(".counts")).to_contain_text("1 follower")
    run.look(b, "profile")
    b.goto(f"/@{a_handle}/followers")
    expect(b.locator("article.user", has_text=f"@{b_handle}")).to_be_visible()
    run.look(b, "followers")
    b.goto(f"/@{a_handle}/following")
    expect(b.locator("article.user", has_text=f"@{b_handle}")).to_be_visible()
    run.look(b, "following")
    b.goto(f"/@{b_handle}/likes")
    expect(b.locator("article.post", has_text="Hello")).to_be_visible()
    run.look(b, "likes")

    # Signed out: a post can be read (no reply box, no reactions), a name no one holds
    # says so, and the skip link takes the keyboard past the navigation.
    anon = run.context(browser).new_page()
    anon.goto(f"/posts/{original}")
    expect(anon.get_by_text("to reply.")).to_be_visible()
    expect(anon.locator("article.post.focus button.like")).to_be_disabled()
    run.look(anon, "thread-signed-out")
    anon.goto(f"/@nobody_{tag}")
    expect(anon.get_by_role("heading", name=f"No one is called @nobody_{tag}")).to_be_visible()
    run.accessible(anon, "not-found")
    anon.keyboard.press("Tab")
    expect(anon.locator("a.skip")).to_be_focused()
    anon.keyboard.press("Enter")
    expect(anon.locator("main#main")).to_be_focused()
    anon.context.close()

    # Settings: a new display name and bio, shown on the profile.
    a.goto("/settings")
    a.get_by_label("Display name").fill("Ann Renamed")
    a.get_by_label("Bio").fill(f"Writes tests {word}")
    a.get_by_role("button", name="Save").click()
    expect(a.get_by_text("Saved.")).to_be_visible()
    run.look(a, "settings")
    a.goto(f"/@{a_handle}")
    expect(a.locator("#profile-name")).to_contain_text("Ann Renamed")

    # A post too long: said beside the box, not sent, the text kept.
    a.goto("/")
    box = a.get_by_label("What's happening?")
    long_text = "x" * 281
    box.fill(long_text)
    expect(a.locator("#compose-error")).to_contain_text("1 too long")
    expect(a.get_by_role("button", name="Post", exact=True)).to_be_disabled()
    expect(box).to_have_value(long_text)
    # A service that answers 503: the error beside the box, the text kept for a retry.
    a.route("**/api/v1/posts", lambda route: route.fulfill(
        status=503,
        content_type="application/problem+json",
        body=json.dumps({"type": "/problems/dependency-unavailable", "title": "Service Unavailable",
                         "status": 503, "detail": "write is unavailable"}),
    ))
    box.fill(f"Kept when it fails {word}")
    a.get_by_role("button", name="Post", exact=True).click()
    expect(a.locator("#compose-error")).to_contain_text("not answering")
    expect(box).to_have_value(f"Kept when it fails {word}")
    a.unroute("**/api/v1/posts")
    a.get_by_role("button", name="Post", exact=True).click()
    expect(box).to_have_value("")
    expect(a.locator("article.post", has_text="Kept when it fails")).to_have_count(1)

    # Carl (another client, through the API) posts; Ben reposts it from Carl's profile, so
    # that it reaches Ann, who follows Ben and not Carl.
    status, carl = api_call(run.base, "POST", "/api/v1/auth/signup", {
        "handle": f"carl_{tag}", "email": f"carl_{tag}@example.com", "password": PASSWORD})
    assert status == 201 and carl, status
    status, _ = api_call(run.base, "POST", "/api/v1/posts", {"text": f"Carl thinks {word}"},
                         token=carl["access_token"])
    assert status == 201, status
    b.goto(f"/@carl_{tag}")
    carls = b.locator("article.post", has_text="Carl thinks").locator("button.repost")
    carls.click()
    expect(carls).to_have_attribute("aria-pressed", "true")

    # Ann's home holds Ben's post and his repost; she blocks him; both leave it.
    bens_post = "article.post:has-text('Ben was here')"
    bens_repost = "article.post:has(p.reposted:has-text('Ben Example')):has-text('Carl thinks')"
    reload_until(a, "/", bens_post, present=True)
    reload_until(a, "/", bens_repost, present=True)
    a.goto(f"/@{b_handle}")
    a.get_by_role("button", name="Block", exact=True).click()
    expect(a.get_by_role("button", name="Unblock")).to_be_visible()
    reload_until(a, "/", bens_post, present=False)
    reload_until(a, "/", bens_repost, present=False)
    expect(a.locator("article.post", has_text="Hello").first).to_be_visible()

    # The tab left open: past a token's life, it renewed its token itself, and saves.
    if token_ttl:
        left = token_ttl + 2 - (time.monotonic() - kept_since)
        if left > 0:
            keeper.wait_for_timeout(left * 1000)
        assert 200 in refreshes, f"the open tab never renewed its token ({refreshes})"
        keeper.get_by_label("Bio").fill(f"Still here {word}")
        keeper.get_by_role("button", name="Save").click()
        expect(keeper.get_by_text("Saved.")).to_be_visible()
    keeper.close()

    figures = measure(run, browser, a_handle)

    # Logging out ends the session on the server: the cookie's refresh token is refused.
    token = next(c["value"] for c in ctx_a.cookies() if c["name"] == "chirp_refresh")
    a.get_by_role("button", name="Log out").click()
    expect(a).to_have_url(f"{run.base}/login")
    assert not [c for c in ctx_a.cookies() if c["name"] == "chirp_refresh" and c["value"]]
    status = api_status(run.base, "POST", "/api/v1/auth/refresh", {"refresh_token": token})
    assert status == 401, f"the ended session's refresh token got {status}"
    a.goto("/")
    expect(a).to_have_url(f"{run.base}/login?next=%2F")

    # A session request without the page's header (another site's form) is refused.
    status = api_status(run.base, "POST", "/web/session", {"login": b_handle, "password": PASSWORD})
    assert status == 403, f"a session request without the CSRF header got {status}"

    for ctx in (ctx_a, ctx_b):
        ctx.close()
    return figures


def measure(run: Run, browser: Browser, handle: str) -> dict:
    """The home page of a signed-in person: its weight (every file it loads, as sent and
    gzip-compressed) and how long after navigation its first timeline page is drawn,
    once with nothing cached and five times reloaded."""
    cold_ctx = run.context(browser)
    page = cold_ctx.new_page()
    page.goto("/login")
    page.get_by_label("Handle or email").fill(handle)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_label("What's happening?")).to_be_visible()
    # Nothing cached for the measured load, the session kept (its cookie is this
    # context's, whatever the page renews meanwhile).
    page.context.new_cdp_session(page).send("Network.clearBrowserCache")

    def drawn(page: Page) -> float:
        # Polled from outside: wait_for_function evaluates a string in the page, which
        # the page's policy (no 'unsafe-eval') refuses.
        expect(page.locator("main .list[aria-busy=false]")).to_have_count(1)
        for _ in range(PROMPT_MS // 50):
            at = page.evaluate("() => performance.getEntriesByName('chirp-home-drawn')[0]?.startTime ?? null")
            if at is not None:
                return at
            page.wait_for_timeout(50)
        raise AssertionError("the home page never marked its first timeline page drawn")

    page.goto("/")
    cold = drawn(page)
    entries = page.evaluate(
        "() => [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')]"
        ".map(e => ({name: e.name, transfer: e.transferSize, body: e.encodedBodySize, end: e.responseEnd}))"
    )

    def done_by(part: str) -> float:
        return round(max(e["end"] for e in entries if part in e["name"]), 1)

    # Where the first draw's time went: each step's last answer, from navigation.
    steps = {
        "shell_ms": round(entries[0]["end"], 1),
        "scripts_and_style_ms": done_by("/assets/"),
        "session_ms": done_by("/web/session/refresh"),
        "timeline_ms": done_by("/api/v1/timelines/home"),
    }
    files = [e for e in entries if "/api/" not in e["name"] and "/web/" not in e["name"]]
    raw = sum(e["body"] for e in files)
    compressed = 0
    for e in files:
        with urllib.request.urlopen(e["name"]) as res:
            compressed += len(gzip.compress(res.read(), compresslevel=6))
    warm = []
    for _ in range(5):
        page.reload()
        warm.append(drawn(page))
    cold_ctx.close()
    figures = {
        "files": len(files),
        "bytes": raw,
        "gzip_bytes": compressed,
        "first_draw_cold_ms": round(cold, 1),
        "cold_steps": steps,
        "first_draw_warm_ms_median": round(statistics.median(warm), 1),
        "first_draw_warm_ms": [round(w, 1) for w in warm],
    }
    assert compressed < WEIGHT_LIMIT, f"the home page weighs {compressed} bytes compressed"
    return figures


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("base")
    p.add_argument("out", type=Path)
    p.add_argument("axe", type=Path)
    p.add_argument("--label", default="chirp all")
    p.add_argument("--token-ttl", type=int, default=None)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    run = Run(args.base, args.out, args.axe.read_text(), args.label)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            figures = scenario(run, browser, args.token_ttl)
        finally:
            browser.close()
    report = {
        "label": args.label,
        "home_page": figures,
        "accessibility_checked": run.checked,
        "screenshots": run.shots,
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    if run.violations:
        print("accessibility violations (serious or critical):", file=sys.stderr)
        for v in run.violations:
            print(f"  {v}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
