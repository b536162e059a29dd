#!/usr/bin/env bash
# End-to-end test through a real Caddy using the example configuration as is.
#
#   reader (curl) -> Caddy (examples/caddy/mastodon-comments.caddyfile
#                    imported in the blog's site block; reverse_proxy with
#                    the FastCGI transport)
#                 -> FastCGI over a unix socket -> mastodon-comments
#                    (socket-activated by systemd-socket-activate)
#                 -> stand-in Mastodon (plain HTTP on loopback, fixture
#                    scenario a-simple-thread)
#
# Caddy runs in the foreground from the binary (`caddy run`, never the
# distribution's service or its /etc/caddy and /var/lib/caddy state), as the
# caddy user (setpriv, with that user's groups, as the caddy service runs),
# with a generated Caddyfile: no admin endpoint, no automatic HTTPS, a free
# loopback port, its data and config directories in the test's temporary
# directory. The example names /run/mastodon-comments.sock; Caddy runs in a
# private mount namespace where /run is a directory of the test's (lib.sh:
# in_private_mounts), or, without unshare, with a copy whose socket path is
# rewritten (said so).
#
# Caddy (Debian's build) has no cache: the daemon's own answer cache stands
# in for it, which is what b and c check.
#
# Checks:
#  p. socket permissions: the socket as mastodon-comments.socket makes it
#     without the README's drop-in (www-data, mode 0600) is closed to Caddy's
#     user although Debian puts caddy in the www-data group: Caddy answers
#     502 and logs "permission denied", the daemon sees nothing; with the
#     drop-in (SocketUser=caddy) the answers come;
#  a. the image path (proxy_media) reaches the daemon (lib.sh:
#     expect_media_routed); the answers through Caddy are the daemon's own (status, Content-Type,
#     Cache-Control, body bytes as a FastCGI request with nginx's params
#     gets straight from the socket) for an announced article, one not
#     announced, ?search=, a percent-encoded path, and the 400 (control
#     character, not UTF-8, bad ?search=), 404 and 405 answers; a page of the
#     blog that is not comments.json is Caddy's file and never reaches the
#     daemon;
#  b. the second request reaches the daemon (no cache in Caddy) and is
#     answered from the daemon's own cache (its log says source=Cache)
#     without a call to Mastodon, the same bytes;
#  c. with the daemon's cache_fresh_seconds=0 (every request asks
#     Mastodon) and Mastodon failing, the reader gets the daemon's last good
#     answer through Caddy: 200, "stale": true, X-Comments-Stale: 1,
#     max-age=30; the daemon down: Caddy's 502; back: answers again.
#
# Needs: root (setpriv, unshare), caddy, curl, python3,
# systemd-socket-activate, setpriv, the built binary (MC_BIN, default
# target/debug/mastodon-comments). Takes about 10 seconds.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MC_BIN=${MC_BIN:-$ROOT/target/debug/mastodon-comments}
case $MC_BIN in /*) ;; *) MC_BIN=$ROOT/$MC_BIN ;; esac
EXAMPLE=$ROOT/examples/caddy/mastodon-comments.caddyfile

. "$ROOT/tests/e2e/lib.sh"

CADDY_PID=
stop_server() { stop_alone "$CADDY_PID"; }
begin_web_suite caddy "setpriv and unshare" caddy setpriv

# --- the daemon, socket-activated on the path Caddy will see as /run/... ------
mkdir -p "$TMP/run" "$TMP/state" "$TMP/docroot$ARTICLE" "$TMP/caddy"
write_config "$TMP/config.json" '"proxy_media": true'   # the image path too (expect_media_routed)
STALE=/2026/07/09/stale-while-failing
write_config "$TMP/config-stale.json" '"cache_fresh_seconds": 0, '"$(roots_member "$STALE")"
SOCK=$TMP/run/mastodon-comments.sock
# The README's drop-in for mastodon-comments.socket: SocketUser=caddy.
SOCKET_USER=
RUN_AS=()
if id caddy >/dev/null 2>&1; then
    SOCKET_USER=caddy
    RUN_AS=(setpriv --reuid=caddy --regid=caddy --init-groups)
    chown caddy:caddy "$TMP/caddy"
fi
start_daemon "$TMP/daemon.log"
echo '<p>An article.</p>' >"$TMP/docroot$ARTICLE/index.html"

# Lines of the daemon's request log for a path answered 200 from a source.
answered_from() { # log file, path, source (Cache, Stale, Upstream, ...)
    grep -cE "request path=\"$2\" status=200 ms=[0-9]+ source=$3 " "$1" || true
}

# --- Caddy ----------------------------------------------------------------------
SERVER_PORT=$(free_port)
choose_example "$EXAMPLE"
cat >"$TMP/Caddyfile" <<EOF
{
	admin off
	auto_https off
}
http://blog.example.org:$SERVER_PORT {
	bind 127.0.0.1
	import $INCLUDE
	root * $TMP/docroot
	file_server
}
EOF
CADDY_ENV=(env HOME="$TMP/caddy" XDG_DATA_HOME="$TMP/caddy" XDG_CONFIG_HOME="$TMP/caddy")
if ! "${CADDY_ENV[@]}" caddy validate --config "$TMP/Caddyfile" --adapter caddyfile >"$TMP/caddy-validate.out" 2>&1; then
    bad "caddy validate refuses the configuration: $(tail -n 3 "$TMP/caddy-validate.out")"
    exit 1
fi
run_server "${RUN_AS[@]}" "${CADDY_ENV[@]}" caddy run --config "$TMP/Caddyfile" --adapter caddyfile >"$TMP/caddy.log" 2>&1 &
CADDY_PID=$!
expect_started Caddy "the example imported ($([ $NAMESPACE = yes ] && echo unchanged || echo a rewritten copy)), as ${SOCKET_USER:-root}"

# --- p. the socket permissions Caddy's user needs ----------------------------------
PERM=/2026/07/05/permissions
if [ -n "$SOCKET_USER" ] && id www-data >/dev/null 2>&1; then
    chown www-data:www-data "$SOCK"
    status=$(req GET "$PERM/comments.json")
    if [ "$status" = 502 ] && [ "$(served "$TMP/daemon.log")" = 0 ] \
        && wait_until 5 "grep -q 'mastodon-comments.sock: connect: permission denied' '$TMP/caddy.log'"; then
        ok "p: socket as the unit makes it without the drop-in (www-data, 0600): Caddy (caddy) cannot connect (502, permission denied logged)"
    else
        bad "p: socket owned by www-data: got $status, daemon request lines $(served "$TMP/daemon.log"), Caddy's log: $(tail -n 1 "$TMP/caddy.log" | head -c 300)"
    fi
    chown caddy:caddy "$SOCK"
    status=$(req GET "$PERM/comments.json")
    expect "p: socket owned by caddy (SocketUser=caddy): answered" 200 "$status"
else
    echo "NOTE: no caddy or www-data user: socket permissions not checked"
fi

# --- a. the answers through Caddy are the daemon's own ------------------------------
expect_daemon_answers
expect_same_answer "a: 400" GET "/%01bad/comments.json"
expect_error "a: 400 for a control character" 400 "$STATUS"
expect_page_not_passed "$ARTICLE/"
expect_media_routed

# --- b. no cache in Caddy: the daemon's own cache answers ---------------------------
before=$(calls)
cached_before=$(answered_from "$TMP/daemon.log" "$ARTICLE" Cache)
served_before=$(served "$TMP/daemon.log" "$ARTICLE")
status=$(req GET "$ARTICLE/comments.json")
after=$(calls)
expect "b: second request: 200" 200 "$status"
if cmp -s "$TMP/b" "$TMP/first.body"; then ok "b: the same body"; else bad "b: the body differs"; fi
expect "b: it reached the daemon (one more request line for the article)" $((served_before + 1)) \
    "$(served "$TMP/daemon.log" "$ARTICLE")"
if [ "$(answered_from "$TMP/daemon.log" "$ARTICLE" Cache)" -gt "$cached_before" ]; then
    ok "b: the daemon answered it from its own cache (source=Cache)"
else
    bad "b: no new source=Cache line for $ARTICLE in the daemon's log: $(grep -F "path=\"$ARTICLE\"" "$TMP/daemon.log" | tail -n 1)"
fi
expect "b: no call to Mastodon for it" "$before" "$after"

# --- c. the daemon's stale answer through Caddy; the daemon down --------------------
stop "$DAEMON_PID"
start_daemon "$TMP/daemon-stale.log" "$TMP/config-stale.json"
status=$(req GET "$STALE/comments.json")
cp "$TMP/b" "$TMP/stale-first.body"
expect "c: $STALE through Caddy: 200, 5 comments, not stale" "200 5 False" \
    "$status $(json 'len(j["comments"])') $(json 'j["stale"]')"
mode error
expect_same_answer "c: Mastodon failing" GET "$STALE/comments.json"
expect "c: Mastodon failing: the daemon's last good answer (status, comments, stale, X-Comments-Stale, Cache-Control)" \
    "200 5 True 1 max-age=30" \
    "$STATUS $(json 'len(j["comments"])') $(json 'j["stale"]') $(header X-Comments-Stale) $(header Cache-Control)"
expect "c: the daemon's log: both (through Caddy, straight) answered with its last good answer (source=Stale)" 2 "$(answered_from "$TMP/daemon-stale.log" "$STALE" Stale)"
mode ok
stop "$DAEMON_PID"
DAEMON_PID=
status=$(req GET "$ARTICLE/comments.json")
expect "c: the daemon down: Caddy's 502 (no cache of its own)" 502 "$status"
start_daemon "$TMP/daemon2.log"
status=$(req GET "$ARTICLE/comments.json")
expect "c: the daemon back: answered again" 200 "$status"

[ "$FAIL" -eq 0 ]
