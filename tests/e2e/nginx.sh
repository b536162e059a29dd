#!/usr/bin/env bash
# End-to-end test through a real nginx using the example configuration as is.
#
#   reader (curl) -> nginx (examples/nginx/http.conf + location.conf)
#                 -> FastCGI over a unix socket -> mastodon-comments
#                    (socket-activated by systemd-socket-activate)
#                 -> stand-in Mastodon (plain HTTP on loopback, fixture
#                    scenario a-simple-thread)
#
# The example files are included unchanged. They name absolute paths
# (/run/mastodon-comments.sock, /var/cache/nginx-mastodon-comments,
# /var/log/nginx/mastodon-comments.access.log); nginx runs in a private mount
# namespace (unshare -m) where /run, /var/cache and /var/log/nginx are bind
# mounts of directories under the test's temporary directory, so the host is
# not touched. Without unshare (no CAP_SYS_ADMIN) the test falls back to
# copies of the two files with only those three paths rewritten, and says so.
#
# Checks:
#  a. an article's comments arrive through nginx (5 comments, MISS);
#  b. the second request is a cache HIT and does not reach Mastodon;
#  c. stale serving: the daemon answers a post that is not announced yet with
#     200 and Cache-Control: max-age=60. The test caches such an answer first,
#     waits until it has expired (~61 s, spent mostly on the other checks),
#     then stops the daemon: nginx cannot connect ("error") and serves the
#     expired copy (X-Cache-Status: STALE) instead of a 502. The 10-minute
#     answers cannot be made stale honestly without waiting 10 minutes or
#     changing the example, so the 1-minute one is used;
#  d. the daemon's errors reach the reader with their status and JSON body:
#     400 (bad query), 404 (outside path_pattern), 405 (POST), 503 (Mastodon
#     failing, article never seen), and are not cached;
#  e. the access log holds shortened reader addresses (127.0.0.0, and for
#     IPv6 the /32, fed through X-Forwarded-For and the realip module).
#
# Needs: root (nginx master, unshare), nginx, curl, python3,
# systemd-socket-activate, the built binary (MC_BIN, default
# target/debug/mastodon-comments). Takes about 70 seconds.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MC_BIN=${MC_BIN:-$ROOT/target/debug/mastodon-comments}
case $MC_BIN in /*) ;; *) MC_BIN=$ROOT/$MC_BIN ;; esac
SCENARIO=$ROOT/tests/fixtures/mastodon/a-simple-thread
EXAMPLES=$ROOT/examples/nginx
ARTICLE=/2026/07/01/slow-bread
ROOT_ID=116843781319371281

. "$ROOT/tests/e2e/lib.sh"

require_tools nginx curl python3 systemd-socket-activate timeout
require_binary
[ "$(id -u)" = 0 ] || { echo "run as root (nginx master and unshare)" >&2; echo "0 passed, 1 failed"; exit 1; }

TMP=$(mktemp -d /tmp/mc-e2e-nginx.XXXXXX)
chmod 0755 "$TMP"   # nginx workers (www-data) reach the socket below it
STANDIN_PID=
DAEMON_PID=
NGINX_PID=

dump() {
    local f
    for f in "$TMP/error.log" "$TMP/daemon.log" "$TMP/daemon2.log" "$TMP/stand-in.log" \
             "$TMP/log/mastodon-comments.access.log" "$TMP/nginx.out"; do
        [ -s "$f" ] || continue
        echo "----- $f (last 60 lines)"
        tail -n 60 "$f"
    done
}


cleanup() {
    local rc=$?
    set +e
    stop "$NGINX_PID" QUIT
    stop "$DAEMON_PID"
    stop "$STANDIN_PID"
    if [ "$rc" -ne 0 ] && [ "$FAIL" -eq 0 ]; then FAIL=1; fi
    if [ "$FAIL" -gt 0 ]; then dump; rc=1; fi
    rm -rf "$TMP"
    echo "$PASS passed, $FAIL failed"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM



# GET/POST through nginx; writes $TMP/h (headers) and $TMP/b (body), prints status.
req() { # method path [curl args...]
    local method=$1 path=$2
    shift 2
    curl -sS -o "$TMP/b" -D "$TMP/h" -w '%{http_code}' --max-time 20 -X "$method" \
        -H 'Host: blog.example.org' "$@" "http://127.0.0.1:$NGINX_PORT$path" || echo 000
}
header() { # name -> value of the header in $TMP/h (last response)
    tr -d '\r' <"$TMP/h" | awk -v n="$(echo "$1" | tr '[:upper:]' '[:lower:]')" -F': ' \
        'tolower($1) == n { sub(/^[^:]*: /, ""); v = $0 } END { print v }'
}
json() { # python expression on j (the parsed body of the last response)
    python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$TMP/b" "$1" 2>/dev/null || echo '<not json>'
}
calls() { curl -sS --max-time 5 "http://127.0.0.1:$STANDIN_PORT/__stand-in/calls" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])'; }
mode() { curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$STANDIN_PORT/__stand-in/mode?set=$1"; }

expect() { # description, expected, actual
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi
}
expect_error() { # description, status, actual status  (also checks the JSON error body)
    local desc=$1 want=$2 got=$3
    local err cc ct
    err=$(json '"error" in j and isinstance(j["error"], str) and len(j["error"]) > 0')
    cc=$(header Cache-Control)
    ct=$(header Content-Type)
    if [ "$got" = "$want" ] && [ "$err" = True ] && [ "$cc" = no-store ] && [[ $ct == application/json* ]]; then
        ok "$desc: $got, JSON error body, no-store"
    else
        bad "$desc: expected $want + {\"error\":…} + no-store + JSON, got $got, error=$err, Cache-Control='$cc', Content-Type='$ct', body: $(head -c 300 "$TMP/b")"
    fi
}

# --- the stand-in Mastodon -----------------------------------------------------
STANDIN_PORT=$(free_port)
"$MC_BIN" stand-in --fixtures "$SCENARIO" --listen "127.0.0.1:$STANDIN_PORT" >"$TMP/stand-in.log" 2>&1 &
STANDIN_PID=$!
wait_until 15 "curl -sf -o /dev/null http://127.0.0.1:$STANDIN_PORT/__stand-in/calls" \
    || { bad "stand-in did not come up on 127.0.0.1:$STANDIN_PORT"; exit 1; }

# --- the daemon, socket-activated on the path nginx will see as /run/... ------
mkdir -p "$TMP/run" "$TMP/cache" "$TMP/log" "$TMP/state"
cat >"$TMP/config.json" <<EOF
{"url": "http://127.0.0.1:$STANDIN_PORT", "token": "e2e-token", "userid": "109308551561216011",
 "blog_url": "https://blog.example.org", "path_pattern": "^/20[0-9]{2}/"}
EOF
SOCK=$TMP/run/mastodon-comments.sock
start_daemon() { # log file
    rm -f "$SOCK"
    systemd-socket-activate -l "$SOCK" -E RUST_LOG=info \
        "$MC_BIN" "$TMP/config.json" "$TMP/state/state.json" >"$1" 2>&1 &
    DAEMON_PID=$!   # systemd-socket-activate execs the daemon: same pid
    wait_until 10 "[ -S '$SOCK' ]" || { bad "socket $SOCK not created"; exit 1; }
    # As mastodon-comments.socket: SocketUser=www-data, SocketMode=0600.
    if [ -n "$NGINX_USER" ]; then chown "$NGINX_USER:$NGINX_USER" "$SOCK"; fi
    chmod 0600 "$SOCK"
}
NGINX_USER=
if id www-data >/dev/null 2>&1; then NGINX_USER=www-data; fi
start_daemon "$TMP/daemon.log"

# --- nginx ----------------------------------------------------------------------
NGINX_PORT=$(free_port)
ln -s /etc/nginx/fastcgi_params "$TMP/fastcgi_params"
if unshare -m --propagation private true 2>/dev/null; then
    INCLUDE_HTTP=$EXAMPLES/http.conf
    INCLUDE_LOCATION=$EXAMPLES/location.conf
    NAMESPACE=yes
else
    echo "NOTE: unshare -m is not permitted here; using copies of the example files"
    echo "      with /run, /var/cache and /var/log/nginx rewritten to $TMP"
    for f in http.conf location.conf; do
        sed -e "s#/run/mastodon-comments.sock#$SOCK#" \
            -e "s#/var/cache/nginx-mastodon-comments#$TMP/cache/nginx-mastodon-comments#" \
            -e "s#/var/log/nginx/mastodon-comments.access.log#$TMP/log/mastodon-comments.access.log#" \
            "$EXAMPLES/$f" >"$TMP/$f"
    done
    INCLUDE_HTTP=$TMP/http.conf
    INCLUDE_LOCATION=$TMP/location.conf
    NAMESPACE=no
fi
cat >"$TMP/nginx.conf" <<EOF
${NGINX_USER:+user $NGINX_USER $NGINX_USER;}
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/error.log info;
events { worker_connections 64; }
http {
    access_log $TMP/access.log;
    client_body_temp_path $TMP/client_body;
    fastcgi_temp_path $TMP/fastcgi_temp;
    proxy_temp_path $TMP/proxy_temp;
    scgi_temp_path $TMP/scgi_temp;
    uwsgi_temp_path $TMP/uwsgi_temp;

    include $INCLUDE_HTTP;

    server {
        listen 127.0.0.1:$NGINX_PORT;
        server_name blog.example.org;
        # Test only: lets the test present other reader addresses (IPv6) to
        # the example's address-shortening map.
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;

        include $INCLUDE_LOCATION;
    }
}
EOF
if [ "$NAMESPACE" = yes ]; then
    # shellcheck disable=SC2016  # expanded by the inner bash
    unshare -m --propagation private bash -c '
        set -e
        mount --bind "$1/run" /run
        mount --bind "$1/cache" /var/cache
        mkdir -p /var/log/nginx 2>/dev/null || true
        mount --bind "$1/log" /var/log/nginx
        exec nginx -p "$1/" -c "$1/nginx.conf" -e "$1/error.log" -g "daemon off;"
    ' _ "$TMP" >"$TMP/nginx.out" 2>&1 &
else
    nginx -p "$TMP/" -c "$TMP/nginx.conf" -e "$TMP/error.log" -g "daemon off;" >"$TMP/nginx.out" 2>&1 &
fi
NGINX_PID=$!
if wait_until 10 "curl -s -o /dev/null http://127.0.0.1:$NGINX_PORT/"; then
    ok "nginx starts with the example configuration included ($([ $NAMESPACE = yes ] && echo unchanged || echo rewritten copies))"
else
    bad "nginx did not start"
    exit 1
fi

# --- c (setup). A post not announced yet: 200, comments null, max-age=60 --------
UNANNOUNCED=/2026/07/02/not-announced-yet/comments.json
status=$(req GET "$UNANNOUNCED")
cached_at=$(date +%s)
cp "$TMP/b" "$TMP/unannounced.body"
if [ "$status" = 200 ] && [ "$(json 'j["comments"] is None')" = True ] \
    && [ "$(header Cache-Control)" = max-age=60 ] && [ "$(header X-Cache-Status)" = MISS ]; then
    ok "unannounced post: 200, comments null, Cache-Control max-age=60, MISS"
else
    bad "unannounced post: got $status, Cache-Control='$(header Cache-Control)', X-Cache-Status='$(header X-Cache-Status)', body: $(head -c 300 "$TMP/b")"
fi

# --- a. the comments arrive through nginx -----------------------------------------
status=$(req GET "$ARTICLE/comments.json")
cp "$TMP/b" "$TMP/first.body"
expect "a: status through nginx" 200 "$status"
expect "a: X-Cache-Status of the first request" MISS "$(header X-Cache-Status)"
ct=$(header Content-Type)
if [[ $ct == application/json* ]]; then ok "a: Content-Type $ct"; else bad "a: Content-Type '$ct'"; fi
expect "a: Cache-Control of a found post" max-age=600 "$(header Cache-Control)"
expect "a: number of comments" 5 "$(json 'len(j["comments"])')"
expect "a: stats.root" "$ROOT_ID" "$(json 'j["stats"]["root"]')"
expect "a: every comment has the root" True "$(json "all(c[\"root\"] == \"$ROOT_ID\" for c in j[\"comments\"].values())")"

# --- b. the second request is served by nginx's cache -------------------------------
before=$(calls)
status=$(req GET "$ARTICLE/comments.json")
after=$(calls)
expect "b: status of the second request" 200 "$status"
expect "b: X-Cache-Status of the second request" HIT "$(header X-Cache-Status)"
if cmp -s "$TMP/b" "$TMP/first.body"; then ok "b: cached body identical"; else bad "b: cached body differs"; fi
expect "b: Mastodon calls during the cached request (total $before before)" "$before" "$after"
# A HEAD is keyed apart from GET (no empty body served to a GET later).
status=$(req HEAD "$ARTICLE/comments.json" --head)
status=$(req GET "$ARTICLE/comments.json")
if [ "$status" = 200 ] && cmp -s "$TMP/b" "$TMP/first.body"; then ok "b: GET after HEAD still gets the full body"; else bad "b: GET after HEAD: $status, $(wc -c <"$TMP/b") bytes"; fi

# --- d. errors reach the reader with status and JSON body --------------------------
status=$(req GET "/2026/07/01/x/comments.json?search=notapath")
expect_error "d: 400 for ?search=notapath" 400 "$status"
status=$(req GET "/%01bad/comments.json")
expect_error "d: 400 for /%01bad/comments.json" 400 "$status"
status=$(req GET "/about/comments.json")
expect_error "d: 404 outside path_pattern" 404 "$status"
status=$(req POST "$ARTICLE/comments.json" --data-binary '{}' -H 'Content-Type: application/json')
expect_error "d: 405 for POST" 405 "$status"
allow=$(header Allow)
if [[ $allow == *GET* ]]; then ok "d: 405 carries Allow: $allow"; else bad "d: 405 without an Allow header naming GET ('$allow')"; fi

mode error
NEVER_SEEN=/2026/07/03/never-seen/comments.json
status=$(req GET "$NEVER_SEEN")
expect_error "d: 503 when Mastodon fails for a never-seen post" 503 "$status"
ra=$(header Retry-After)
if [[ $ra =~ ^[0-9]+$ ]]; then ok "d: 503 carries Retry-After: $ra"; else bad "d: 503 without a numeric Retry-After ('$ra')"; fi
# The cached article is still served while Mastodon fails.
status=$(req GET "$ARTICLE/comments.json")
if [ "$status" = 200 ] && [ "$(header X-Cache-Status)" = HIT ]; then ok "d: cached article still served (HIT) while Mastodon fails"; else bad "d: cached article while Mastodon fails: $status $(header X-Cache-Status)"; fi
mode ok
# Errors are not cached: the same URI now succeeds.
status=$(req GET "$NEVER_SEEN")
if [ "$status" = 200 ] && [ "$(header X-Cache-Status)" = MISS ]; then ok "d: the 503 was not cached (200 MISS after recovery)"; else bad "d: after recovery: $status $(header X-Cache-Status)"; fi

# --- e. shortened addresses in the access log --------------------------------------
req GET "$ARTICLE/comments.json" -H 'X-Forwarded-For: 2001:db8:1:2::3' >/dev/null
req GET "$ARTICLE/comments.json" -H 'X-Forwarded-For: 2001::7' >/dev/null
req GET "$ARTICLE/comments.json" -H 'X-Forwarded-For: 198.51.100.77' >/dev/null
LOG=$TMP/log/mastodon-comments.access.log
if [ -s "$LOG" ] && grep -q '^127\.0\.0\.0 - - \[' "$LOG"; then ok "e: access log shows 127.0.0.0 for 127.0.0.1"; else bad "e: no '127.0.0.0' line in $LOG"; fi
if grep -q '127\.0\.0\.1' "$LOG"; then bad "e: full address 127.0.0.1 in the access log"; else ok "e: no full IPv4 address in the access log"; fi
if grep -q '^2001:db8:: - - ' "$LOG" && grep -q '^2001:: - - ' "$LOG" && grep -q '^198\.51\.100\.0 - - ' "$LOG" \
    && ! grep -qE '2001:db8:1|::3|::7|198\.51\.100\.77' "$LOG"; then
    ok "e: IPv6 shortened to /32 (2001:db8::, 2001::), other IPv4 to /24"
else
    bad "e: IPv6/IPv4 shortening: $(tail -n 3 "$LOG")"
fi
if grep -q 'cache=HIT' "$LOG"; then ok "e: cache status logged"; else bad "e: no cache=HIT in the access log"; fi

# --- c. stale serving when the daemon is down ----------------------------------------
# Wait until the max-age=60 entry has expired (bounded: at most 70 s in all).
now=$(date +%s)
left=$((cached_at + 62 - now))
if [ "$left" -gt 0 ]; then
    echo "# waiting ${left}s for the max-age=60 entry to expire"
    sleep "$left"
fi
stop "$DAEMON_PID"
DAEMON_PID=
status=$(req GET "$UNANNOUNCED")
if [ "$status" = 200 ] && [ "$(header X-Cache-Status)" = STALE ] && cmp -s "$TMP/b" "$TMP/unannounced.body"; then
    ok "c: daemon down, expired entry: stale copy served (200, STALE)"
else
    bad "c: daemon down, expired entry: got $status X-Cache-Status='$(header X-Cache-Status)'"
fi
# nginx did try the daemon for that entry (background update) and failed.
if wait_until 5 "grep -q 'connect() to unix:.*mastodon-comments.sock failed' '$TMP/error.log'"; then
    ok "c: nginx's attempt to refresh it failed (connect() error logged), the reader got the stale copy"
else
    bad "c: no failed connect() to the daemon in nginx's error log"
fi
status=$(req GET "$ARTICLE/comments.json")
if [ "$status" = 200 ] && [ "$(header X-Cache-Status)" = HIT ]; then ok "c: daemon down, fresh entry: HIT"; else bad "c: daemon down, fresh entry: $status $(header X-Cache-Status)"; fi
status=$(req GET "/2026/07/04/nothing-cached/comments.json")
expect "c: daemon down, nothing cached: nginx's 502" 502 "$status"
# The socket comes back (as systemd would restart the service): answers again.
start_daemon "$TMP/daemon2.log"
status=$(req GET "/2026/07/04/nothing-cached/comments.json")
expect "c: daemon back: answer again" 200 "$status"

[ "$FAIL" -eq 0 ]
