#!/usr/bin/env bash
# End-to-end test through a real Apache 2.4 using the example configuration
# as is.
#
#   reader (curl) -> Apache (examples/apache/mastodon-comments.conf in the
#                    blog's <VirtualHost>; mod_proxy_fcgi, mod_cache_disk)
#                 -> FastCGI over a unix socket -> mastodon-comments
#                    (socket-activated by systemd-socket-activate)
#                 -> stand-in Mastodon (plain HTTP on loopback, fixture
#                    scenario a-simple-thread)
#
# Apache runs in the foreground from the binary (never the distribution's
# service or its /etc/apache2 state) with a generated configuration that
# loads the modules as `a2enmod proxy_fcgi cache_disk` does (Debian's own
# .load and .conf files), its workers as www-data (User), listening on a
# free loopback port. The example names /run/mastodon-comments.sock, and
# Debian's cache_disk.conf /var/cache/apache2/mod_cache_disk; Apache runs in
# a private mount namespace where /run and /var/cache are directories of
# the test's (lib.sh: in_private_mounts), or, without unshare, with copies
# whose paths are rewritten (said so).
#
# Checks:
#  p. socket permissions: with the socket owned by root (mode 0600) Apache's
#     user cannot connect: Apache answers 503, logs "Permission denied", the
#     daemon sees nothing; owned by www-data, as mastodon-comments.socket
#     makes it, the next request is answered;
#  a. the image path (proxy_media) reaches the daemon (lib.sh:
#     expect_media_routed); the answers through Apache are the daemon's own (status, Content-Type,
#     Cache-Control, body bytes as a FastCGI request with nginx's params
#     gets straight from the socket) for an announced article, one not
#     announced, ?search=, a percent-encoded path, and the 400, 404 and 405
#     answers; a control character in the path is refused by Apache itself
#     (403) and a page of the blog that is not comments.json never reaches
#     the daemon;
#  b. the second request is a cache HIT: it reaches neither Mastodon (the
#     stand-in's call count) nor the daemon (its request log lines do not
#     change); a HEAD does not leave an empty body for a later GET;
#  d. the 503 while Mastodon fails is passed on (JSON, Retry-After) and not
#     cached: the same URI answers 200 once Mastodon is back;
#  c. stale-on-error (CacheStaleOnError), with the daemon restarted with
#     max_age_seconds=2 and no cache of its own (cache_fresh_seconds=0,
#     cache_keep_seconds=0):
#     c1. Mastodon failing: an expired entry is revalidated with the daemon,
#         which answers 503 (in its log before the reader has the answer),
#         and the reader gets the cached body, 200, "Warning: 111";
#     c2. the daemon down: Apache cannot connect (logged) and serves the
#         expired entry the same way; a fresh entry is a HIT; with nothing
#         cached the reader gets Apache's 503; the daemon back on its
#         socket answers again at once.
#
# Needs: root (Apache's User, unshare), apache2, curl, python3,
# systemd-socket-activate, the built binary (MC_BIN, default
# target/debug/mastodon-comments). Takes about 10 seconds.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MC_BIN=${MC_BIN:-$ROOT/target/debug/mastodon-comments}
case $MC_BIN in /*) ;; *) MC_BIN=$ROOT/$MC_BIN ;; esac
EXAMPLE=$ROOT/examples/apache/mastodon-comments.conf
MODS=/etc/apache2/mods-available

. "$ROOT/tests/e2e/lib.sh"

APACHE_PID=
stop_server() { stop_alone "$APACHE_PID"; }   # Apache stops its own children
begin_web_suite apache "Apache's User and unshare" apache2

# --- the daemon, socket-activated on the path Apache will see as /run/... -----
mkdir -p "$TMP/run" "$TMP/cache/apache2/mod_cache_disk" "$TMP/log" "$TMP/state" "$TMP/docroot$ARTICLE"
write_config "$TMP/config.json" '"proxy_media": true'   # the image path too (expect_media_routed)
STALE_503=/2026/07/09/stale-while-503
STALE_DOWN=/2026/07/09/stale-while-down
write_config "$TMP/config-short.json" '"max_age_seconds": 2, "cache_fresh_seconds": 0, "cache_keep_seconds": 0, '"$(
    roots_member "$STALE_503" "$STALE_DOWN")"
SOCK=$TMP/run/mastodon-comments.sock
SOCKET_USER=
if id www-data >/dev/null 2>&1; then SOCKET_USER=www-data; fi
start_daemon "$TMP/daemon.log"
mkdir -p "$TMP/cache-lock"
if [ -n "$SOCKET_USER" ]; then chown "$SOCKET_USER" "$TMP/cache/apache2/mod_cache_disk" "$TMP/cache-lock"; fi
echo '<p>An article.</p>' >"$TMP/docroot$ARTICLE/index.html"

# --- Apache ---------------------------------------------------------------------
SERVER_PORT=$(free_port)
choose_example "$EXAMPLE"
if [ "$NAMESPACE" = no ]; then
    echo "      and CacheRoot set to $TMP/cache/apache2/mod_cache_disk"
    echo "CacheRoot $TMP/cache/apache2/mod_cache_disk" >>"$INCLUDE"
fi
mkdir -p "$TMP/apache"
{
    echo "ServerRoot $TMP/apache"
    echo "ServerName 127.0.0.1"
    echo "Listen 127.0.0.1:$SERVER_PORT"
    echo "PidFile $TMP/apache/apache.pid"
    echo "DefaultRuntimeDir $TMP/apache"
    echo "ErrorLog $TMP/error.log"
    echo "LogLevel warn"
    echo "LogFormat \"%h \\\"%r\\\" %>s cache=%{X-Cache}o\" mc"
    # What `a2enmod proxy_fcgi cache_disk` enables, from Debian's own files.
    for m in mpm_event authz_core proxy proxy_fcgi cache cache_disk; do
        echo "Include $MODS/$m.load"
        if [ -f "$MODS/$m.conf" ] && [ "$m" != mpm_event ]; then echo "Include $MODS/$m.conf"; fi
    done
    # mod_cache's locks, under $TMP rather than the shared /tmp/mod_cache-lock.
    echo "CacheLockPath $TMP/cache-lock"
    echo "StartServers 1"
    echo "ThreadsPerChild 8"
    echo "MaxRequestWorkers 32"
    if [ -n "$SOCKET_USER" ]; then echo "User $SOCKET_USER"; echo "Group $SOCKET_USER"; fi
    echo "<VirtualHost 127.0.0.1:$SERVER_PORT>"
    echo "    ServerName blog.example.org"
    echo "    DocumentRoot $TMP/docroot"
    echo "    <Directory $TMP/docroot>"
    echo "        Require all granted"
    echo "    </Directory>"
    echo "    CustomLog $TMP/access.log mc"
    echo "    Include $INCLUDE"
    echo "</VirtualHost>"
} >"$TMP/apache/apache2.conf"
if ! apache2 -d "$TMP/apache" -f "$TMP/apache/apache2.conf" -t >"$TMP/apache-t.out" 2>&1; then
    bad "apache2 -t refuses the configuration: $(cat "$TMP/apache-t.out")"
    exit 1
fi
run_server apache2 -d "$TMP/apache" -f "$TMP/apache/apache2.conf" -DFOREGROUND >"$TMP/apache.out" 2>&1 &
APACHE_PID=$!
expect_started Apache "the example included ($([ $NAMESPACE = yes ] && echo unchanged || echo a rewritten copy))"

# --- p. the socket permissions Apache's user needs ---------------------------------
PERM=/2026/07/05/permissions
if [ -n "$SOCKET_USER" ]; then
    chown root:root "$SOCK"
    status=$(req GET "$PERM/comments.json")
    if [ "$status" = 503 ] && [ "$(served "$TMP/daemon.log")" = 0 ] \
        && wait_until 5 "grep -q 'Permission denied.*mastodon-comments.sock' '$TMP/error.log'"; then
        ok "p: socket owned by root, mode 0600: Apache ($SOCKET_USER) cannot connect (503, Permission denied logged)"
    else
        bad "p: socket owned by root: got $status, daemon request lines $(served "$TMP/daemon.log"), error log: $(tail -n 2 "$TMP/error.log")"
    fi
    chown "$SOCKET_USER:$SOCKET_USER" "$SOCK"
    status=$(req GET "$PERM/comments.json")
    expect "p: socket owned by $SOCKET_USER (as mastodon-comments.socket makes it): answered" 200 "$status"
else
    echo "NOTE: no www-data user: Apache runs as root, socket permissions not checked"
fi

# --- a. the answers through Apache are the daemon's own -----------------------------
expect_daemon_answers
expect "a: the article's first request: X-Cache MISS" MISS "$(header X-Cache "$TMP/first.h" | cut -d' ' -f1)"
# A control character in the path: mod_proxy_fcgi refuses it itself (403,
# AH10414), the daemon never sees it (it would answer 400).
before=$(served "$TMP/daemon.log")
status=$(req GET "/%01bad/comments.json")
expect "a: a control character in the path: Apache's own 403, the daemon never asked" "403 $before" \
    "$status $(served "$TMP/daemon.log")"
expect_page_not_passed "$ARTICLE/index.html"
expect_media_routed

# --- b. the second request is served by Apache's cache ------------------------------
before=$(calls)
served_before=$(served "$TMP/daemon.log")
status=$(req GET "$ARTICLE/comments.json")
after=$(calls)
served_after=$(served "$TMP/daemon.log")
expect "b: second request: 200, X-Cache HIT" "200 HIT" "$status $(header X-Cache | cut -d' ' -f1)"
if cmp -s "$TMP/b" "$TMP/first.body"; then ok "b: cached body identical"; else bad "b: cached body differs"; fi
expect "b: Mastodon calls during the cached request (total $before before)" "$before" "$after"
expect "b: the daemon's request lines during the cached request (did not reach it)" "$served_before" "$served_after"
req HEAD "$ARTICLE/comments.json" --head >/dev/null
status=$(req GET "$ARTICLE/comments.json")
if [ "$status" = 200 ] && cmp -s "$TMP/b" "$TMP/first.body"; then ok "b: GET after HEAD still gets the full body"; else bad "b: GET after HEAD: $status, $(wc -c <"$TMP/b") bytes"; fi

# --- d. a 503 is passed on and not cached --------------------------------------------
mode error
expect_503_passed_on
mode ok
status=$(req GET "$NEVER_SEEN")
expect "d: the 503 was not cached (200 MISS after recovery)" "200 MISS" "$status $(header X-Cache | cut -d' ' -f1)"

# --- c. stale-on-error: Mastodon failing (503), the daemon down ---------------------
stop "$DAEMON_PID"
SHORT_LOG=$TMP/daemon-short.log
start_daemon "$SHORT_LOG" "$TMP/config-short.json"
for p in "$STALE_503" "$STALE_DOWN"; do
    status=$(req GET "$p/comments.json")
    cp "$TMP/b" "$TMP/$(basename "$p").body"
    expect "c: $p cached through Apache (status, X-Cache, Cache-Control, comments)" "200 MISS max-age=2 5" \
        "$status $(header X-Cache | cut -d' ' -f1) $(header Cache-Control) $(json 'len(j["comments"])')"
done
expired_at=$(($(date +%s) + 3))
mode error
for _ in $(seq 1 40); do [ "$(date +%s)" -ge "$expired_at" ] && break; sleep 0.1; done
same_body() { cmp -s "$TMP/b" "$TMP/$(basename "$1").body"; }   # path

# c1. Mastodon failing: Apache revalidates with the daemon, which answers
# 503, and serves the expired copy.
status=$(req GET "$STALE_503/comments.json")
seen=$(served "$SHORT_LOG" "$STALE_503" 503)   # read as soon as the reader has the answer
if [ "$status" = 200 ] && same_body "$STALE_503" && [[ $(header Warning) == 111* ]]; then
    ok "c1: Mastodon failing, expired entry: the cached body (200, Warning: $(header Warning))"
else
    bad "c1: Mastodon failing, expired entry: got $status, Warning='$(header Warning)', X-Cache='$(header X-Cache)', $(wc -c <"$TMP/b") bytes"
fi
expect "c1: the daemon had answered Apache's revalidation with 503 before Apache answered" 1 "$seen"
mode ok

# c2. The daemon down: Apache cannot connect and serves the expired copy.
stop "$DAEMON_PID"
DAEMON_PID=
status=$(req GET "$STALE_DOWN/comments.json")
if [ "$status" = 200 ] && same_body "$STALE_DOWN" && [[ $(header Warning) == 111* ]]; then
    ok "c2: daemon down, expired entry: the cached body (200, Warning: $(header Warning))"
else
    bad "c2: daemon down, expired entry: got $status, Warning='$(header Warning)', X-Cache='$(header X-Cache)'"
fi
if grep -q 'mastodon-comments.sock.*failed' "$TMP/error.log"; then
    ok "c2: Apache's failed connection to the daemon is logged"
else
    bad "c2: no failed connection to the socket in Apache's error log"
fi
status=$(req GET "$ARTICLE/comments.json")
expect "c2: daemon down, fresh entry: HIT" "200 HIT" "$status $(header X-Cache | cut -d' ' -f1)"
status=$(req GET /2026/07/04/nothing-cached/comments.json)
expect "c2: daemon down, nothing cached: Apache's 503" 503 "$status"
start_daemon "$TMP/daemon2.log"
status=$(req GET /2026/07/04/nothing-cached/comments.json)
expect "c2: daemon back: answered at once" 200 "$status"

[ "$FAIL" -eq 0 ]
