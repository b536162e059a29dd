#!/usr/bin/env bash
# Socket activation, readiness notification and idle exit of the daemon,
# outside systemd (systemd-socket-activate and a small supervisor that does
# what systemd does).
#
# Checks:
#  1. socket-activated on a unix socket: answers FastCGI (5 comments);
#     STATE defaults to $STATE_DIRECTORY/state.json, the token comes from
#     $CREDENTIALS_DIRECTORY/token;
#  2. socket-activated on a TCP loopback port: answers FastCGI;
#  3. sd_notify: READY=1, STATUS=, WATCHDOG=1 at half WATCHDOG_USEC,
#     STOPPING=1 on SIGTERM, then exit status 0. The STATUS= text, exactly:
#     "2 requests, 1 cache hits, 0 stale, N upstream calls, 0 upstream
#     errors" after a fetched answer and a cached one (N: the stand-in's
#     count of calls), then after a request while Mastodon answers 500:
#     "3 requests, 1 cache hits, 0 stale, N upstream calls, E upstream
#     errors, last upstream error: the instance answered HTTP 500" (E: the
#     calls the stand-in got meanwhile, at least one);
#  4. zero sockets (no LISTEN_FDS, no --listen) and two sockets: refuses to
#     start, non-zero exit, a message naming the problem;
#  5. --exit-idle-after 2s under a supervisor that keeps the listening socket
#     and starts the daemon again on the next connection, as systemd does:
#     the daemon exits 0 when idle, and none of 20 requests spaced around the
#     idle time is lost.
#
# Needs: python3, curl, systemd-socket-activate, the built binary (MC_BIN,
# default target/debug/mastodon-comments). Takes about 60 seconds.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MC_BIN=${MC_BIN:-$ROOT/target/debug/mastodon-comments}
case $MC_BIN in /*) ;; *) MC_BIN=$ROOT/$MC_BIN ;; esac
SCENARIO=$ROOT/tests/fixtures/mastodon/a-simple-thread
ARTICLE=/2026/07/01/slow-bread

. "$ROOT/tests/e2e/lib.sh"

require_tools curl python3 systemd-socket-activate timeout
require_binary

TMP=$(mktemp -d /tmp/mc-e2e-activation.XXXXXX)
PIDS=()

trap cleanup_pids EXIT
trap 'exit 130' INT TERM


# The shared FastCGI client (tests/e2e/fcgi.py; responder role, one request
# per connection, as nginx would send it with fastcgi_params; a unix socket
# path or HOST:PORT). Prints "STATUS COMMENTS" where COMMENTS is the number
# of comments in the JSON answer (or -).
fcgi() { timeout 15 python3 "$ROOT/tests/e2e/fcgi.py" --timeout 10 --print status,comments "$@" || echo "000 - timeout"; }

# Holds a listening unix socket and starts the daemon (fd 3, LISTEN_FDS=1,
# LISTEN_PID = its pid) whenever a connection is pending and no daemon runs —
# what systemd does for a socket unit with Accept=no. Logs spawns and exits.
cat >"$TMP/supervisor.py" <<'PY'
import os, select, signal, socket, subprocess, sys, time
path, log, limit, cmd = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]
ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ls.bind(path)
ls.listen(128)
if ls.fileno() != 3:
    os.dup2(ls.fileno(), 3)
os.set_inheritable(3, True)
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
child = None
end = time.monotonic() + limit
with open(log, "a", buffering=1) as f:
    while not stop and time.monotonic() < end:
        if child is None:
            ready, _, _ = select.select([3], [], [], 0.1)
            if ready:
                child = subprocess.Popen(
                    ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1; export LISTEN_PID LISTEN_FDS; exec "$@"', "sh"] + cmd,
                    pass_fds=(3,), stdout=sys.stdout, stderr=sys.stderr)
                f.write("spawn %d\n" % child.pid)
        else:
            rc = child.poll()
            if rc is None:
                time.sleep(0.02)
            else:
                f.write("exit %d %d\n" % (child.pid, rc))
                child = None
    if child is not None:
        child.terminate()
        try:
            f.write("exit %d %d (stopped)\n" % (child.pid, child.wait(15)))
        except subprocess.TimeoutExpired:
            child.kill()
PY

# --- the stand-in Mastodon ---------------------------------------------------------
STANDIN_PORT=$(free_port)
"$MC_BIN" stand-in --fixtures "$SCENARIO" --listen "127.0.0.1:$STANDIN_PORT" >"$TMP/stand-in.log" 2>&1 &
PIDS+=($!)
wait_until 15 "curl -sf -o /dev/null http://127.0.0.1:$STANDIN_PORT/__stand-in/calls" \
    || { bad "stand-in did not come up"; exit 1; }
mode() { curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$STANDIN_PORT/__stand-in/mode?set=$1"; }
calls() { curl -sS --max-time 5 "http://127.0.0.1:$STANDIN_PORT/__stand-in/calls" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])'; }

# Config without a token: it comes from $CREDENTIALS_DIRECTORY/token.
cat >"$TMP/config.json" <<EOF
{"url": "http://127.0.0.1:$STANDIN_PORT", "userid": "109308551561216011", "blog_url": "https://blog.example.org"}
EOF
mkdir -m 0700 "$TMP/credentials" "$TMP/statedir"
printf 'e2e-token' >"$TMP/credentials/token"
chmod 0400 "$TMP/credentials/token"

# --- 1 + 3. unix socket, STATE_DIRECTORY, CREDENTIALS_DIRECTORY, sd_notify ----------
SOCK=$TMP/mc.sock
timeout 100 python3 "$ROOT/tests/e2e/notify.py" "$TMP/notify.sock" "$TMP/notify.out" 90 &
PIDS+=($!)
wait_until 5 "[ -S '$TMP/notify.sock' ]"
systemd-socket-activate -l "$SOCK" \
    -E NOTIFY_SOCKET="$TMP/notify.sock" -E WATCHDOG_USEC=2000000 \
    -E STATE_DIRECTORY="$TMP/statedir" -E CREDENTIALS_DIRECTORY="$TMP/credentials" \
    "$MC_BIN" "$TMP/config.json" >"$TMP/daemon-unix.log" 2>&1 &
DPID=$!
PIDS+=("$DPID")
wait_until 10 "[ -S '$SOCK' ]" || { bad "unix socket not created"; exit 1; }
out=$(fcgi "$SOCK" GET "$ARTICLE/comments.json")
if [ "$out" = "200 5" ]; then ok "unix socket: FastCGI answer with 5 comments"; else bad "unix socket: got '$out'"; fi
if wait_until 5 "grep -q READY=1 '$TMP/notify.out'"; then ok "sd_notify READY=1"; else bad "no READY=1 on NOTIFY_SOCKET"; fi
if grep -q 'STATUS=' "$TMP/notify.out"; then ok "sd_notify STATUS=…"; else bad "no STATUS= on NOTIFY_SOCKET"; fi
# WATCHDOG_USEC=2 s: a ping at least every second; wait for three.
if wait_until 5 "[ \$(grep -c WATCHDOG=1 '$TMP/notify.out') -ge 3 ]"; then
    ok "sd_notify WATCHDOG=1 pings ($(grep -c WATCHDOG=1 "$TMP/notify.out") in the first seconds)"
else
    bad "fewer than 3 WATCHDOG=1 within 5 s with WATCHDOG_USEC=2000000"
fi
out=$(fcgi "$SOCK" GET "/any/comments.json?search=$ARTICLE/")
if [ "$out" = "200 5" ]; then ok "unix socket: ?search= query answered"; else bad "?search=: got '$out'"; fi
if wait_until 5 "[ -s '$TMP/statedir/state.json' ]"; then
    ok "state written to \$STATE_DIRECTORY/state.json"
else
    bad "no \$STATE_DIRECTORY/state.json (contents: $(ls -A "$TMP/statedir"))"
fi
# STATUS= for the operator (refreshed every 10 s, systemd::STATUS_EVERY;
# the first one after READY=1 at start): requests served, cache hits, stale answers, upstream calls and
# errors, and after a failure the last upstream error. So far: the article
# (fetched) and the ?search= query (the daemon's cache): 2 requests, 1 hit,
# as many upstream calls as the stand-in counted, no error.
status_lines() { sed -n 's/^[0-9.]* \(.*|\)\{0,1\}STATUS=\([^|]*\).*/\2/p' "$TMP/notify.out"; }   # the STATUS= texts
wait_status() { # exact STATUS= text; true once it was sent (within 15 s)
    local _i
    for _i in $(seq 1 150); do
        status_lines | grep -qxF -- "$1" && return 0
        sleep 0.1
    done
    return 1
}
want="2 requests, 1 cache hits, 0 stale, $(calls) upstream calls, 0 upstream errors"
if wait_status "$want"; then
    ok "STATUS=$want"
else
    bad "no STATUS=$want; last: $(status_lines | tail -n 1)"
fi
# Mastodon failing (500 for every call) for an article never seen: 503, and
# STATUS= counts the failed calls and names the last error.
calls_ok=$(calls)
mode error
out=$(fcgi "$SOCK" GET /2026/07/03/never-seen/comments.json)
mode ok
calls_all=$(calls)
failed=$((calls_all - calls_ok))
expect_out() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi; }
expect_out "Mastodon failing: 503" "503 -" "$out"
want="3 requests, 1 cache hits, 0 stale, $calls_all upstream calls, $failed upstream errors, last upstream error: the instance answered HTTP 500"
if [ "$failed" -ge 1 ] && wait_status "$want"; then
    ok "STATUS=$want"
else
    bad "no STATUS=$want ($failed failed calls); last: $(status_lines | tail -n 1)"
fi
kill -TERM "$DPID"
if timeout 15 tail --pid="$DPID" -f /dev/null; then
    rc=0
    wait "$DPID" || rc=$?
    if [ "$rc" = 0 ]; then ok "SIGTERM: exit status 0"; else bad "SIGTERM: exit status $rc"; fi
else
    bad "SIGTERM: still running after 15 s"
fi
if grep -q STOPPING=1 "$TMP/notify.out"; then ok "sd_notify STOPPING=1 on SIGTERM"; else bad "no STOPPING=1"; fi
if grep -q 'e2e-token' "$TMP/daemon-unix.log"; then
    bad "the token appears in the daemon's log"
else
    ok "the token is not logged"
fi

# --- 2. TCP loopback socket ----------------------------------------------------------
TPORT=$(free_port)
systemd-socket-activate -l "127.0.0.1:$TPORT" \
    "$MC_BIN" "$TMP/config.json" "$TMP/state-tcp.json" >"$TMP/daemon-tcp.log" 2>&1 &
DPID=$!
PIDS+=("$DPID")
wait_until 10 "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $TPORT), 1).close()' 2>/dev/null" || true
out=$(fcgi "127.0.0.1:$TPORT" GET "$ARTICLE/comments.json")
if [ "$out" = "200 5" ]; then ok "TCP socket: FastCGI answer with 5 comments"; else bad "TCP socket: got '$out'"; fi
stop "$DPID"

# --- 4. zero and two sockets ------------------------------------------------------------
rc=0
timeout 10 env -u LISTEN_FDS -u LISTEN_PID "$MC_BIN" "$TMP/config.json" "$TMP/state-zero.json" \
    >"$TMP/zero.out" 2>&1 </dev/null || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -qiE 'socket|LISTEN_FDS|--listen' "$TMP/zero.out"; then
    ok "zero sockets: refuses to start (exit $rc): $(head -n 1 "$TMP/zero.out")"
else
    bad "zero sockets: exit $rc, message: $(head -c 300 "$TMP/zero.out")"
fi
systemd-socket-activate -l "$TMP/two-a.sock" -l "$TMP/two-b.sock" \
    "$MC_BIN" "$TMP/config.json" "$TMP/state-two.json" >"$TMP/two.out" 2>&1 &
TWO=$!
PIDS+=("$TWO")
wait_until 10 "[ -S '$TMP/two-a.sock' ]"
# systemd-socket-activate starts the program on the first connection.
python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.connect('$TMP/two-a.sock')" 2>/dev/null || true
if timeout 10 tail --pid="$TWO" -f /dev/null; then
    rc=0
    wait "$TWO" || rc=$?
    if [ "$rc" -ne 0 ] && grep -qiE 'socket|LISTEN_FDS' "$TMP/two.out"; then
        ok "two sockets: refuses to start (exit $rc): $(grep -viE '^(Listening on|Communication attempt|Execing)' "$TMP/two.out" | head -n 1)"
    else
        bad "two sockets: exit $rc, output: $(head -c 300 "$TMP/two.out")"
    fi
else
    bad "two sockets: still running after 10 s"
    stop "$TWO"
fi

# --- 5. idle exit under a supervisor, no request lost ---------------------------------------
ISOCK=$TMP/idle.sock
python3 "$TMP/supervisor.py" "$ISOCK" "$TMP/supervisor.out" 90 \
    "$MC_BIN" --exit-idle-after 2s "$TMP/config.json" "$TMP/state-idle.json" >"$TMP/daemon-idle.log" 2>&1 &
SUP=$!
PIDS+=("$SUP")
wait_until 10 "[ -S '$ISOCK' ]" || { bad "supervisor socket not created"; exit 1; }
# Pauses (seconds) before each request: well below, around and above 2 s.
answered=0
lost=()
i=0
for pause in 0 0.5 2.5 1.9 2.0 2.1 0.1 3.0 1.95 2.05 0.3 2.2 1.8 2.4 0 2.0 1.5 2.6 0.2 2.1; do
    i=$((i + 1))
    sleep "$pause"
    out=$(fcgi "$ISOCK" GET "$ARTICLE/comments.json")
    if [ "$out" = "200 5" ]; then answered=$((answered + 1)); else lost+=("#$i after ${pause}s: $out"); fi
done
if [ "$answered" -eq 20 ]; then ok "idle exit: all 20 requests answered 200"; else bad "idle exit: $answered/20 answered; lost: ${lost[*]}"; fi
spawns=$(grep -c '^spawn' "$TMP/supervisor.out" || true)
exits=$(grep -c '^exit' "$TMP/supervisor.out" || true)
bad_exits=$(grep '^exit' "$TMP/supervisor.out" | awk '$3 != 0' | wc -l)
if [ "$spawns" -ge 3 ] && [ "$exits" -ge 2 ]; then
    ok "idle exit: the daemon exited when idle and was started again ($spawns starts, $exits exits)"
else
    bad "idle exit: $spawns starts, $exits exits (expected >= 3 starts)"
fi
if [ "$bad_exits" -eq 0 ]; then ok "idle exit: every exit status 0"; else bad "idle exit: non-zero exits: $(grep '^exit' "$TMP/supervisor.out" | awk '$3 != 0')"; fi
# Idle exit must really be about idleness: a daemon that has just answered
# is still running 1 s later.
out=$(fcgi "$ISOCK" GET "$ARTICLE/comments.json")
sleep 1
last=$(tail -n 1 "$TMP/supervisor.out")
if [ "$out" = "200 5" ] && [[ $last == spawn* ]]; then
    ok "idle exit: still running 1 s after a request"
else
    bad "idle exit: request '$out', supervisor's last line '$last' (exited within 1 s of a request?)"
fi
stop "$SUP"

[ "$FAIL" -eq 0 ]
