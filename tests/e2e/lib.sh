# Helpers shared by the end-to-end scripts (sourced, not run): check
# counting, required tools, bounded waits, stopping processes.
# shellcheck shell=bash

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   - $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }

# Exits (counting one failure) unless every named program is installed.
require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; echo "0 passed, 1 failed"; exit 1; }
    done
}

require_binary() {
    [ -x "$MC_BIN" ] || { echo "binary not found: $MC_BIN (cargo build first, or set MC_BIN)" >&2; echo "0 passed, 1 failed"; exit 1; }
}

stop() { # pid [signal]: its children first (a daemon under strace), each waited for 15 s at most
    local pid=$1 sig=${2:-TERM} child
    [ -n "$pid" ] || return 0
    for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do stop_alone "$child" "$sig"; done
    stop_alone "$pid" "$sig"
}
stop_alone() { # pid [signal]: that process only (one that stops its own children), waited for 15 s at most
    local pid=$1 sig=${2:-TERM}
    [ -n "$pid" ] || return 0
    kill -"$sig" "$pid" 2>/dev/null || return 0
    timeout 15 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_until() { # seconds, command...
    local t=$1
    shift
    timeout "$t" bash -c "until $*; do sleep 0.05; done"
}

# The end of every log and output file in $TMP (and of the files named),
# for a failed run.
dump_logs() { # [file...]
    local f lines=${DUMP_LINES:-40}
    for f in "$TMP"/*.log "$TMP"/*.out "$@"; do
        [ -s "$f" ] || continue
        echo "----- $f (last $lines lines)"
        tail -n "$lines" "$f"
    done
}

# The usual EXIT trap: stops the processes in PIDS (last started first);
# on a failure prints the logs in $TMP; removes $TMP; prints the tally.
cleanup_pids() {
    local rc=$? i
    set +e
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop "${PIDS[i]}"; done
    if [ "$rc" -ne 0 ] && [ "$FAIL" -eq 0 ]; then FAIL=1; fi
    if [ "$FAIL" -gt 0 ]; then
        rc=1
        dump_logs
    fi
    rm -rf "$TMP"
    echo "$PASS passed, $FAIL failed"
    exit "$rc"
}

# --- The web server suites (nginx.sh, caddy.sh, apache.sh) ----------------------
#
#   reader (curl) -> the web server with the shipped example
#                 -> FastCGI on $SOCK -> mastodon-comments (socket-activated
#                    by systemd-socket-activate)
#                 -> stand-in Mastodon (plain HTTP on loopback)
#
# A suite sets ROOT, MC_BIN and TMP, then SOCK (the daemon's socket),
# SOCKET_USER (the web server's user, who owns the socket as the socket unit
# makes it; empty: root) and SERVER_PORT (where req sends), and defines
# stop_server (stops the web server; called on exit).

# The start of a web server suite: the programs it needs, root, $TMP (0755:
# the web server's user reaches the socket below it), the exit trap
# (cleanup_servers), and the stand-in serving a-simple-thread, where
# ARTICLE is announced by ROOT_ID with 5 replies.
begin_web_suite() { # name, why root is needed, programs...
    local name=$1 why=$2
    shift 2
    ARTICLE=/2026/07/01/slow-bread
    ROOT_ID=116843781319371281
    NEVER_SEEN=/2026/07/03/never-seen/comments.json
    require_tools curl python3 systemd-socket-activate timeout "$@"
    require_binary
    [ "$(id -u)" = 0 ] || { echo "run as root ($why)" >&2; echo "0 passed, 1 failed"; exit 1; }
    TMP=$(mktemp -d "/tmp/mc-e2e-$name.XXXXXX")
    chmod 0755 "$TMP"
    STANDIN_PID=
    DAEMON_PID=
    trap cleanup_servers EXIT
    trap 'exit 130' INT TERM
    start_standin "$ROOT/tests/fixtures/mastodon/a-simple-thread"
}

start_standin() { # scenario dir -> STANDIN_PORT, STANDIN_PID; its log in $TMP/stand-in.log
    STANDIN_PORT=$(free_port)
    "$MC_BIN" stand-in --fixtures "$1" --listen "127.0.0.1:$STANDIN_PORT" >"$TMP/stand-in.log" 2>&1 &
    STANDIN_PID=$!
    wait_until 15 "curl -sf -o /dev/null http://127.0.0.1:$STANDIN_PORT/__stand-in/calls" \
        || { bad "stand-in did not come up on 127.0.0.1:$STANDIN_PORT"; exit 1; }
}
# The daemon's config: the stand-in as the instance, with a token (the
# stand-in takes any), articles under /20xx/ only.
write_config() { # file [more members, e.g. '"max_age_seconds": 2']
    printf '{"url": "http://127.0.0.1:%s", "token": "e2e-token", "userid": "109308551561216011",\n "blog_url": "https://blog.example.org", "path_pattern": "^/20[0-9]{2}/"%s}\n' \
        "$STANDIN_PORT" "${2:+, $2}" >"$1"
}
roots_member() { # article path... -> the config member naming $ROOT_ID as the root of each
    local p out=
    for p in "$@"; do out+="${out:+, }\"$p\": \"$ROOT_ID\""; done
    printf '"roots": {%s}' "$out"
}
calls() { curl -sS --max-time 5 "http://127.0.0.1:$STANDIN_PORT/__stand-in/calls" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])'; }
mode() { curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$STANDIN_PORT/__stand-in/mode?set=$1"; }

start_daemon() { # log file [config, default $TMP/config.json] -> DAEMON_PID
    rm -f "$SOCK"
    systemd-socket-activate -l "$SOCK" -E RUST_LOG=info \
        "$MC_BIN" "${2:-$TMP/config.json}" "$TMP/state/state.json" >"$1" 2>&1 &
    DAEMON_PID=$!   # systemd-socket-activate execs the daemon: same pid
    wait_until 10 "[ -S '$SOCK' ]" || { bad "socket $SOCK not created"; exit 1; }
    # As mastodon-comments.socket: SocketUser= the web server's user, SocketMode=0600.
    if [ -n "$SOCKET_USER" ]; then chown "$SOCKET_USER:$SOCKET_USER" "$SOCK"; fi
    chmod 0600 "$SOCK"
}
# The daemon's request log has one line per answered request:
#   ... INFO request path="/2026/07/01/slow-bread" status=200 ms=3 source=Upstream upstream_calls=2
served() { # log file [path [status]] -> number of such lines
    local pat=' request path='
    if [ -n "${2:-}" ]; then pat="$pat\"$2\""; fi
    if [ -n "${3:-}" ]; then pat="$pat status=$3 "; fi
    grep -cF -- "$pat" "$1" 2>/dev/null || true
}

# Runs a command (a web server in the foreground) in a private mount
# namespace where /run and /var/cache are $TMP/run and $TMP/cache (and
# $PRIVATE_LOG_DIR, if set, is $TMP/log), so the shipped examples' absolute
# paths work unchanged and the host is not touched. can_unshare says whether
# this is permitted (CAP_SYS_ADMIN); without it a suite uses copies of the
# examples with those paths rewritten, and says so.
can_unshare() { unshare -m --propagation private true 2>/dev/null; }
in_private_mounts() { # command... (replaces the calling shell: run it in the background, &, for a pid)
    mkdir -p "$TMP/run" "$TMP/cache" "$TMP/log"
    # shellcheck disable=SC2016  # expanded by the inner bash
    exec unshare -m --propagation private bash -c '
        set -e
        mount --bind "$1/run" /run
        mount --bind "$1/cache" /var/cache
        if [ -n "$2" ]; then
            mkdir -p "$2" 2>/dev/null || true
            mount --bind "$1/log" "$2"
        fi
        shift 2
        exec "$@"
    ' _ "$TMP" "${PRIVATE_LOG_DIR:-}" "$@"
}

# The example a suite includes: the file itself when the web server can run
# in private mounts, else a copy in $TMP with the socket path rewritten (and
# said so; the suite rewrites any other path). Sets INCLUDE and NAMESPACE.
choose_example() { # example file
    if can_unshare; then
        INCLUDE=$1
        NAMESPACE=yes
        return
    fi
    echo "NOTE: unshare -m is not permitted here; using a copy of $(basename "$1")"
    echo "      with the socket path rewritten to $SOCK"
    INCLUDE=$TMP/$(basename "$1")
    sed "s#/run/mastodon-comments.sock#$SOCK#g" "$1" >"$INCLUDE"
    NAMESPACE=no
}
# The nginx examples a suite includes (http.conf, location.conf): the files
# themselves when nginx can run in private mounts, else copies in $TMP with
# /run, /var/cache and /var/log/nginx rewritten to $TMP (and said so). Sets
# INCLUDE_HTTP, INCLUDE_LOCATION and NAMESPACE.
choose_nginx_examples() { # examples dir
    local f
    if can_unshare; then
        INCLUDE_HTTP=$1/http.conf
        INCLUDE_LOCATION=$1/location.conf
        NAMESPACE=yes
        return
    fi
    echo "NOTE: unshare -m is not permitted here; using copies of the example files"
    echo "      with /run, /var/cache and /var/log/nginx rewritten to $TMP"
    for f in http.conf location.conf; do
        sed -e "s#/run/mastodon-comments.sock#$SOCK#" \
            -e "s#/var/cache/nginx-mastodon-comments#$TMP/cache/nginx-mastodon-comments#" \
            -e "s#/var/log/nginx/mastodon-comments.access.log#$TMP/log/mastodon-comments.access.log#" \
            "$1/$f" >"$TMP/$f"
    done
    INCLUDE_HTTP=$TMP/http.conf
    INCLUDE_LOCATION=$TMP/location.conf
    NAMESPACE=no
}
# Runs the web server in the foreground, in private mounts when NAMESPACE
# is yes (replaces the calling shell: run it with &, for its pid).
run_server() { # command...
    if [ "$NAMESPACE" = yes ]; then in_private_mounts "$@"; else exec "$@"; fi
}
# The web server answers on $SERVER_PORT within 10 s (then ok with the
# description), or the suite ends.
expect_started() { # name, what it runs (the example as is or a rewritten copy, ...)
    if wait_until 10 "curl -s -o /dev/null -H 'Host: blog.example.org' http://127.0.0.1:$SERVER_PORT/"; then
        ok "$1 starts with $2"
    else
        bad "$1 did not start"
        exit 1
    fi
}
# A request through the web server; writes $TMP/h (headers) and $TMP/b
# (body), prints the status.
req() { # method path [curl args...]
    local method=$1 path=$2
    shift 2
    curl -sS -o "$TMP/b" -D "$TMP/h" -w '%{http_code}' --max-time 20 -X "$method" \
        -H 'Host: blog.example.org' "$@" "http://127.0.0.1:${PORT:-$SERVER_PORT}$path" || echo 000
}
# The same request straight to the daemon's socket, with the params nginx
# sends (tests/e2e/fcgi.py): writes $TMP/direct.h and $TMP/direct.b, prints
# the status.
direct() { # method uri
    rm -f "$TMP/direct.h" "$TMP/direct.b"
    timeout 20 python3 "$ROOT/tests/e2e/fcgi.py" --timeout 15 --print status \
        --headers-out "$TMP/direct.h" --body-out "$TMP/direct.b" "$SOCK" "$1" "$2" | cut -d' ' -f1
}
header() { # name [file, default $TMP/h] -> value of the header (the last one)
    tr -d '\r' <"${2:-$TMP/h}" | awk -v n="$(echo "$1" | tr '[:upper:]' '[:lower:]')" -F': ' \
        'tolower($1) == n { sub(/^[^:]*: /, ""); v = $0 } END { print v }'
}
json() { # python expression on j (the parsed body of the last response)
    python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$TMP/b" "$1" 2>/dev/null || echo '<not json>'
}

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
# The answer through the web server is the daemon's own answer to the
# params nginx sends: the same status, Content-Type, Cache-Control,
# X-Comments-Stale, Allow and body bytes (the daemon's cache makes the second
# of the two the same answer). Prints what differs; the status of the
# answer through the server is in $STATUS.
expect_same_answer() { # description method uri [curl args...]
    local desc=$1 method=$2 uri=$3 theirs name diffs=
    shift 3
    STATUS=$(req "$method" "$uri" "$@")
    theirs=$(direct "$method" "$uri")
    [ "$STATUS" = "$theirs" ] || diffs+=" status $STATUS, straight $theirs;"
    for name in Content-Type Cache-Control X-Comments-Stale Allow; do
        [ "$(header "$name")" = "$(header "$name" "$TMP/direct.h" 2>/dev/null)" ] \
            || diffs+=" $name '$(header "$name")', straight '$(header "$name" "$TMP/direct.h" 2>/dev/null)';"
    done
    cmp -s "$TMP/b" "$TMP/direct.b" || diffs+=" body $(wc -c <"$TMP/b") bytes, straight $(wc -c <"$TMP/direct.b" 2>/dev/null || echo no) bytes;"
    if [ -z "$diffs" ]; then
        ok "$desc: $method $uri: $STATUS, $(header Cache-Control), the daemon's own answer"
    else
        bad "$desc: $method $uri through the server differs from straight from the daemon:$diffs"
    fi
}

# Check a: the answers through the web server are the daemon's own for
# every kind of answer: an article not announced, the article (its body and
# headers kept in $TMP/first.body and $TMP/first.h), ?search=, a
# percent-encoded path, a bad ?search= and a path that is not UTF-8 (400),
# outside path_pattern (404), a POST (405).
expect_daemon_answers() {
    expect_same_answer "a: unannounced post" GET /2026/07/02/not-announced-yet/comments.json
    expect "a: unannounced post: comments null, max-age=60" "None max-age=60" "$(json 'j["comments"]') $(header Cache-Control)"
    expect_same_answer "a: the article" GET "$ARTICLE/comments.json"
    cp "$TMP/b" "$TMP/first.body"
    cp "$TMP/h" "$TMP/first.h"
    expect "a: the article: 200, 5 comments, max-age=600" "200 5 max-age=600" \
        "$STATUS $(json 'len(j["comments"])') $(header Cache-Control)"
    expect_same_answer "a: ?search=" GET "/2026/07/01/other/comments.json?search=$ARTICLE/"
    expect "a: ?search= names the article: 5 comments" 5 "$(json 'len(j["comments"])')"
    expect_same_answer "a: percent-encoded path" GET "/2026/07/01/slow%2Dbread/comments.json"
    expect "a: percent-encoded path is the article: 5 comments" 5 "$(json 'len(j["comments"])')"
    expect_same_answer "a: 400" GET "/2026/07/01/x/comments.json?search=notapath"
    expect_error "a: 400 for ?search=notapath" 400 "$STATUS"
    expect_same_answer "a: 400" GET "/%ff/comments.json"
    expect_error "a: 400 for a path that is not UTF-8" 400 "$STATUS"
    expect_same_answer "a: 404" GET /about/comments.json
    expect_error "a: 404 outside path_pattern" 404 "$STATUS"
    expect_same_answer "a: 405" POST "$ARTICLE/comments.json"
    expect_error "a: 405 for POST" 405 "$STATUS"
}
# Check d, with Mastodon failing (mode error): the daemon's 503 for a post
# it has never seen reaches the reader as it is (JSON, no-store,
# Retry-After).
expect_503_passed_on() {
    local status ra
    status=$(req GET "$NEVER_SEEN")
    expect_error "d: 503 when Mastodon fails for a never-seen post" 503 "$status"
    ra=$(header Retry-After)
    if [[ $ra =~ ^[0-9]+$ ]]; then ok "d: 503 carries Retry-After: $ra"; else bad "d: 503 without a numeric Retry-After ('$ra')"; fi
}
# A page of the blog (a file holding "An article") is the web server's own:
# the daemon is not asked.
expect_page_not_passed() { # path
    local before status
    before=$(served "$TMP/daemon.log")
    status=$(req GET "$1")
    if [ "$status" = 200 ] && grep -q 'An article' "$TMP/b" && [ "$(served "$TMP/daemon.log")" = "$before" ]; then
        ok "a: the article page $1 is the web server's file, the daemon never asked"
    else
        bad "a: the article page $1: $status, daemon request lines $before -> $(served "$TMP/daemon.log")"
    fi
}

# The image path ("proxy_media", default media_prefix) reaches the daemon:
# a forged image path is the daemon's own 404 (text/plain, nosniff), not
# the web server's, and the daemon logs it.
expect_media_routed() {
    local before status
    before=$(grep -c ' image status=404 ' "$TMP/daemon.log" || true)
    status=$(req GET "/comments-media/i.forged.aHR0cDovL3g")
    if [ "$status" = 404 ] && [ "$(header Content-Type)" = "text/plain; charset=utf-8" ] \
        && [ "$(header X-Content-Type-Options)" = nosniff ] \
        && [ "$(grep -c ' image status=404 ' "$TMP/daemon.log" || true)" -gt "$before" ]; then
        ok "a: the image path reaches the daemon (a forged one: its 404)"
    else
        bad "a: the image path: $status, Content-Type '$(header Content-Type)', not the daemon's 404"
    fi
}

# The usual EXIT trap of a web server suite: stops the web server, the
# daemon and the stand-in; on a failure prints the logs in $TMP and
# $TMP/log; removes $TMP; prints the tally.
cleanup_servers() {
    local rc=$?
    set +e
    stop_server
    stop "$DAEMON_PID"
    stop "$STANDIN_PID"
    if [ "$rc" -ne 0 ] && [ "$FAIL" -eq 0 ]; then FAIL=1; fi
    if [ "$FAIL" -gt 0 ]; then DUMP_LINES=60 dump_logs "$TMP"/log/*.log; rc=1; fi
    rm -rf "$TMP"
    echo "$PASS passed, $FAIL failed"
    exit "$rc"
}

# The Debian package as `cargo deb` builds it from the source tree, into
# $TMP; MC_DEB names one built already. Sets DEB.
build_deb() {
    if [ -n "${MC_DEB:-}" ]; then
        DEB=$MC_DEB
        return
    fi
    command -v cargo-deb >/dev/null || { bad "cargo-deb is not installed (scripts/deps: cargo install cargo-deb --locked)"; exit 1; }
    local started=$SECONDS
    if (cd "$ROOT" && timeout 1200 cargo deb --locked -o "$TMP/" >"$TMP/cargo-deb.log" 2>&1); then
        DEB=$(ls "$TMP"/*.deb)
        ok "cargo deb built $(basename "$DEB") ($((SECONDS - started)) s)"
    else
        bad "cargo deb: $(tail -n 5 "$TMP/cargo-deb.log")"
        exit 1
    fi
}

# --- Debian 12 root file systems (package.sh, systemd-boot.sh) -------------------
#
# Made once with debootstrap (the network is needed then) and cached under
# target/package-test/; a suite works on a copy or an overlay of one, never
# on the cached tree. A lock keeps two suites from making the same one.

# The Debian 12 minbase with the package's dependencies (ca-certificates,
# procps): sets MINBASE, made when missing or made with other packages
# (.complete names them), with an ok line saying how long it took.
debian_minbase() { # cache dir
    local cache=$1 started lock include=ca-certificates,procps
    MINBASE=$cache/bookworm-minbase
    [ "$(cat "$MINBASE/.complete" 2>/dev/null)" = "$include" ] && return 0
    mkdir -p "$cache"
    exec {lock}>"$cache/.lock"
    timeout 1200 flock "$lock" || { bad "could not lock $cache/.lock"; exit 1; }
    if [ "$(cat "$MINBASE/.complete" 2>/dev/null)" != "$include" ]; then
        rm -rf "$MINBASE" "$MINBASE.tmp"
        started=$SECONDS
        echo "# debootstrap --variant=minbase --include=$include bookworm (once, cached in $MINBASE)"
        if timeout 900 debootstrap --variant=minbase --include="$include" bookworm "$MINBASE.tmp" \
            "${MC_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$TMP/debootstrap.log" 2>&1; then
            echo "$include" >"$MINBASE.tmp/.complete"
            mv "$MINBASE.tmp" "$MINBASE"
            ok "debootstrap: Debian 12 minbase made in $((SECONDS - started)) s"
        else
            bad "debootstrap failed (network? MC_DEBIAN_MIRROR=...): $(tail -n 3 "$TMP/debootstrap.log")"
            rm -rf "$MINBASE.tmp"
            exit 1
        fi
    fi
    exec {lock}>&-
}
