"""Chirp's Mastodon client API, driven by a real client library: Mastodon.py.

Everything a Mastodon app does goes through Mastodon.py's own methods, as an app would
call them; raw HTTP (requests) only where the library has no method: a browser's part of
the OAuth sign-in (the page's form), PKCE, and the exact shape of the errors.

What is checked: the instance (v1, v2, the OAuth metadata, the streaming health, the
version Mastodon.py reads, which it then holds every method it calls to); an app
registered, three accounts signed up through it (a taken handle refused); signing in by
the authorization-code flow through the sign-in page (a wrong password shown the form
again, an unknown app or address shown a page, never sent on), out of band, with PKCE,
client credentials by HTTP Basic, a refresh that ends the old token, and a read-only
token kept to its scope; the caller's profile, lookup and search; follows, blocks and
mutes with their relationships and lists; the user's live stream, over Server-Sent Events
and over a WebSocket; posting (idempotent, text escaped into HTML, mentions, hashtags and
addresses linked), replies and threads, edits, deletion, read back through Chirp's own API
too; likes and reblogs with their counts and lists, idempotent, and undone; the home and
hashtag timelines and search; Mastodon's pagination (Link headers, max_id, min_id,
since_id) walked to its end and back; notifications (filtered by type and by account, one
by id, the read marker, the unread count, dismissed, cleared); the errors Mastodon
clients read; the lists Chirp has nothing behind answering valid empty lists; and a
revoked token refused.

Counts, timelines, search and notifications are eventual: Chirp promises them within 5 s
(API.md), and the stream's events within that and a delivery; waits poll until those
bounds and fail past them.

Usage: mastodon-test.py MASTODON_BASE CHIRP_BASE
  MASTODON_BASE  the Mastodon API's origin, e.g. http://127.0.0.1:8090
  CHIRP_BASE     Chirp's own API on the same data, e.g. http://127.0.0.1:8080 (its
                 readiness, and the posts made through Mastodon read back through it)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import queue
import secrets
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNotFoundError,
    MastodonUnauthorizedError,
    StreamListener,
)

# API.md: fanout, counts, search and notifications within 5 s.
EVENTUAL_S = 5.0
# A live stream's event: the same bound, and its delivery on an open connection.
STREAM_S = 10.0
# Any one request of a local server.
REQUEST_S = 10.0
POLL_S = 0.1

APP_NAME = "Chirp's Mastodon.py test"
SCOPES = ["read", "write", "follow", "push"]
# Nothing listens there: the test reads the code from the redirect, as an app's web
# server would, without following it.
REDIRECT = "http://127.0.0.1:9/callback"
OOB = "urn:ietf:wg:oauth:2.0:oob"
PASSWORD = "a long enough password"
OUTSIDE_SCOPES = "This action is outside the authorized scopes"
NOT_FOUND = "Record not found"
MASTODON_VERSION = "4.3.0"
PAGE_POSTS = 25

T = TypeVar("T")


class Failed(Exception):
    """A check that did not hold."""


class Checks:
    """Counts the checks that held; raises Failed on the first that does not."""

    def __init__(self) -> None:
        self.passed = 0

    def __call__(self, condition: object, message: str) -> None:
        if not condition:
            raise Failed(message)
        self.passed += 1


check = Checks()


def short(value: object, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def until(what: str, fetch: Callable[[], T], ok: Callable[[T], bool], within: float = EVENTUAL_S) -> T:
    """Fetches until `ok` holds of the answer, for at most `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = fetch()
        if ok(value):
            check(True, what)
            return value
        if time.monotonic() >= deadline:
            raise Failed(f"{what}: not within {within:g} s; last seen: {short(value)}")
        time.sleep(POLL_S)


def ids(items: Any) -> list[str]:
    return [str(item.id) for item in items]


def refused(what: str, call: Callable[[], Any], status: int, error: str | None = None) -> MastodonAPIError:
    """`call` raises Mastodon.py's API error for `status` (and `error`, if given)."""
    try:
        got = call()
    except MastodonAPIError as e:
        # Mastodon.py's errors: (message, status, reason, the body's `error`).
        check(len(e.args) >= 4 and e.args[1] == status, f"{what}: expected {status}, got {e.args}")
        kind = {401: MastodonUnauthorizedError, 404: MastodonNotFoundError}.get(status, MastodonAPIError)
        check(isinstance(e, kind), f"{what}: Mastodon.py raised {type(e).__name__}, not {kind.__name__}")
        if error is not None:
            check(e.args[3] == error, f"{what}: expected error {error!r}, got {e.args[3]!r}")
        return e
    raise Failed(f"{what}: expected a {status} refusal, got {short(got)}")


def raises(what: str, call: Callable[[], Any], kind: type[Exception]) -> Exception:
    """`call` raises `kind` (Mastodon.py's refusal of an answer, e.g. an OAuth error)."""
    try:
        got = call()
    except kind as e:
        check(True, what)
        return e
    except Exception as e:  # anything else is this check failing
        raise Failed(f"{what}: expected {kind.__name__}, Mastodon.py raised {e!r}") from e
    raise Failed(f"{what}: expected {kind.__name__}, got {short(got)}")


def error_shape(what: str, res: requests.Response, status: int, error: str | None = None) -> dict:
    """Mastodon's error: the status, `application/json`, and `{"error"}` (with OAuth's
    `error_description` at most), which is all clients read."""
    check(res.status_code == status,
          f"{what}: {res.request.method} {res.url} answered {res.status_code}, expected {status}: {res.text[:200]}")
    kind = res.headers.get("content-type", "")
    check(kind.startswith("application/json"), f"{what}: content-type {kind!r}, expected JSON")
    body = res.json()
    check(isinstance(body, dict) and isinstance(body.get("error"), str)
          and set(body) <= {"error", "error_description"},
          f"{what}: the body is not Mastodon's error: {short(body)}")
    if error is not None:
        check(body["error"] == error, f"{what}: error {body['error']!r}, expected {error!r}")
    return body


# --- The browser's part of OAuth ------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class Html(HTMLParser):
    """An HTML page as a browser reads it: its forms, its inputs by id, its alerts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.inputs: dict[str, dict[str, str]] = {}
        self.alerts: list[str] = []
        self._form: Form | None = None
        self._alert_tag: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._form)
        elif tag == "input":
            if "id" in a:
                self.inputs[a["id"]] = a
            if self._form is not None and a.get("name"):
                self._form.fields[a["name"]] = a.get("value", "")
        elif a.get("role") == "alert":
            self._alert_tag = tag
            self.alerts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        if tag == self._alert_tag:
            self._alert_tag = None

    def handle_data(self, data: str) -> None:
        if self._alert_tag is not None:
            self.alerts[-1] += data


def sign_in_form(http: requests.Session, url: str) -> tuple[requests.Response, Form]:
    """The sign-in page at `url` and its one form."""
    page = http.get(url, timeout=REQUEST_S)
    check(page.status_code == 200, f"GET {url}: {page.status_code}: {page.text[:200]}")
    check(page.headers.get("content-type", "").startswith("text/html"), "the sign-in page is HTML")
    check("no-store" in page.headers.get("cache-control", ""), "the sign-in page is not cached")
    forms = Html(page.text).forms
    check(len(forms) == 1, f"the sign-in page has one form, not {len(forms)}")
    form = forms[0]
    check(form.action == "/oauth/authorize" and form.method == "post",
          f"the form posts to /oauth/authorize: {form}")
    check({"client_id", "redirect_uri", "scope", "login", "password"} <= set(form.fields),
          f"the form carries the request and asks for a login and a password: {sorted(form.fields)}")
    return page, form


def submit(http: requests.Session, page: requests.Response, form: Form, login: str,
           password: str) -> requests.Response:
    """Fills in the form and sends it as a browser would, without following a redirect."""
    data = dict(form.fields, login=login, password=password)
    return http.post(urljoin(page.url, form.action), data=data, allow_redirects=False, timeout=REQUEST_S)


def code_of(res: requests.Response, state: str | None = None) -> str:
    """The authorization code of the redirect back to the app."""
    location = res.headers.get("location", "")
    check(res.status_code == 302, f"the consent answered {res.status_code}, not a redirect: {res.text[:200]}")
    check(location.startswith(REDIRECT + "?"), f"the redirect goes back to the app: {location!r}")
    query = parse_qs(urlsplit(location).query)
    if state is not None:
        check(query.get("state") == [state], f"the redirect carries the state back: {query.get('state')}")
    codes = query.get("code", [])
    check(len(codes) == 1 and codes[0], f"the redirect carries a code: {location!r}")
    return codes[0]


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# --- The live stream ------------------------------------------------------------------


class Recorder(StreamListener):
    """Keeps what the user's stream delivers, for the test thread to wait on."""

    def __init__(self) -> None:
        super().__init__()
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.seen: list[tuple[str, Any]] = []
        self.opened = threading.Event()

    def on_update(self, status: Any) -> None:
        self.events.put(("update", status))

    def on_notification(self, notification: Any) -> None:
        self.events.put(("notification", notification))

    def on_delete(self, status_id: Any) -> None:
        self.events.put(("delete", status_id))

    def on_abort(self, err: Exception) -> None:
        self.events.put(("abort", err))

    def on_websocket_error(self, error: Exception, for_stream: Any = None) -> None:
        self.events.put(("websocket_error", error))

    def handle_heartbeat(self) -> None:
        self.opened.set()

    def wait(self, what: str, kind: str, ok: Callable[[Any], bool], within: float = STREAM_S) -> Any:
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed(f"{what}: no such event within {within:g} s; seen: "
                             f"{short([(k, getattr(v, 'id', v)) for k, v in self.seen])}")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(event)
            kind_seen, payload = event
            if kind_seen == "abort":
                raise Failed(f"{what}: the stream broke: {payload!r}")
            if kind_seen == kind and ok(payload):
                check(True, what)
                return payload


# --- The run --------------------------------------------------------------------------


@dataclass
class User:
    handle: str
    email: str
    api: Mastodon
    id: str = ""


@dataclass
class World:
    base: str
    chirp: str
    tag: str
    http: requests.Session
    client_id: str = ""
    client_secret: str = ""
    users: dict[str, User] = field(default_factory=dict)
    # What one step leaves for the next.
    kept: dict[str, Any] = field(default_factory=dict)

    @property
    def word(self) -> str:
        """This run's hashtag, as written (Chirp keeps tags lower-cased)."""
        return f"MastoTest{self.tag}"

    def client(self, token: str | None = None, app: bool = True) -> Mastodon:
        """A Mastodon.py client of this run's app, checking the server's version for the
        methods it calls (`created`: each method needs the version that added it)."""
        return Mastodon(
            client_id=self.client_id if app else None,
            client_secret=self.client_secret if app else None,
            access_token=token,
            api_base_url=self.base,
            version_check_mode="created",
            ratelimit_method="throw",
            request_timeout=REQUEST_S,
        )

    def user(self, name: str) -> User:
        return self.users[name]


def step_instance(w: World) -> None:
    # /healthz: what a gateway serves of the operations routes (not /readyz).
    ready = w.http.get(f"{w.chirp}/healthz", timeout=REQUEST_S)
    check(ready.status_code == 200, f"Chirp's API at {w.chirp} is not up: {ready.status_code}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        anon = w.client(app=False)
        version = anon.retrieve_mastodon_version(fail_hard=True)
    check(version == MASTODON_VERSION, f"Mastodon.py reads the version as {version!r}")
    check(anon.mastodon_api_version == 2, f"the API version is {anon.mastodon_api_version}, not 2")
    check(not caught, f"Mastodon.py warned: {[str(c.message) for c in caught]}")

    v1 = anon.instance_v1()
    check(v1.title == "Chirp", f"v1 title {v1.title!r}")
    check(v1.version.startswith(f"{MASTODON_VERSION} (compatible; Chirp "), f"v1 version {v1.version!r}")
    netloc = urlsplit(w.base).netloc
    check(v1.urls.streaming_api == f"ws://{netloc}", f"v1 streaming_api {v1.urls.streaming_api!r}")
    v2 = anon.instance()
    check(v2.title == "Chirp", f"instance() title {v2.title!r}")
    check(v2.api_versions["mastodon"] == 2, f"v2 api_versions {v2.api_versions!r}")
    check(v2.domain == netloc, f"v2 domain {v2.domain!r}, expected {netloc!r}")
    check(v2.configuration.statuses.max_characters == 280, "v2 max_characters is 280")
    check(v2.registrations.enabled is True, "v2 registrations are open")
    check(anon.stream_healthy() is True, "stream_healthy() is not True")

    oauth = anon.oauth_authorization_server_info()
    check(oauth.get("token_endpoint") == f"{w.base}/oauth/token", f"token_endpoint {oauth.get('token_endpoint')!r}")
    check(oauth.get("authorization_endpoint") == f"{w.base}/oauth/authorize", "authorization_endpoint")
    check("S256" in oauth.get("code_challenge_methods_supported", []), "PKCE S256 is offered")
    check({"authorization_code", "client_credentials", "refresh_token"}
          <= set(oauth.get("grant_types_supported", [])), f"grant types {oauth.get('grant_types_supported')}")


def step_accounts(w: World) -> None:
    w.client_id, w.client_secret = Mastodon.create_app(
        APP_NAME, scopes=SCOPES, redirect_uris=[REDIRECT, OOB], website="https://example.com/chirp-test",
        api_base_url=w.base, request_timeout=REQUEST_S,
    )
    check(w.client_id and w.client_secret, "create_app gave a client id and secret")
    for name in ("ann", "ben", "cat"):
        handle = f"{name}_{w.tag}"
        email = f"{handle}@example.com"
        api = w.client()
        token = api.create_account(handle, PASSWORD, email, agreement=True)
        check(isinstance(token, str) and token, f"create_account({handle}) gave a token")
        me = api.account_verify_credentials()
        check(me.username == handle and me.acct == handle, f"{handle} is who they say: {me.username}/{me.acct}")
        check(me.source.privacy == "public", f"{handle}'s source.privacy is {me.source.privacy!r}")
        w.users[name] = User(handle, email, api, str(me.id))
    ann = w.user("ann")
    check(len({u.id for u in w.users.values()}) == 3, "three accounts, three ids")
    app = ann.api.app_verify_credentials()
    check(app.name == APP_NAME, f"app_verify_credentials name {app.name!r}")

    # A handle taken (whatever its case) and an agreement not given: refused, nobody made.
    raises("a taken handle is refused",
           lambda: w.client().create_account(ann.handle.upper(), PASSWORD, f"x{w.tag}@example.com", agreement=True),
           MastodonIllegalArgumentError)
    raises("signing up without the agreement is refused",
           lambda: w.client().create_account(f"dan_{w.tag}", PASSWORD, f"dan_{w.tag}@example.com"),
           MastodonIllegalArgumentError)
    grant = w.http.post(f"{w.base}/oauth/token", data={
        "grant_type": "client_credentials", "client_id": w.client_id, "client_secret": w.client_secret,
        "scope": " ".join(SCOPES)}, timeout=REQUEST_S)
    check(grant.status_code == 200, f"client_credentials: {grant.status_code} {grant.text[:200]}")
    taken = w.http.post(f"{w.base}/api/v1/accounts", data={
        "username": ann.handle, "email": f"y{w.tag}@example.com", "password": PASSWORD, "agreement": "true"},
        headers={"authorization": f"Bearer {grant.json()['access_token']}"}, timeout=REQUEST_S)
    body = error_shape("a taken handle", taken, 422)
    check(body["error"].startswith("Validation failed"), f"a taken handle's error: {body['error']!r}")


def step_code_flow(w: World) -> None:
    ann = w.user("ann")
    app = w.client()
    state = secrets.token_urlsafe(12)
    url = app.auth_request_url(redirect_uris=REDIRECT, scopes=SCOPES, state=state, allow_http=True)
    check(url.startswith(f"{w.base}/oauth/authorize?"), f"auth_request_url {url!r}")
    page, form = sign_in_form(w.http, url)
    check(form.fields["client_id"] == w.client_id and form.fields["redirect_uri"] == REDIRECT
          and form.fields.get("state") == state, f"the form carries the request along: {form.fields}")
    check(set(form.fields["scope"].split()) == set(SCOPES), f"the form's scope {form.fields['scope']!r}")

    wrong = submit(w.http, page, form, ann.handle, "not the password")
    check(wrong.status_code == 401, f"a wrong password answered {wrong.status_code}, not 401")
    check("location" not in wrong.headers, "a wrong password is not redirected")
    again = Html(wrong.text)
    check(len(again.forms) == 1 and again.forms[0].fields.get("login") == ann.handle,
          f"the form is shown again, the login kept; got {wrong.headers.get('content-type')!r}: {wrong.text[:200]}")
    check(again.alerts and "password" in again.alerts[0].lower(), f"the form says why: {again.alerts}")
    check("code=" not in wrong.text, "no code on the refused form")

    code = code_of(submit(w.http, page, form, ann.handle, PASSWORD), state)
    browser = w.client()
    token = browser.log_in(code=code, redirect_uri=REDIRECT, scopes=SCOPES, allow_http=True)
    check(token and token != ann.api.access_token, "log_in gave a token of its own")
    check(str(browser.me().id) == ann.id, "the code's token is Ann's")
    raises("a code is used once",
           lambda: w.client().log_in(code=code, redirect_uri=REDIRECT, scopes=SCOPES, allow_http=True),
           MastodonIllegalArgumentError)
    w.kept["ann_browser"] = browser

    # Nothing is shown, and nobody sent anywhere, for an app unknown or an address it
    # did not register.
    for what, params in (
        ("an unknown app", {"client_id": "nope", "redirect_uri": REDIRECT}),
        ("an unregistered redirect", {"client_id": w.client_id, "redirect_uri": "http://evil.example/cb"}),
    ):
        res = w.http.get(f"{w.base}/oauth/authorize?{urlencode(dict(params, response_type='code'))}",
                         allow_redirects=False, timeout=REQUEST_S)
        check(res.status_code == 400, f"{what}: {res.status_code}, expected 400")
        check(res.headers.get("content-type", "").startswith("text/html"),
              f"{what}: a page for the person, not {res.headers.get('content-type')!r}: {res.text[:200]}")
        page = Html(res.text)
        check(not page.forms and "location" not in res.headers, f"{what}: no form, no redirect")
        check(page.alerts and page.alerts[0].strip(), f"{what}: the page says why")


def step_out_of_band(w: World) -> None:
    ben = w.user("ben")
    app = w.client()
    url = app.auth_request_url(redirect_uris=OOB, scopes=SCOPES, allow_http=True)
    page, form = sign_in_form(w.http, url)
    # Signed in by email this time.
    shown = submit(w.http, page, form, ben.email, PASSWORD)
    check(shown.status_code == 200, f"the out-of-band consent answered {shown.status_code}: {shown.text[:200]}")
    code = Html(shown.text).inputs.get("code", {}).get("value", "")
    check(code, "the page shows the code in #code")
    app.log_in(code=code, redirect_uri=OOB, scopes=SCOPES, allow_http=True)
    check(str(app.me().id) == ben.id, "the out-of-band token is Ben's")


def pkce_code(w: World, login: str, challenge: str) -> str:
    query = urlencode({
        "response_type": "code", "client_id": w.client_id, "redirect_uri": REDIRECT,
        "scope": "read write", "code_challenge": challenge, "code_challenge_method": "S256",
    })
    page, form = sign_in_form(w.http, f"{w.base}/oauth/authorize?{query}")
    check(form.fields.get("code_challenge") == challenge, "the form carries the challenge along")
    return code_of(submit(w.http, page, form, login, PASSWORD))


def step_pkce_and_refresh(w: World) -> None:
    cat = w.user("cat")
    verifier, challenge = pkce_pair()
    token_url = f"{w.base}/oauth/token"
    trade = {"grant_type": "authorization_code", "client_id": w.client_id, "redirect_uri": REDIRECT}

    # A public client: no secret, the verifier proves who asked for the code.
    wrong = w.http.post(token_url, data=dict(trade, code=pkce_code(w, cat.handle, challenge),
                                             code_verifier=pkce_pair()[0]), timeout=REQUEST_S)
    error_shape("a wrong code_verifier", wrong, 400, "invalid_grant")
    res = w.http.post(token_url, data=dict(trade, code=pkce_code(w, cat.handle, challenge),
                                           code_verifier=verifier), timeout=REQUEST_S)
    check(res.status_code == 200, f"the right code_verifier: {res.status_code} {res.text[:200]}")
    grant = res.json()
    check(grant.get("token_type") == "Bearer" and set(grant.get("scope", "").split()) == {"read", "write"},
          f"the PKCE grant {short(grant)}")
    check(grant.get("refresh_token"), "the code grant gives a refresh token")
    first = grant["access_token"]
    check(str(w.client(first).me().id) == cat.id, "the PKCE token is Cat's")
    basic = w.http.post(token_url, data={"grant_type": "client_credentials"},
                        auth=(w.client_id, w.client_secret), timeout=REQUEST_S)
    check(basic.status_code == 200 and basic.json().get("access_token"),
          f"client_secret_basic: {basic.status_code} {basic.text[:200]}")

    # The refresh grant, through Mastodon.py: a new token, and the old one ends.
    refresher = w.client(first)
    second = refresher.log_in(refresh_token=grant["refresh_token"], scopes=["read", "write"], allow_http=True)
    check(second and second != first, "the refresh gave a new token")
    check(str(w.client(second).me().id) == cat.id, "the refreshed token is Cat's")
    refused("the refreshed-away token", lambda: w.client(first).me(), 401)
    raises("a refresh token is used once",
           lambda: w.client().log_in(refresh_token=grant["refresh_token"], scopes=["read", "write"],
                                     allow_http=True),
           MastodonIllegalArgumentError)


def step_scopes(w: World) -> None:
    ann = w.user("ann")
    app = w.client()
    url = app.auth_request_url(redirect_uris=REDIRECT, scopes=["read"], allow_http=True)
    page, form = sign_in_form(w.http, url)
    app.log_in(code=code_of(submit(w.http, page, form, ann.handle, PASSWORD)), redirect_uri=REDIRECT,
               scopes=["read"], allow_http=True)
    check(isinstance(app.timeline_home(), list), "a read token reads")
    check(list(app.app_verify_credentials().scopes) == ["read"], "the token's scopes are read")
    refused("posting with a read token", lambda: app.status_post("not allowed"), 403, OUTSIDE_SCOPES)
    res = w.http.post(f"{w.base}/api/v1/statuses", data={"status": "not allowed"},
                      headers={"authorization": f"Bearer {app.access_token}"}, timeout=REQUEST_S)
    error_shape("posting with a read token", res, 403, OUTSIDE_SCOPES)


def step_profile(w: World) -> None:
    ann, ben = w.user("ann"), w.user("ben")
    note = f"Tests the Mastodon API & <more> #{w.word}"
    me = ann.api.account_update_credentials(display_name="Ann Example", note=note)
    check(me.display_name == "Ann Example", f"update_credentials display_name {me.display_name!r}")
    check(me.source.note == note, f"source.note {me.source.note!r}")
    check("Tests the Mastodon API &amp; &lt;more&gt;" in me.note and me.note.startswith("<p>"),
          f"note as HTML, escaped: {me.note!r}")
    seen = ben.api.account(ann.id)
    check(seen.display_name == "Ann Example" and seen.note == me.note, "account(id) shows the new profile")
    check(seen.username == ann.handle and seen.url == f"{w.base}/@{ann.handle}", f"account url {seen.url!r}")
    check(str(ben.api.account_lookup(ann.handle).id) == ann.id, "account_lookup(handle)")
    check(str(ben.api.account_lookup(f"@{ann.handle}").id) == ann.id, "account_lookup(@handle)")
    refused("account_lookup of nobody", lambda: ben.api.account_lookup(f"nobody_{w.tag}"), 404)
    refused("account of nobody", lambda: ben.api.account("1"), 404, NOT_FOUND)
    until("account_search finds Ann by her handle", lambda: ben.api.account_search(ann.handle),
          lambda found: ann.id in ids(found))
    until("account_search finds Ann by her new name", lambda: ben.api.account_search("Ann Exam"),
          lambda found: ann.id in ids(found))


def relationship(rel: Any, who: str, **flags: bool) -> None:
    for name, want in flags.items():
        check(rel[name] is want, f"{who}: {name} is {rel[name]!r}, expected {want}: {short(rel)}")


def step_graph(w: World) -> None:
    ann, ben, cat = w.user("ann"), w.user("ben"), w.user("cat")
    rel = ben.api.account_follow(ann.id)
    check(str(rel.id) == ann.id, "the relationship is with Ann")
    relationship(rel, "Ben follows Ann", following=True, followed_by=False, blocking=False, muting=False)
    relationship(ann.api.account_follow(ben.id), "Ann follows Ben back", following=True, followed_by=True)
    relationship(ann.api.account_follow(cat.id), "Ann follows Cat", following=True)
    relationship(cat.api.account_follow(ben.id), "Cat follows Ben", following=True)
    relationship(cat.api.account_unfollow(ben.id), "Cat unfollows Ben", following=False)
    rels = ben.api.account_relationships([ann.id, cat.id])
    check(ids(rels) == [ann.id, cat.id], f"account_relationships in the order asked: {ids(rels)}")
    relationship(rels[0], "Ben and Ann", following=True, followed_by=True)
    relationship(rels[1], "Ben and Cat", following=False, followed_by=False)

    until("Ann's followers are Ben", lambda: ben.api.account_followers(ann.id),
          lambda got: ids(got) == [ben.id])
    until("Ann follows Ben and Cat", lambda: ben.api.account_following(ann.id),
          lambda got: sorted(ids(got)) == sorted([ben.id, cat.id]))
    until("Ben's followers no longer hold Cat", lambda: ann.api.account_followers(ben.id),
          lambda got: ids(got) == [ann.id])
    until("Ann's counts", lambda: ben.api.account(ann.id),
          lambda a: a.followers_count == 1 and a.following_count == 2)

    relationship(cat.api.account_block(ben.id), "Cat blocks Ben", blocking=True, following=False)
    relationship(ben.api.account_relationships(cat.id)[0], "Ben, blocked by Cat", blocked_by=True)
    check(ids(cat.api.blocks()) == [ben.id], "blocks() holds Ben")
    relationship(cat.api.account_unblock(ben.id), "Cat unblocks Ben", blocking=False)
    check(ids(cat.api.blocks()) == [], "blocks() is empty again")
    relationship(cat.api.account_mute(ben.id), "Cat mutes Ben", muting=True, blocking=False)
    check(ids(cat.api.mutes()) == [ben.id], "mutes() holds Ben")
    relationship(cat.api.account_unmute(ben.id), "Cat unmutes Ben", muting=False)
    check(ids(cat.api.mutes()) == [], "mutes() is empty again")


def step_stream(w: World) -> None:
    ann, ben = w.user("ann"), w.user("ben")
    recorder = Recorder()
    handle = ann.api.stream_user(recorder, run_async=True)
    try:
        check(recorder.opened.wait(EVENTUAL_S), "the stream opened (its first keep-alive)")
        post = ben.api.status_post(f"Live from Ben #{w.word}")
        got = recorder.wait("an update for the post of someone Ann follows", "update",
                            lambda s: str(s.id) == str(post.id))
        check(got.content == post.content and str(got.account.id) == ben.id, "the update is Ben's status")
        mine = ann.api.status_post(f"Like this one {w.word}")
        ben.api.status_favourite(mine.id)
        note = recorder.wait("a notification of Ben's like", "notification",
                             lambda n: n.type == "favourite" and n.status and str(n.status.id) == str(mine.id))
        check(str(note.account.id) == ben.id, "the like's notification names Ben")
        w.kept["liked_in_stream"] = str(mine.id)
        ben.api.status_delete(post.id)
        recorder.wait("a delete for the status Ben deleted", "delete", lambda i: str(i) == str(post.id))
    finally:
        # Mastodon.py's close() waits for the read in progress, which ends at the next
        # event or keep-alive (15 s): closed aside, and woken by one more event.
        closer = threading.Thread(target=handle.close, daemon=True)
        closer.start()
        time.sleep(POLL_S)
        ben.api.status_post(f"Woken {w.word}")
        closer.join(EVENTUAL_S)
    check(not closer.is_alive(), "close() returned")
    until("the stream's thread ended after close()", lambda: handle.is_alive(), lambda alive: not alive)


def step_websocket(w: World) -> None:
    ann, ben = w.user("ann"), w.user("ben")
    recorder = Recorder()
    socket = ann.api.stream_open_websocket(recorder)
    try:
        ann.api.stream_user(recorder, websocket_handle=socket)
        # Mastodon's WebSocket says nothing when a subscription starts: Ben posts until
        # one of his posts arrives, within the bound of a delivery.
        deadline = time.monotonic() + STREAM_S
        while True:
            post = ben.api.status_post(f"Over the socket {w.word}")
            try:
                got = recorder.wait("an update over the WebSocket", "update",
                                    lambda st, post=post: str(st.id) == str(post.id), within=1.0)
                break
            except Failed:
                if time.monotonic() >= deadline:
                    raise
        check(got.content == post.content, "the update is Ben's status")
        mine = ann.api.status_post(f"Like this too {w.word}")
        ben.api.status_favourite(mine.id)
        recorder.wait("a notification over the WebSocket", "notification",
                      lambda n: n.type == "favourite" and n.status and str(n.status.id) == str(mine.id))
        ben.api.status_delete(post.id)
        recorder.wait("a delete over the WebSocket", "delete", lambda i: str(i) == str(post.id))
        # A stream Chirp has nothing behind is refused on the socket, which stays open.
        ann.api.stream_public(recorder, websocket_handle=socket)
        error = recorder.wait("a stream Chirp has not is refused", "websocket_error", lambda e: True)
        check(error.args[1] == 400, f"the refusal's status: {error.args}")
        check(socket.is_receiving(), "the socket is still open")
        w.kept["liked_over_socket"] = str(mine.id)
    finally:
        socket.close()
        socket.join(EVENTUAL_S)
    check(not socket.is_alive(), "the socket's thread ended after close()")
    res = w.http.get(f"{w.base}/api/v1/streaming", headers={
        "connection": "upgrade", "upgrade": "websocket", "sec-websocket-version": "13",
        "sec-websocket-key": base64.b64encode(secrets.token_bytes(16)).decode()}, timeout=REQUEST_S)
    error_shape("a WebSocket without a token", res, 401)


def step_statuses(w: World) -> None:
    ann, ben = w.user("ann"), w.user("ben")
    keyword = f"kw{w.tag}x"
    text = f"Hello @{ben.handle}, this is #{w.word} from Mastodon.py {keyword}"
    key = secrets.token_hex(16)
    first = ann.api.status_post(text, idempotency_key=key)
    again = ann.api.status_post(text, idempotency_key=key)
    check(str(first.id) == str(again.id), f"the same Idempotency-Key, the same status: {first.id} {again.id}")
    mine = until("Ann's statuses", lambda: ann.api.account_statuses(ann.id, limit=40),
                 lambda got: str(first.id) in ids(got))
    check([s.id for s in mine if str(s.id) == str(first.id)] == [first.id], "posted once")

    tag = w.word.lower()
    content = first.content
    check(f'<a href="{w.base}/@{ben.handle}" class="u-url mention">@<span>{ben.handle}</span></a>' in content,
          f"the mention is linked: {content!r}")
    check(f'<a href="{w.base}/tags/{tag}" class="mention hashtag" rel="tag">#<span>{w.word}</span></a>' in content,
          f"the hashtag is linked: {content!r}")
    check([(str(m.id), m.acct) for m in first.mentions] == [(ben.id, ben.handle)], f"mentions {first.mentions}")
    check([t.name for t in first.tags] == [tag], f"tags {first.tags}")
    check(str(first.account.id) == ann.id and first.visibility == "public" and first.in_reply_to_id is None,
          "the status is Ann's, public, not a reply")
    check(first.url == f"{w.base}/@{ann.handle}/{first.id}", f"the status url {first.url!r}")
    check(ben.api.status(first.id).content == content, "status(id) reads the same")
    through_chirp = w.http.get(f"{w.chirp}/api/v1/posts/{first.id}", timeout=REQUEST_S)
    check(through_chirp.status_code == 200 and through_chirp.json().get("text") == text,
          f"Chirp's API has the same post: {through_chirp.status_code} {through_chirp.text[:200]}")

    markup = ann.api.status_post("<b>x</b> & y, see https://example.com/a?b=1&c=2.")
    check(markup.content.startswith("<p>&lt;b&gt;x&lt;/b&gt; &amp; y, see ") and "<b>" not in markup.content,
          f"text, never markup: {markup.content!r}")
    check('<a href="https://example.com/a?b=1&amp;c=2" ' in markup.content and markup.content.endswith("</a>.</p>"),
          f"the address is linked, the full stop left out: {markup.content!r}")

    reply = ben.api.status_reply(first, f"Nice one #{w.word}")
    check(str(reply.in_reply_to_id) == str(first.id), "the reply's in_reply_to_id")
    check(ann.id in [str(m.id) for m in reply.mentions], "status_reply mentions Ann")
    up = ann.api.status_context(reply.id)
    check(ids(up.ancestors) == [str(first.id)] and ids(up.descendants) == [],
          f"the reply's context: ancestors {ids(up.ancestors)}")
    down = ann.api.status_context(first.id)
    check(ids(down.ancestors) == [] and ids(down.descendants) == [str(reply.id)],
          f"the status's context: descendants {ids(down.descendants)}")
    until("replies_count", lambda: ann.api.status(first.id), lambda s: s.replies_count == 1)
    until("Ben's statuses hold the reply", lambda: ann.api.account_statuses(ben.id),
          lambda got: str(reply.id) in ids(got))
    check(str(reply.id) not in ids(ann.api.account_statuses(ben.id, exclude_replies=True)),
          "exclude_replies leaves the reply out")
    tagged = ann.api.account_statuses(ben.id, tagged=w.word)
    check(ids(tagged) == [str(reply.id)], f"tagged: Ben's one status with the tag: {ids(tagged)}")
    for what, call in (("editing", lambda: ben.api.status_update(first.id, "mine now")),
                       ("deleting", lambda: ben.api.status_delete(first.id))):
        try:
            call()
        except MastodonAPIError as e:
            check(e.args[1] in (403, 404), f"{what} someone else's status: {e.args}")
        else:
            raise Failed(f"{what} someone else's status was not refused")

    edited_text = "<i>edited</i> & kept\nsecond line\n\nnew paragraph"
    edited = ann.api.status_update(markup.id, edited_text)
    check(edited.content == "<p>&lt;i&gt;edited&lt;/i&gt; &amp; kept<br>second line</p><p>new paragraph</p>",
          f"the edit's content, its lines and paragraphs: {edited.content!r}")
    check(edited.edited_at is not None and ann.api.status(markup.id).edited_at is not None, "edited_at is set")
    check(ann.api.status_source(markup.id).text == edited_text, "status_source gives the text as written")
    check(ann.api.status_history(markup.id)[-1].content == edited.content, "the history ends with the edit")
    gone = ann.api.status_delete(markup.id)
    check(str(gone.id) == str(markup.id) and gone.text == edited_text, f"status_delete gives the text: {gone.text!r}")
    refused("a deleted status", lambda: ann.api.status(markup.id), 404, NOT_FOUND)
    w.kept.update(post=first, reply=reply, keyword=keyword)


def step_reactions(w: World) -> None:
    ann, ben = w.user("ann"), w.user("ben")
    post = w.kept["post"]
    liked = ben.api.status_favourite(post.id)
    check(str(liked.id) == str(post.id) and liked.favourited is True, "status_favourite: favourited")
    until("favourites_count is 1", lambda: ann.api.status(post.id), lambda s: s.favourites_count == 1)
    check(ann.api.status(post.id).favourited is False and ben.api.status(post.id).favourited is True,
          "favourited is the caller's own")
    until("favourited_by is Ben", lambda: ann.api.status_favourited_by(post.id), lambda got: ids(got) == [ben.id])
    until("Ben's favourites hold it", lambda: ben.api.favourites(), lambda got: str(post.id) in ids(got))
    check(ben.api.status_favourite(post.id).favourited is True, "a second favourite is no error")

    boost = ben.api.status_reblog(post.id)
    check(boost.reblog is not None and str(boost.reblog.id) == str(post.id), "the reblog holds the status")
    check(str(boost.account.id) == ben.id and str(boost.id) != str(post.id), "the reblog is Ben's own status")
    check(boost.reblogged is True, "status_reblog: reblogged")
    check(str(ben.api.status_reblog(post.id).id) == str(boost.id), "a second reblog is the same reblog")
    until("reblogs_count is 1", lambda: ann.api.status(post.id), lambda s: s.reblogs_count == 1)
    check(ben.api.status(post.id).reblogged is True, "reblogged is the caller's own")
    until("reblogged_by is Ben", lambda: ann.api.status_reblogged_by(post.id), lambda got: ids(got) == [ben.id])
    until("the counts stay 1", lambda: ann.api.status(post.id),
          lambda s: s.favourites_count == 1 and s.reblogs_count == 1)
    w.kept["boost"] = boost


def step_timelines(w: World) -> None:
    ben = w.user("ben")
    post, reply = w.kept["post"], w.kept["reply"]
    until("Ben's home has Ann's status", lambda: ben.api.timeline_home(), lambda got: str(post.id) in ids(got))
    until("the hashtag timeline has the status and the reply", lambda: ben.api.timeline_hashtag(w.word),
          lambda got: {str(post.id), str(reply.id)} <= set(ids(got)))
    found = until("search_v2 finds the status by its hashtag", lambda: ben.api.search_v2(f"#{w.word}"),
                  lambda got: str(post.id) in ids(got.statuses))
    check([h.name for h in found.hashtags] == [w.word.lower()], f"search_v2 hashtags {found.hashtags}")
    # Page by page, as Mastodon.py pages a search of one type (offset and limit): the
    # second page of one is another status.
    page = ben.api.search_v2(f"#{w.word}", result_type="statuses", limit=1)
    nxt = ben.api.fetch_next(page)
    first, second = ids(page.statuses), ids(nxt.statuses) if nxt is not None else []
    check(len(first) == 1 and len(second) == 1 and first != second,
          f"search_v2 page by page, one status each: {first}, then {second}")
    until("search_v2 finds the status by a word", lambda: ben.api.search_v2(w.kept["keyword"]),
          lambda got: ids(got.statuses) == [str(post.id)])
    ann = w.user("ann")
    until("search_v2 finds Ann", lambda: ben.api.search_v2(ann.handle, result_type="accounts"),
          lambda got: ann.id in ids(got.accounts))


def by_type(notes: Any, kind: str) -> list[Any]:
    return [n for n in notes if n.type == kind]


def step_notifications(w: World) -> None:
    ann, ben = w.user("ann"), w.user("ben")
    post, reply = w.kept["post"], w.kept["reply"]
    notes = until("Ann is notified of the follow, likes, reblog and mention", lambda: ann.api.notifications(),
                  lambda got: {"follow", "favourite", "reblog", "mention"} <= {n.type for n in got})
    check(any(str(n.account.id) == ben.id for n in by_type(notes, "follow")), "Ben's follow")
    likes = {str(post.id), w.kept["liked_in_stream"], w.kept["liked_over_socket"]}
    check({str(n.status.id) for n in by_type(notes, "favourite")} == likes, "the three likes")
    check([str(n.status.id) for n in by_type(notes, "reblog")] == [str(post.id)], "the reblog")
    check(str(reply.id) in [str(n.status.id) for n in by_type(notes, "mention")], "the reply's mention")
    check(ids(notes) == sorted(ids(notes), key=int, reverse=True), "newest first")

    only = ann.api.notifications(types=["favourite"])
    check(only and {n.type for n in only} == {"favourite"}, f"types=[favourite]: {[n.type for n in only]}")
    rest = ann.api.notifications(exclude_types=["favourite"])
    check({"follow", "reblog", "mention"} <= {n.type for n in rest} and not by_type(rest, "favourite"),
          f"exclude_types=[favourite]: {[n.type for n in rest]}")
    from_ben = ann.api.notifications(account_id=ben.id)
    check(from_ben and {str(n.account.id) for n in from_ben} == {ben.id},
          f"account_id=Ben: {[(n.type, n.account.acct) for n in from_ben]}")
    cat = w.user("cat")
    from_cat = ann.api.notifications(account_id=cat.id)
    check(ids(from_cat) == [], f"account_id=Cat, who did nothing to Ann: {[(n.type, n.account.acct) for n in from_cat]}")
    one = ann.api.notifications(id=notes[-1].id)
    check(str(one.id) == str(notes[-1].id) and one.type == notes[-1].type, f"notifications(id) {short(one)}")
    refused("a notification that is not Ann's", lambda: ben.api.notifications(id=notes[0].id), 404)

    first = ann.api.notifications(limit=2)
    nxt = ann.api.fetch_next(first)
    check(len(first) == 2 and nxt is not None and ids(nxt) == ids(notes)[2:2 + len(nxt)],
          f"notifications page by page: {ids(first)} then {ids(nxt or [])}")

    newest = str(notes[0].id)
    marked = ann.api.markers_set(["notifications"], [newest])
    check(str(marked["notifications"].last_read_id) == newest, f"markers_set {short(marked)}")
    got = ann.api.markers_get(["notifications"])
    check(str(got["notifications"].last_read_id) == newest, f"markers_get {short(got)}")
    until("nothing unread", lambda: ann.api.notifications_unread_count(), lambda c: c["count"] == 0)

    # What came since the first page: its previous page (min_id), as a client refreshes.
    top = ann.api.notifications(limit=5)
    cat.api.account_follow(ann.id)
    newer = until("the page before the first holds Cat's new follow", lambda: ann.api.fetch_previous(top),
                  lambda got: got is not None and [(n.type, str(n.account.id)) for n in got] == [("follow", cat.id)])
    check(int(newer[0].id) > int(top[0].id), "newer than the first page")
    until("one unread", lambda: ann.api.notifications_unread_count(), lambda c: c["count"] == 1)

    # Dismissed, one; cleared, all.
    gone = notes[-1]
    ann.api.notifications_dismiss(gone.id)
    refused("a dismissed notification", lambda: ann.api.notifications(id=gone.id), 404, NOT_FOUND)
    check(str(gone.id) not in ids(ann.api.notifications()), "the dismissed notification is left out")
    ann.api.notifications_clear()
    check(ids(ann.api.notifications()) == [], "notifications_clear() leaves none")


def step_undo(w: World) -> None:
    ann, ben = w.user("ann"), w.user("ben")
    post, boost = w.kept["post"], w.kept["boost"]
    unliked = ben.api.status_unfavourite(post.id)
    check(unliked.favourited is False, "status_unfavourite: not favourited")
    check(ben.api.status_unfavourite(post.id).favourited is False, "a second unfavourite is no error")
    until("favourites_count back to 0", lambda: ann.api.status(post.id), lambda s: s.favourites_count == 0)
    until("favourited_by is empty", lambda: ann.api.status_favourited_by(post.id), lambda got: ids(got) == [])
    until("Ben's favourites no longer hold it", lambda: ben.api.favourites(),
          lambda got: str(post.id) not in ids(got))
    unboosted = ben.api.status_unreblog(post.id)
    check(unboosted.reblogged is False, "status_unreblog: not reblogged")
    check(ben.api.status_unreblog(post.id).reblogged is False, "a second unreblog is no error")
    until("reblogs_count back to 0", lambda: ann.api.status(post.id), lambda s: s.reblogs_count == 0)
    until("reblogged_by is empty", lambda: ann.api.status_reblogged_by(post.id), lambda got: ids(got) == [])
    refused("the undone reblog", lambda: ann.api.status(boost.id), 404, NOT_FOUND)


def walk(api: Mastodon, first: Any, limit: int) -> list[str]:
    """Every id of a paginated list, following fetch_next to its end."""
    seen: list[str] = []
    page = first
    for _ in range(50):
        if page is None:
            return seen
        check(len(page) <= limit, f"a page of {len(page)} items, more than limit={limit}")
        seen.extend(ids(page))
        page = api.fetch_next(page)
    raise Failed(f"fetch_next never ended: {len(seen)} items")


def step_pagination(w: World) -> None:
    ann, cat = w.user("ann"), w.user("cat")
    posted = [str(cat.api.status_post(f"Page post {i} #{w.word}").id) for i in range(PAGE_POSTS)]
    newest_first = posted[::-1]
    check(newest_first == sorted(posted, key=int, reverse=True), "ids grow with time")
    walked = walk(cat.api, cat.api.account_statuses(cat.id, limit=10), 10)
    check(walked == newest_first, f"account_statuses walked: {len(walked)} ids, expected {PAGE_POSTS} newest "
          f"first; missing {set(posted) - set(walked)}, extra {set(walked) - set(posted)}")

    def home() -> list[str]:
        return walk(ann.api, ann.api.timeline_home(limit=10), 10)

    got = until("Ann's home walked holds every post of Cat's", home, lambda got: set(posted) <= set(got))
    check(len(got) == len(set(got)), "every status once")
    check(got == sorted(got, key=int, reverse=True), "newest first, all the way down")
    check([i for i in got if i in set(posted)] == newest_first, "Cat's posts in order")

    def tagged() -> list[str]:
        return walk(ann.api, ann.api.timeline_hashtag(w.word, limit=10), 10)

    got = until("the hashtag timeline walked holds every post of Cat's", tagged, lambda got: set(posted) <= set(got))
    check(len(got) == len(set(got)) and got == sorted(got, key=int, reverse=True), "once each, newest first")

    above = cat.api.account_statuses(cat.id, min_id=posted[4], limit=3)
    check(ids(above) == [posted[7], posted[6], posted[5]], f"min_id: the 3 just above: {ids(above)}")
    since = cat.api.account_statuses(cat.id, since_id=posted[4], limit=3)
    check(ids(since) == newest_first[:3], f"since_id: the newest 3: {ids(since)}")
    below = cat.api.account_statuses(cat.id, max_id=posted[4], limit=40)
    check(ids(below) == newest_first[-4:], f"max_id: those below: {ids(below)}")
    top = cat.api.account_statuses(cat.id, limit=10)
    later = [str(cat.api.status_post(f"Later post {i} {w.word}").id) for i in range(3)]
    newer = cat.api.fetch_previous(top)
    check(newer is not None and ids(newer) == later[::-1], f"fetch_previous: what came since: {ids(newer or [])}")
    until("Cat's statuses_count", lambda: ann.api.account(cat.id),
          lambda a: a.statuses_count == PAGE_POSTS + len(later))


def step_errors(w: World) -> None:
    ann = w.user("ann")
    refused("no token, the library", lambda: w.client(app=False).timeline_home(), 401)
    error_shape("no token", w.http.get(f"{w.base}/api/v1/timelines/home", timeout=REQUEST_S), 401)
    error_shape("a token nobody issued", w.http.get(
        f"{w.base}/api/v1/accounts/verify_credentials",
        headers={"authorization": "Bearer not-a-token"}, timeout=REQUEST_S), 401)
    refused("an unknown status", lambda: ann.api.status("999999999999999"), 404, NOT_FOUND)
    auth = {"authorization": f"Bearer {ann.api.access_token}"}
    for path in ("/api/v1/statuses/999999999999999", "/api/v1/statuses/not-an-id", "/api/v1/no/such/route"):
        error_shape(f"GET {path}", w.http.get(f"{w.base}{path}", headers=auth, timeout=REQUEST_S), 404, NOT_FOUND)
    refused("281 characters, the library", lambda: ann.api.status_post("x" * 281), 422)
    error_shape("281 characters", w.http.post(f"{w.base}/api/v1/statuses", data={"status": "x" * 281},
                                              headers=auth, timeout=REQUEST_S), 422)
    refused("a followers-only status (Chirp's are all public)",
            lambda: ann.api.status_post("for my followers", visibility="private"), 422)
    refused("an empty status", lambda: ann.api.status_post(" "), 422)
    refused("following nobody", lambda: ann.api.account_follow("999999999999999"), 404, NOT_FOUND)
    error_shape("a stream without a token", w.http.get(f"{w.base}/api/v1/streaming/user", timeout=REQUEST_S), 401)
    bad_secret = w.http.post(f"{w.base}/oauth/token", data={
        "grant_type": "client_credentials", "client_id": w.client_id, "client_secret": "wrong"}, timeout=REQUEST_S)
    error_shape("a wrong client secret", bad_secret, 401, "invalid_client")


def step_empty_lists(w: World) -> None:
    api = w.user("ann").api
    ben = w.user("ben")
    calls: dict[str, Callable[[], Any]] = {
        "lists": api.lists,
        "account_lists": lambda: api.account_lists(ben.id),
        "filters": api.filters,
        "filters_v2": api.filters_v2,
        "custom_emojis": api.custom_emojis,
        "announcements": api.announcements,
        "trends": api.trends,
        "trending_statuses": api.trending_statuses,
        "trending_links": api.trending_links,
        "follow_requests": api.follow_requests,
        "bookmarks": api.bookmarks,
        "conversations": api.conversations,
        "scheduled_statuses": api.scheduled_statuses,
        "domain_blocks": api.domain_blocks,
        "followed_tags": api.followed_tags,
        "featured_tags": api.featured_tags,
        "endorsements": api.endorsements,
        "instance_peers": api.instance_peers,
        "instance_rules": api.instance_rules,
        "timeline_public": api.timeline_public,
        "pinned statuses": lambda: api.account_statuses(ben.id, pinned=True),
        "an unknown hashtag": lambda: api.timeline_hashtag(f"nothing{w.tag}"),
    }
    for name, call in calls.items():
        try:
            got = call()
        except MastodonError as e:
            raise Failed(f"{name}(): {e.args}") from e
        check(isinstance(got, list) and len(got) == 0, f"{name}() is an empty list: {short(got)}")
    prefs = api.preferences()
    check(prefs["posting:default:visibility"] == "public", f"preferences {short(prefs)}")


def step_revoke(w: World) -> None:
    ann = w.user("ann")
    browser: Mastodon = w.kept["ann_browser"]
    token = browser.access_token
    check(str(w.client(token).me().id) == ann.id, "the token works before")
    browser.revoke_access_token(allow_http=True)
    refused("a revoked token", lambda: w.client(token).me(), 401)
    res = w.http.get(f"{w.chirp}/api/v1/timelines/home", headers={"authorization": f"Bearer {ann.api.access_token}"},
                     timeout=REQUEST_S)
    check(res.status_code == 401, f"a Mastodon token is no token of Chirp's own API: {res.status_code}")
    check(str(ann.api.me().id) == ann.id, "Ann's other tokens still work")


STEPS: list[tuple[str, Callable[[World], None]]] = [
    ("instance: v1, v2, OAuth metadata, streaming health", step_instance),
    ("an app, three accounts, a taken handle", step_accounts),
    ("OAuth: authorization code through the sign-in page", step_code_flow),
    ("OAuth: out of band", step_out_of_band),
    ("OAuth: PKCE and the refresh grant", step_pkce_and_refresh),
    ("OAuth: a read-only token", step_scopes),
    ("profile: update, lookup, search", step_profile),
    ("follows, blocks, mutes and relationships", step_graph),
    ("the user's live stream", step_stream),
    ("the streams over a WebSocket", step_websocket),
    ("statuses: post, HTML, reply, context, edit, delete", step_statuses),
    ("favourites and reblogs", step_reactions),
    ("home and hashtag timelines, search", step_timelines),
    ("notifications and the read marker", step_notifications),
    ("unfavourite and unreblog", step_undo),
    ("pagination", step_pagination),
    ("errors", step_errors),
    ("what Chirp has nothing behind: empty lists", step_empty_lists),
    ("a revoked token", step_revoke),
]


def run(world: World, number: int, name: str, step: Callable[[World], None]) -> bool:
    """One step: `ok` and its figures, or `FAIL` and why."""
    label = f"[{number}/{len(STEPS)}] {name}"
    before, at = check.passed, time.monotonic()
    try:
        step(world)
    except Failed as e:
        print(f"FAIL {label}: {e}", file=sys.stderr)
        return False
    except Exception as e:  # noqa: BLE001 - any error is this step's failure, said as such
        traceback.print_exc()
        print(f"FAIL {label}: {type(e).__name__}: {e.args}", file=sys.stderr)
        return False
    print(f"ok   {label}: {check.passed - before} checks, {time.monotonic() - at:.1f} s")
    return True


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mastodon_base", help="the Mastodon API's origin")
    p.add_argument("chirp_base", help="Chirp's own API on the same data")
    args = p.parse_args()
    world = World(args.mastodon_base.rstrip("/"), args.chirp_base.rstrip("/"), secrets.token_hex(3),
                  requests.Session())
    started = time.monotonic()
    print(f"mastodon-test: Mastodon.py against {world.base} (Chirp's API {world.chirp}), run {world.tag}")
    for number, (name, step) in enumerate(STEPS, 1):
        if not run(world, number, name, step):
            print(f"mastodon-test: failed at step {number} of {len(STEPS)}, after {number - 1} steps and "
                  f"{check.passed} checks passed, {time.monotonic() - started:.1f} s", file=sys.stderr)
            return 1
    print(f"mastodon-test: all {len(STEPS)} steps passed, {check.passed} checks, "
          f"{time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
