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
#  a. an article's comments arrive through nginx (5 comments, MISS); a post
#     not announced yet answers 200, comments null, max-age=60;
#  b. the second request is a cache HIT: it reaches neither Mastodon (the
#     stand-in's call count) nor the daemon (the daemon logs one "request"
#     line per request it answers; their number does not change);
#  d. the daemon's errors reach the reader with their status and JSON body:
#     400 (bad query), 404 (outside path_pattern), 405 (POST), 503 (Mastodon
#     failing, article never seen), and are not cached;
#  e. the access log holds shortened reader addresses (127.0.0.0, and for
#     IPv6 the /32, fed through X-Forwarded-For and the realip module);
#  c. stale serving, with the daemon restarted on the same socket with
#     max_age_seconds=2 (nginx's entries expire after 2 s instead of 10 min)
#     and cache_fresh_seconds=0, cache_keep_seconds=0 (the daemon keeps no
#     answer of its own, so a failing Mastodon makes it answer 503, not its
#     own stale copy). Four articles (config "roots") are cached through
#     nginx (MISS, max-age=2), then the stand-in Mastodon fails (500s).
#     With the example's fastcgi_cache_background_update on, nginx answers an
#     expired entry from the stale copy at once and refreshes it in a
#     background subrequest whose outcome the reader never sees: the reader
#     gets STALE whatever the daemon answers, and http_503 / error in
#     fastcgi_cache_use_stale make no visible difference there. They do
#     when nginx refreshes while the reader waits, so c1s and c2s use a
#     test-only second server whose location is the example's with only
#     that directive turned off (removing http_503 or error from the
#     example makes c1s or c2s fail; checked by hand).
#     c1.  the example as is: the first request after expiry is 200, STALE
#          (not UPDATING: no refresh under way yet), body identical to the
#          cached one; the daemon's log shows the refresh answered 503 (one
#          200, one 503 for that path; no connect() failure in nginx's
#          log); the next request once that refresh has ended is STALE again
#          (UPDATING before that, same body), its refresh another 503;
#     c1s. background updates off: 200, STALE, same body, and the daemon's
#          503 for that refresh is already in its log when the reader gets
#          the answer (nginx waited for it: http_503);
#     c2.  the daemon stopped: an expired entry is served STALE, nginx's
#          background refresh fails to connect (logged);
#     c2s. background updates off: connect() fails while the reader waits,
#          then 200, STALE, same body ("error"); a fresh entry is a HIT;
#          nothing cached gives nginx's 502; the daemon back answers again.
#  f. images ("proxy_media"), the daemon restarted with an instance that is
#     a plain file server holding one PNG: the image path (made from the
#     daemon's media.key the way the daemon makes it) answers the PNG as
#     image/png, nosniff, a week immutable, MISS; the second fetch is a HIT
#     that reaches neither the daemon (its "image" log lines) nor the image
#     host (its request log); a forged path is the daemon's short 404.
#
# Needs: root (nginx master, unshare), nginx, curl, python3,
# systemd-socket-activate, the built binary (MC_BIN, default
# target/debug/mastodon-comments). Takes about 10 seconds.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MC_BIN=${MC_BIN:-$ROOT/target/debug/mastodon-comments}
case $MC_BIN in /*) ;; *) MC_BIN=$ROOT/$MC_BIN ;; esac
EXAMPLES=$ROOT/examples/nginx

. "$ROOT/tests/e2e/lib.sh"

NGINX_PID=
IMAGES_PID=
stop_server() { stop "$NGINX_PID" QUIT; stop "$IMAGES_PID"; }
begin_web_suite nginx "nginx master and unshare" nginx

# The test-only server without background updates (check c).
req_sync() { PORT=$NGINX_SYNC_PORT req "$@"; }

# --- the daemon, socket-activated on the path nginx will see as /run/... ------
mkdir -p "$TMP/run" "$TMP/cache" "$TMP/log" "$TMP/state"
write_config "$TMP/config.json"
# The same daemon for check c, restarted with short lifetimes (see above).
STALE_503=/2026/07/09/stale-while-503
STALE_DOWN=/2026/07/09/stale-while-down
SYNC_503=/2026/07/09/sync-stale-while-503
SYNC_DOWN=/2026/07/09/sync-stale-while-down
write_config "$TMP/config-short.json" '"max_age_seconds": 2, "cache_fresh_seconds": 0, "cache_keep_seconds": 0, '"$(
    roots_member "$STALE_503" "$STALE_DOWN" "$SYNC_503" "$SYNC_DOWN")"
SOCK=$TMP/run/mastodon-comments.sock
NGINX_USER=
if id www-data >/dev/null 2>&1; then NGINX_USER=www-data; fi
SOCKET_USER=$NGINX_USER
start_daemon "$TMP/daemon.log"

# --- nginx ----------------------------------------------------------------------
NGINX_PORT=$(free_port)
NGINX_SYNC_PORT=$(free_port)
SERVER_PORT=$NGINX_PORT
ln -s /etc/nginx/fastcgi_params "$TMP/fastcgi_params"
choose_nginx_examples "$EXAMPLES"
# Test only (check c): the location block with background updates off, so
# that nginx refreshes an expired entry while the reader waits and serves
# the stale copy only because of fastcgi_cache_use_stale's conditions.
sed 's/^\( *fastcgi_cache_background_update\) on;/\1 off;/' "$INCLUDE_LOCATION" >"$TMP/location-sync.conf"
if ! grep -q '^ *fastcgi_cache_background_update off;' "$TMP/location-sync.conf"; then
    bad "no 'fastcgi_cache_background_update on;' line in $INCLUDE_LOCATION to turn off for the test-only server"
    exit 1
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
    # Test only: the same location, background updates off (check c).
    server {
        listen 127.0.0.1:$NGINX_SYNC_PORT;
        server_name blog.example.org;
        include $TMP/location-sync.conf;
    }
}
EOF
PRIVATE_LOG_DIR=/var/log/nginx run_server \
    nginx -p "$TMP/" -c "$TMP/nginx.conf" -e "$TMP/error.log" -g "daemon off;" >"$TMP/nginx.out" 2>&1 &
NGINX_PID=$!
expect_started nginx "the example configuration included ($([ $NAMESPACE = yes ] && echo unchanged || echo rewritten copies))"

# --- a. A post not announced yet: 200, comments null, max-age=60 ------------------
status=$(req GET /2026/07/02/not-announced-yet/comments.json)
if [ "$status" = 200 ] && [ "$(json 'j["comments"] is None')" = True ] \
    && [ "$(header Cache-Control)" = max-age=60 ] && [ "$(header X-Cache-Status)" = MISS ]; then
    ok "a: unannounced post: 200, comments null, Cache-Control max-age=60, MISS"
else
    bad "a: unannounced post: got $status, Cache-Control='$(header Cache-Control)', X-Cache-Status='$(header X-Cache-Status)', body: $(head -c 300 "$TMP/b")"
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
served_before=$(served "$TMP/daemon.log")
status=$(req GET "$ARTICLE/comments.json")
after=$(calls)
served_after=$(served "$TMP/daemon.log")
expect "b: status of the second request" 200 "$status"
expect "b: X-Cache-Status of the second request" HIT "$(header X-Cache-Status)"
if cmp -s "$TMP/b" "$TMP/first.body"; then ok "b: cached body identical"; else bad "b: cached body differs"; fi
expect "b: Mastodon calls during the cached request (total $before before)" "$before" "$after"
# The unannounced post and the first request: two lines already.
if [ "$served_before" -eq 2 ] && [ "$served_after" -eq 2 ]; then
    ok "b: the cached request did not reach the daemon (its log holds 2 request lines before and after)"
else
    bad "b: the daemon's request lines went from $served_before to $served_after (expected 2 and 2)"
fi
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
expect_503_passed_on
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

# --- c. stale serving: Mastodon failing (http_503), the daemon down (error) -------
# The daemon again, with max_age_seconds=2 and no cache of its own.
stop "$DAEMON_PID"
SHORT_LOG=$TMP/daemon-short.log
start_daemon "$SHORT_LOG" "$TMP/config-short.json"
for p in "$STALE_503" "$STALE_DOWN" "$SYNC_503" "$SYNC_DOWN"; do
    case $p in */sync-*) status=$(req_sync GET "$p/comments.json") ;; *) status=$(req GET "$p/comments.json") ;; esac
    cp "$TMP/b" "$TMP/$(basename "$p").body"
    if [ "$status" = 200 ] && [ "$(header X-Cache-Status)" = MISS ] && [ "$(header Cache-Control)" = max-age=2 ] \
        && [ "$(json 'len(j["comments"])')" = 5 ]; then
        ok "c: $p cached through nginx (200, MISS, max-age=2, 5 comments)"
    else
        bad "c: $p: got $status, X-Cache-Status='$(header X-Cache-Status)', Cache-Control='$(header Cache-Control)', body: $(head -c 300 "$TMP/b")"
    fi
done
# nginx keeps an entry while its clock (whole seconds) <= time of caching + 2.
expired_at=$(($(date +%s) + 3))
mode error
connect_errors() { grep -c 'connect() to unix:.*mastodon-comments.sock failed' "$TMP/error.log" || true; }
refreshes() { grep -cF "request path=\"$1\" status=503 " "$SHORT_LOG" || true; }   # path
for _ in $(seq 1 40); do [ "$(date +%s)" -ge "$expired_at" ] && break; sleep 0.1; done
# First answer after the entry expired: sets STATUS and CS. Until nginx sees
# the entry as expired, answers are HITs that reach nobody (at most 5 s).
after_expiry() { # req|req_sync path
    local _i
    for _i in $(seq 1 20); do
        STATUS=$("$1" GET "$2/comments.json")
        CS=$(header X-Cache-Status)
        [ "$CS" = HIT ] || return 0
        sleep 0.25
    done
}
same_body() { cmp -s "$TMP/b" "$TMP/$(basename "$1").body"; }   # path

# c1. The example as shipped, Mastodon failing. With background updates the
# reader gets the stale copy at once; nginx's refresh reaches the daemon,
# which answers 503, and the entry stays.
after_expiry req "$STALE_503"
if [ "$STATUS" = 200 ] && [ "$CS" = STALE ] && same_body "$STALE_503"; then
    ok "c1: Mastodon failing, expired entry: the cached body at once (200, STALE)"
else
    bad "c1: Mastodon failing, expired entry: got $STATUS, X-Cache-Status='$CS', $(wc -c <"$TMP/b") bytes"
fi
if wait_until 10 "[ \$(grep -cF 'request path=\"$STALE_503\" status=503 ' '$SHORT_LOG') -ge 1 ]"; then
    ok "c1: nginx's background refresh reached the daemon, which answered 503"
else
    bad "c1: no 503 for $STALE_503 in the daemon's log"
fi
expect "c1: the daemon's answers for $STALE_503: one 200 (cached), one 503 (refresh)" "1 1" \
    "$(served "$SHORT_LOG" "$STALE_503" 200) $(refreshes "$STALE_503")"
# Once that refresh has ended the entry is still there: UPDATING answers
# (stale body, no new refresh) while nginx finishes it, then STALE with a
# new refresh, answered 503 again.
updating=0
same=yes
for _ in $(seq 1 30); do
    status=$(req GET "$STALE_503/comments.json")
    cs=$(header X-Cache-Status)
    if [ "$status" != 200 ] || ! same_body "$STALE_503"; then same=no; fi
    [ "$cs" = UPDATING ] || break
    updating=$((updating + 1))
    sleep 0.1
done
if [ "$cs" = STALE ] && [ "$same" = yes ]; then
    ok "c1: the next request is STALE again, same body (after $updating UPDATING answers with the same body)"
else
    bad "c1: the next request: $status, X-Cache-Status='$cs', same body: $same, after $updating UPDATING"
fi
if wait_until 10 "[ \$(grep -cF 'request path=\"$STALE_503\" status=503 ' '$SHORT_LOG') -ge 2 ]"; then
    expect "c1: its refresh answered 503 as well (200s and 503s for $STALE_503)" "1 2" \
        "$(served "$SHORT_LOG" "$STALE_503" 200) $(refreshes "$STALE_503")"
else
    bad "c1: no second 503 for $STALE_503 in the daemon's log"
fi
# c1s. Background updates off: nginx waits for the daemon's 503 and serves
# the stale copy because of fastcgi_cache_use_stale http_503.
after_expiry req_sync "$SYNC_503"
seen=$(refreshes "$SYNC_503")   # read as soon as the reader has the answer
if [ "$STATUS" = 200 ] && [ "$CS" = STALE ] && same_body "$SYNC_503"; then
    ok "c1s: Mastodon failing, no background update: the cached body (200, STALE)"
else
    bad "c1s: Mastodon failing, no background update: got $STATUS, X-Cache-Status='$CS', body: $(head -c 200 "$TMP/b")"
fi
expect "c1s: the daemon had answered that refresh with 503 before nginx answered (http_503)" 1 "$seen"
expect "c1: no connect() failure in nginx's error log while the daemon runs" 0 "$(connect_errors)"
mode ok

# c2. The daemon down: nginx cannot connect ("error") and serves the stale copy.
stop "$DAEMON_PID"
DAEMON_PID=
status=$(req GET "$STALE_DOWN/comments.json")
cs=$(header X-Cache-Status)
if [ "$status" = 200 ] && [ "$cs" = STALE ] && same_body "$STALE_DOWN"; then
    ok "c2: daemon down, expired entry: the cached body (200, STALE)"
else
    bad "c2: daemon down, expired entry: got $status, X-Cache-Status='$cs'"
fi
if wait_until 5 "[ \$(grep -c 'connect() to unix:.*mastodon-comments.sock failed' '$TMP/error.log') -ge 1 ]"; then
    ok "c2: nginx's background refresh failed to connect (connect() error logged)"
else
    bad "c2: no failed connect() to the daemon in nginx's error log"
fi
before=$(connect_errors)
status=$(req_sync GET "$SYNC_DOWN/comments.json")
cs=$(header X-Cache-Status)
after=$(connect_errors)
if [ "$status" = 200 ] && [ "$cs" = STALE ] && same_body "$SYNC_DOWN" && [ "$after" -gt "$before" ]; then
    ok "c2s: daemon down, no background update: connect() failed, then the cached body (200, STALE)"
else
    bad "c2s: daemon down, no background update: got $status, X-Cache-Status='$cs', connect() failures $before -> $after"
fi
expect "c2: the daemon saw each of them once (to cache it)" "1 1" \
    "$(served "$SHORT_LOG" "$STALE_DOWN") $(served "$SHORT_LOG" "$SYNC_DOWN")"
status=$(req GET "$ARTICLE/comments.json")
if [ "$status" = 200 ] && [ "$(header X-Cache-Status)" = HIT ]; then ok "c2: daemon down, fresh entry: HIT"; else bad "c2: daemon down, fresh entry: $status $(header X-Cache-Status)"; fi
status=$(req GET "/2026/07/04/nothing-cached/comments.json")
expect "c2: daemon down, nothing cached: nginx's 502" 502 "$status"
# The socket comes back (as systemd would restart the service): answers again.
start_daemon "$TMP/daemon2.log"
status=$(req GET "/2026/07/04/nothing-cached/comments.json")
expect "c2: daemon back: answer again" 200 "$status"

# --- f. images through the daemon, cached by nginx ------------------------------------
stop "$DAEMON_PID"
mkdir -p "$TMP/images"
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89' >"$TMP/images/a.png"
head -c 4096 /dev/zero >>"$TMP/images/a.png"
IMAGES_PORT=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$TMP/images" "$IMAGES_PORT" >"$TMP/images.log" 2>&1 &
IMAGES_PID=$!
wait_until 10 "curl -sf -o /dev/null http://127.0.0.1:$IMAGES_PORT/a.png" \
    || { bad "f: image host did not come up on 127.0.0.1:$IMAGES_PORT"; exit 1; }
image_gets() { grep -c '"GET /a.png' "$TMP/images.log" || true; }
images_served() { grep -c ' image status=200 ' "$TMP/daemon-media.log" || true; }
cat >"$TMP/config-media.json" <<EOF
{"url": "http://127.0.0.1:$IMAGES_PORT", "blog_url": "https://blog.example.org", "proxy_media": true}
EOF
start_daemon "$TMP/daemon-media.log" "$TMP/config-media.json"
# The first request starts the daemon, which makes its key.
status=$(req GET "/comments-media/i.forged.aHR0cDovL3g")
if [ "$status" = 404 ] && [ "$(header Content-Type)" = "text/plain; charset=utf-8" ] \
    && [ "$(header X-Content-Type-Options)" = nosniff ]; then
    ok "f: a forged image path: the daemon's 404"
else
    bad "f: a forged image path: $status, Content-Type '$(header Content-Type)'"
fi
wait_until 5 "[ -s '$TMP/state/media.key' ]" || { bad "f: no media.key in the state directory"; exit 1; }
# An image path as the daemon writes it into an answer: kind "i" (avatar or
# emoji), an HMAC-SHA256 of the URL under the key, the URL (both base64url).
# Paths nginx and browsers cache depend on this format staying as it is.
IMAGE_PATH=$(python3 -c '
import base64, hashlib, hmac, sys
key = open(sys.argv[1], "rb").read()
url = sys.argv[2].encode()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
mac = hmac.new(key, b"mastodon-comments media v1\0" + b"i" + url, hashlib.sha256).digest()
print("/comments-media/i." + b64(mac) + "." + b64(url))
' "$TMP/state/media.key" "http://127.0.0.1:$IMAGES_PORT/a.png")
gets_before=$(image_gets)
status=$(req GET "$IMAGE_PATH")
if [ "$status" = 200 ] && cmp -s "$TMP/b" "$TMP/images/a.png" && [ "$(header Content-Type)" = image/png ] \
    && [ "$(header X-Content-Type-Options)" = nosniff ] && [ "$(header X-Cache-Status)" = MISS ] \
    && [ "$(header Cache-Control)" = "public, max-age=604800, immutable" ]; then
    ok "f: an image through nginx and the daemon: 200, the PNG, image/png, nosniff, a week immutable, MISS"
else
    bad "f: first image fetch: $status, Content-Type '$(header Content-Type)', X-Cache-Status '$(header X-Cache-Status)', Cache-Control '$(header Cache-Control)', $(wc -c <"$TMP/b") bytes"
fi
expect "f: the image host was asked once" "$((gets_before + 1))" "$(image_gets)"
expect "f: the daemon served one image" 1 "$(images_served)"
status=$(req GET "$IMAGE_PATH")
if [ "$status" = 200 ] && cmp -s "$TMP/b" "$TMP/images/a.png" && [ "$(header X-Cache-Status)" = HIT ]; then
    ok "f: the second fetch is a HIT with the same bytes"
else
    bad "f: second image fetch: $status, X-Cache-Status '$(header X-Cache-Status)'"
fi
expect "f: the HIT reached neither the daemon (its image lines)" 1 "$(images_served)"
expect "f: nor the image host" "$((gets_before + 1))" "$(image_gets)"

[ "$FAIL" -eq 0 ]
