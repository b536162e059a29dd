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
    for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
        kill -"$sig" "$child" 2>/dev/null || true
        timeout 15 tail --pid="$child" -f /dev/null 2>/dev/null || kill -KILL "$child" 2>/dev/null || true
    done
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

# The end of every log and output file in $TMP, for a failed run.
dump_logs() {
    local f
    for f in "$TMP"/*.log "$TMP"/*.out; do
        [ -s "$f" ] || continue
        echo "----- $f (last 40 lines)"
        tail -n 40 "$f"
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
