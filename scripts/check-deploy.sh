#!/usr/bin/env bash
# Checks the deployment files that cannot run here (no Docker engine, no cluster) against
# their official schemas, and runs the gateway's routes file in a real NGINX in front of
# `chirp all`:
#   - deploy/docker-compose.yml against the Compose Specification (check-jsonschema);
#   - deploy/k8s rendered by kustomize, against the Kubernetes API schemas
#     (kubernetes-validate --strict), and its network policies against its Deployments,
#     Ingress and scrape annotations (scripts/check-k8s-policies.py);
#   - every YAML file with yamllint;
#   - the CHIRP_ variables of the deployment files against `chirp --help`
#     (scripts/check-deploy-env.py);
#   - deploy/nginx/chirp-routes.conf: `nginx -t`, then requests through it, the web
#     client's pages, assets and session routes among them;
#   - deploy/nginx/mastodon-routes.conf, the Mastodon API's origin beside it: requests
#     through it (OAuth, the client API, its live stream), and the two origins apart.
set -euo pipefail
binary=${1:-target/debug/chirp}
cd "$(dirname "$0")/.."
. scripts/lib.sh
for pkg in check-jsonschema kubernetes-validate yamllint; do
  venv_program "$pkg" "$pkg"
done
venv_module yaml pyyaml
command -v nginx >/dev/null || apt_install nginx-light || apt_install nginx
passed=0

"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/docker-compose.yml
passed=$((passed + 1))

kubectl kustomize deploy/k8s | "$venv/bin/kubernetes-validate" --strict -
passed=$((passed + 1))

# The network policies against the Deployments, the Ingress and Prometheus's scraping.
kubectl kustomize deploy/k8s | "$venv/bin/python" scripts/check-k8s-policies.py
passed=$((passed + 1))

"$venv/bin/yamllint" -d '{extends: relaxed, rules: {line-length: {max: 140}}}' deploy
passed=$((passed + 1))

# Every CHIRP_ variable the deployment files set is one chirp reads, and the files that
# configure the services set the internal API's secret.
"$binary" --help >"${TMPDIR:-/tmp}/chirp-help.$$"
python3 scripts/check-deploy-env.py "${TMPDIR:-/tmp}/chirp-help.$$" \
  deploy/docker-compose.yml deploy/k8s/secret.yaml scripts/stack.sh -- deploy/k8s/*.yaml
rm -f "${TMPDIR:-/tmp}/chirp-help.$$"
passed=$((passed + 1))

# --- NGINX in front of `chirp all` -----------------------------------------------------
work=$(mktemp -d)
# NGINX's master makes a process group of its own as it goes to the background.
cleanup() {
  for f in "$work/chirp.pid" "$work/nginx.pid"; do
    [ ! -f "$f" ] || stop_group "$(cat "$f")"
  done
  rm -rf "$work"
}
trap cleanup EXIT
app=$(free_port)
gw=$(free_port)
# The Mastodon API: `chirp all`'s listener of its own, and NGINX's origin for it.
mapp=$(free_port)
mgw=$(free_port)
# Behind NGINX, as every deployed process is: X-Forwarded-For and -Proto are trusted.
spawn_group "$work/chirp.pid" "$work/chirp.log" \
  "$binary" all --listen "127.0.0.1:$app" --mastodon-listen "127.0.0.1:$mapp" --data-dir "$work/data" \
  --insecure-fast-hashing --trust-forwarded-for
mkdir -p "$work/logs" "$work/tmp"
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 256; }
http {
    # As the gateways log (deploy/nginx/compose.conf, scripts/stack.sh): the live streams'
    # and Mastodon's OAuth endpoints' request line without its query string.
    map \$uri \$chirp_request_line {
        ~^/(api/v1/streaming(/|\$)|oauth/) "\$request_method \$uri \$server_protocol";
        default \$request;
    }
    log_format chirp '\$remote_addr - \$remote_user [\$time_local] "\$chirp_request_line" '
                     '\$status \$body_bytes_sent "\$http_referer" "\$http_user_agent"';
    access_log $work/logs/access.log chirp;
    client_body_temp_path $work/tmp;
    proxy_temp_path $work/tmp;
    fastcgi_temp_path $work/tmp;
    uwsgi_temp_path $work/tmp;
    scgi_temp_path $work/tmp;
    limit_req_zone \$binary_remote_addr zone=chirp_api:1m rate=1000r/s;
    upstream chirp_auth   { server 127.0.0.1:$app; }
    upstream chirp_write  { server 127.0.0.1:$app; }
    upstream chirp_graph  { server 127.0.0.1:$app; }
    upstream chirp_read   { server 127.0.0.1:$app; }
    upstream chirp_search { server 127.0.0.1:$app; }
    upstream chirp_notifications { server 127.0.0.1:$app; }
    upstream chirp_streams { server 127.0.0.1:$app; }
    upstream chirp_web    { server 127.0.0.1:$app; }
    upstream chirp_mastodon { server 127.0.0.1:$mapp; }
    upstream chirp_mastodon_streams { server 127.0.0.1:$mapp; }
    server {
        listen 127.0.0.1:$gw;
        include $root/deploy/nginx/chirp-routes.conf;
    }
    server {
        listen 127.0.0.1:$mgw;
        include $root/deploy/nginx/mastodon-routes.conf;
    }
}
CONF
nginx -t -q -p "$work" -c "$work/nginx.conf"
passed=$((passed + 1))
nginx -p "$work" -c "$work/nginx.conf" </dev/null >/dev/null 2>>"$work/logs/stderr.log"
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$app/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
wait_port "$mapp" 10

base="http://127.0.0.1:$gw"
expect() { # STATUS CONTENT-TYPE-PREFIX CURL-ARGS...
  local status=$1 ctype=$2; shift 2
  local out
  out=$(curl -s -o "$work/body" -w '%{http_code} %{content_type}' "$@")
  if [ "${out%% *}" != "$status" ] || [[ "${out#* }" != "$ctype"* ]]; then
    echo "gateway check failed: $* -> $out (wanted $status $ctype)" >&2
    cat "$work/body" >&2
    exit 1
  fi
  passed=$((passed + 1))
}
has_header() { # PATTERN WHAT: a line of the last answer's head (curl -D "$work/head") matches
  if ! grep -qiE "$1" "$work/head"; then
    echo "gateway check failed: $2" >&2
    cat "$work/head" >&2
    exit 1
  fi
  passed=$((passed + 1))
}
# A service's /healthz, through the gateway (the benchmark's HTTP floor).
expect 200 application/json "$base/healthz"
expect 201 application/json -X POST "$base/api/v1/auth/signup" -H 'content-type: application/json' \
  -d '{"handle":"gateway","email":"gw@example.com","password":"long enough"}'
id=$(jq -r .user.id "$work/body")
token=$(jq -r .access_token "$work/body")
expect 200 application/json "$base/.well-known/jwks.json"
expect 201 application/json -X POST "$base/api/v1/posts" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"text":"through the gateway"}'
post=$(jq -r .id "$work/body")
expect 200 application/json "$base/api/v1/posts/$post"
expect 200 application/json -X PATCH "$base/api/v1/posts/$post" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"text":"edited through the gateway"}'
expect 200 application/json -X PATCH "$base/api/v1/auth/me" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"bio":"set through the gateway"}'
expect 200 application/json "$base/api/v1/users/$id"
expect 200 application/json "$base/api/v1/users?handle=gateway"
expect 200 application/json "$base/api/v1/users/$id/posts"
expect 200 application/json "$base/api/v1/users/$id/followers"
expect 200 application/json "$base/api/v1/timelines/home" -H "authorization: Bearer $token"
expect 200 application/json "$base/api/v1/search/posts?q=gateway"
expect 200 application/json "$base/api/v1/notifications" -H "authorization: Bearer $token"
expect 200 application/json "$base/api/v1/notifications/unread_count" -H "authorization: Bearer $token"
expect 204 "" -X POST "$base/api/v1/notifications/read" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d "{\"up_to\":\"$post\"}"
expect 204 "" -X POST "$base/api/v1/posts/$post/like" -H "authorization: Bearer $token"
expect 200 application/json "$base/api/v1/posts/$post/likes"
expect 200 application/json "$base/api/v1/users/$id/likes"
expect 204 "" -X DELETE "$base/api/v1/posts/$post/like" -H "authorization: Bearer $token"
expect 201 application/json -X POST "$base/api/v1/posts/$post/repost" -H "authorization: Bearer $token"
expect 200 application/json -X POST "$base/api/v1/posts/$post/repost" -H "authorization: Bearer $token"
expect 204 "" -X DELETE "$base/api/v1/posts/$post/repost" -H "authorization: Bearer $token"
expect 200 application/json "$base/api/v1/posts/$post/replies"
expect 201 application/json -X POST "$base/api/v1/auth/signup" -H 'content-type: application/json' \
  -d '{"handle":"gateway_two","email":"gw2@example.com","password":"long enough"}'
other=$(jq -r .user.id "$work/body")
for edge in block mute; do
  expect 204 "" -X POST "$base/api/v1/users/$other/$edge" -H "authorization: Bearer $token"
  expect 200 application/json "$base/api/v1/${edge}s" -H "authorization: Bearer $token"
  expect 204 "" -X DELETE "$base/api/v1/users/$other/$edge" -H "authorization: Bearer $token"
done
expect 200 application/json "$base/api/v1/relationships?ids=$other,$id" -H "authorization: Bearer $token"
expect 200 application/json "$base/api/v1/auth/me/export" -H "authorization: Bearer $token"
expect 200 application/json "$base/api/v1/posts/$post/ancestors"
expect 204 "" -X DELETE "$base/api/v1/posts/$post" -H "authorization: Bearer $token"
expect 200 application/json "$base/api/v1/openapi.json"
expect 200 text/plain "$base/problems/not-found"
# The web client (here the same process as the services): every page path is the page
# shell; its assets.
for page in / /login /signup /notifications /search /settings /posts/123 /@someone /@some_one/followers \
  /@someone/following /@someone/likes; do
  expect 200 text/html "$base$page"
done
expect 200 text/css "$base/assets/style.css"
expect 200 text/javascript "$base/assets/js/main.js"
expect 200 image/svg+xml "$base/assets/icon.svg"
# NGINX compresses pages and assets for a client that takes gzip (a revalidation: below).
for path in /@someone /assets/style.css /assets/js/main.js; do
  expect 200 "" "$base$path" -H 'accept-encoding: gzip' -D "$work/head"
  has_header '^content-encoding: gzip' "$path is not compressed for a client that takes gzip"
done
# A session request without the header only Chirp's pages send is refused. With it, a
# login sets the refresh token's cookie, not Secure: NGINX, not the client, says the
# scheme (http here). The refresh route takes the cookie back; signing out deletes it.
login='{"login":"gateway","password":"long enough"}'
expect 403 application/problem+json -X POST "$base/web/session" -H 'content-type: application/json' -d "$login"
expect 200 application/json -X POST "$base/web/session" -H 'content-type: application/json' \
  -H 'x-chirp-csrf: 1' -H 'x-forwarded-proto: https' -d "$login" -c "$work/cookies" -D "$work/head"
has_header '^set-cookie: chirp_refresh=[^;]+;.*path=/web/session' "a login sets no refresh cookie"
if grep -qi '^set-cookie:.*secure' "$work/head"; then
  echo "gateway check failed: the cookie is Secure over http (the client's X-Forwarded-Proto went through)" >&2
  exit 1
fi
passed=$((passed + 1))
expect 200 application/json -X POST "$base/web/session/refresh" -H 'x-chirp-csrf: 1' \
  -b "$work/cookies" -c "$work/cookies"
expect 204 "" -X DELETE "$base/web/session" -H 'x-chirp-csrf: 1' -b "$work/cookies"
# The edge's own answers: unknown paths (the internal API included), bodies over 64 KiB.
expect 404 application/problem+json "$base/internal/v1/users"
expect 404 application/problem+json "$base/nowhere"
# Paths near the web client's that name no page of it: not its page (/posts/{id} takes
# any id) nor its own 404 ("no such page").
for path in /nope/nope/nope /login/ /posts/abc /@someone/nope /@ "/@$(head -c 31 /dev/zero | tr '\0' a)" /web /assets; do
  expect 404 application/problem+json "$base$path"
  grep -q '"detail":"no such route"' "$work/body" \
    || { echo "gateway check failed: $path reached the web client: $(cat "$work/body")" >&2; exit 1; }
done
head -c 70000 /dev/zero | tr '\0' 'x' >"$work/big"
expect 413 application/problem+json -X POST "$base/api/v1/posts" -H 'content-type: application/json' \
  --data-binary @"$work/big"
# Compressing makes the ETag of a page or an asset weak (W/"..."), as a browser then sends
# it back: the web client's 304 must still come (If-None-Match compares weakly).
for path in /@someone /assets/style.css; do
  expect 200 "" "$base$path" -H 'accept-encoding: gzip' -D "$work/head"
  tag=$(sed -n 's/^etag: *//Ip' "$work/head" | tr -d '\r')
  expect 304 "" "$base$path" -H 'accept-encoding: gzip' -H "if-none-match: $tag"
done
# A live stream's query string (it may carry an access token) stays out of the access log.
curl -s -o /dev/null --max-time 5 "$base/api/v1/streaming?access_token=gateway-check" || true
# NGINX writes the line as it finishes the request, which may be just after curl is done.
for _ in $(seq 1 20); do grep -q '/api/v1/streaming' "$work/logs/access.log" && break; sleep 0.1; done
if grep -q 'access_token' "$work/logs/access.log" \
  || ! grep -q '"GET /api/v1/streaming HTTP/1.1"' "$work/logs/access.log"; then
  echo "gateway check failed: the access log holds the query string of /api/v1/streaming, or no line for it:" >&2
  grep 'streaming' "$work/logs/access.log" >&2 || true
  exit 1
fi
passed=$((passed + 1))

# --- The Mastodon API's origin ----------------------------------------------------------
# Its own server block: every path is the facade's, none of Chirp's; and Chirp's gateway
# serves none of Mastodon's.
mbase="http://127.0.0.1:$mgw"
fail() { echo "gateway check failed: $*" >&2; cat "$work/body" >&2; exit 1; }
expect 200 application/json "$mbase/api/v1/instance"
# The facade's links are on the origin the client called: Host with its port, and the
# scheme NGINX saw (a client's own X-Forwarded-Proto does not go through).
[ "$(jq -r .urls.streaming_api "$work/body")" = "ws://127.0.0.1:$mgw" ] \
  || fail "the instance's streaming_api is not on the Mastodon origin's host and port"
passed=$((passed + 1))
expect 200 application/json "$mbase/api/v2/instance"
expect 200 application/json "$mbase/.well-known/oauth-authorization-server" -H 'x-forwarded-proto: https'
[ "$(jq -r .token_endpoint "$work/body")" = "$mbase/oauth/token" ] \
  || fail "the OAuth metadata's token endpoint is not $mbase/oauth/token"
passed=$((passed + 1))
expect 200 text/plain "$mbase/api/v1/streaming/health"
expect 200 image/png "$mbase/avatars/original/missing.png"
expect 200 text/css "$mbase/assets/style.css"
# An app, signed in to by the account made above (out of band: the code on a page), and
# its token used on the client API.
expect 200 application/json -X POST "$mbase/api/v1/apps" --data-urlencode 'client_name=gateway check' \
  --data-urlencode 'redirect_uris=urn:ietf:wg:oauth:2.0:oob' --data-urlencode 'scopes=read write'
client_id=$(jq -r .client_id "$work/body")
client_secret=$(jq -r .client_secret "$work/body")
expect 200 text/html "$mbase/oauth/authorize?response_type=code&client_id=$client_id&redirect_uri=urn:ietf:wg:oauth:2.0:oob&scope=read+write"
expect 200 text/html -X POST "$mbase/oauth/authorize" --data-urlencode "client_id=$client_id" \
  --data-urlencode 'redirect_uri=urn:ietf:wg:oauth:2.0:oob' --data-urlencode 'scope=read write' \
  --data-urlencode 'login=gateway' --data-urlencode 'password=long enough'
code=$(sed -n 's/.*id="code" readonly value="\([^"]*\)".*/\1/p' "$work/body")
[ -n "$code" ] || fail "the sign-in page showed no authorization code"
expect 200 application/json -X POST "$mbase/oauth/token" --data-urlencode grant_type=authorization_code \
  --data-urlencode "code=$code" --data-urlencode "client_id=$client_id" \
  --data-urlencode "client_secret=$client_secret" --data-urlencode 'redirect_uri=urn:ietf:wg:oauth:2.0:oob'
mtoken=$(jq -r .access_token "$work/body")
expect 200 application/json "$mbase/api/v1/accounts/verify_credentials" -H "authorization: Bearer $mtoken"
[ "$(jq -r .username "$work/body")" = gateway ] || fail "verify_credentials is not the account that signed in"
passed=$((passed + 1))
expect 200 application/json -X POST "$mbase/api/v1/statuses" -H "authorization: Bearer $mtoken" \
  --data-urlencode 'status=through the Mastodon origin'
status=$(jq -r .id "$work/body")
expect 200 application/json "$mbase/api/v1/statuses/$status" -H "authorization: Bearer $mtoken"
# The same post, on Chirp's own API: one system behind both origins.
expect 200 application/json "$base/api/v1/posts/$status"
expect 200 application/json "$mbase/api/v1/timelines/home" -H "authorization: Bearer $mtoken"
# Mastodon's paths on this origin are the facade's, even those Chirp has no route for.
expect 200 application/json "$mbase/api/v1/timelines/public"
[ "$(jq -c . "$work/body")" = "[]" ] || fail "/api/v1/timelines/public on the Mastodon origin is not the facade's []"
passed=$((passed + 1))
expect 401 "" "$mbase/api/v1/timelines/home"
# The user's live stream: its first bytes (a comment) come through at once, unbuffered.
out=$(curl -s -o "$work/body" -w '%{http_code} %{content_type}' --max-time 3 \
  "$mbase/api/v1/streaming/user?access_token=$mtoken") || true
if [ "$out" != "200 text/event-stream" ] || ! grep -q '^:' "$work/body"; then
  fail "the Mastodon user stream through NGINX: $out, or no bytes within 3 s"
fi
passed=$((passed + 1))
# Not the Mastodon origin's: Chirp's routes (the facade's 404, whatever Chirp would say)
# and the process's own pages (NGINX's 404, as Mastodon's errors are); and bodies over
# 64 KiB.
for path in /api/v1/auth/signup /web/session /api/v1/openapi.json /api/v1/users/1 /nowhere; do
  expect 404 "" "$mbase$path"
done
for path in /metrics /readyz; do
  expect 404 application/json "$mbase$path"
  jq -e .error "$work/body" >/dev/null || fail "$path on the Mastodon origin is not NGINX's {\"error\"} 404"
done
expect 413 application/json -X POST "$mbase/api/v1/statuses" -H 'content-type: application/json' \
  --data-binary @"$work/big"
# Not Chirp's gateway's: Mastodon's own paths.
expect 404 application/problem+json -X POST "$base/oauth/token" -d 'grant_type=client_credentials'
for path in /api/v1/instance /api/v2/instance /.well-known/oauth-authorization-server /oauth/authorize \
  /avatars/original/missing.png /api/v1/streaming/health; do
  expect 404 application/problem+json "$base$path"
done
# Neither the stream's token nor what a client put in the query of /oauth/ is logged.
tokens=$(grep -c 'POST /oauth/token HTTP' "$work/logs/access.log" || true)
curl -s -o /dev/null -X POST "$mbase/oauth/token?client_secret=gateway-check-secret" || true
for _ in $(seq 1 20); do
  [ "$(grep -c 'POST /oauth/token HTTP' "$work/logs/access.log" || true)" -gt "$tokens" ] \
    && grep -q 'GET /api/v1/streaming/user HTTP' "$work/logs/access.log" && break
  sleep 0.1
done
if grep -qF -e "$mtoken" -e gateway-check-secret -e 'password=' "$work/logs/access.log" \
  || ! grep -q '"GET /api/v1/streaming/user HTTP/1.1"' "$work/logs/access.log"; then
  echo "gateway check failed: the access log holds a Mastodon token or secret, or no line for its stream:" >&2
  grep -e streaming -e oauth "$work/logs/access.log" >&2 || true
  exit 1
fi
passed=$((passed + 1))
echo "deployment checks: $passed passed, 0 failed"
