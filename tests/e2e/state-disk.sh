#!/usr/bin/env bash
# The state directory read-only or full, for real: the built daemon with its
# state file on a tiny tmpfs (64 KiB) in a private mount namespace
# (unshare -m; nothing is mounted on the host), two daemons side by side:
#
#   RO:   the tmpfs holds a state file with one root and is remounted
#         read-only before the daemon starts (writes fail with EROFS);
#   FULL: the tmpfs is filled up with a file before the daemon starts
#         (writes fail with ENOSPC; the state file does not exist yet).
#
# Checks, for each:
#  1. every request answers as it would with a working disk: the article
#     (found by the timeline scan: new roots for the state), its ?search=
#     form, a second article of the same scan, one from the config's "roots"
#     map, articles without a root, the article again: 200 with the comments
#     and the right root;
#  2. the write failure is logged exactly once, naming the cause (read-only
#     file system / no space left on device), however many state changes
#     followed; nothing else was written (RO: the file unchanged; FULL: no
#     state file and no temporary file left on the full disk);
#  3. once the disk is writable again (remount rw / the filler removed) the
#     daemon's own retry writes the state file (the retry interval is
#     limits::STATE_RETRY = 30 s, so this waits up to 45 s): it parses and
#     holds the roots found meanwhile (and, RO, the root it had at start),
#     and no miss for the articles without a root: the timeline scan had
#     run within the minute and was skipped, which proves nothing;
#     "state file written again" is logged once, the failure still once;
#  4. the daemon still answers afterwards.
#
# Needs: root (mount, unshare), python3, curl, the built binary (MC_BIN,
# default target/debug/mastodon-comments). Takes about 35 seconds.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MC_BIN=${MC_BIN:-$ROOT/target/debug/mastodon-comments}
case $MC_BIN in /*) ;; *) MC_BIN=$ROOT/$MC_BIN ;; esac
SCENARIO=$ROOT/tests/fixtures/mastodon/a-simple-thread
ARTICLE=/2026/07/01/slow-bread
ROOT_ID=116843781319371281
PART2=/2026/07/01/slow-bread-part-2
PART2_ID=116855223153469973
MAPPED=/2026/07/09/mapped-in-config
SEEDED=/2020/01/01/seeded
SEEDED_ID=100000000000000001

. "$ROOT/tests/e2e/lib.sh"

require_tools unshare mount umount curl python3 timeout dd
require_binary
[ "$(id -u)" = 0 ] || { echo "run as root (mount, unshare)" >&2; echo "0 passed, 1 failed"; exit 1; }

# Everything below runs in a private mount namespace.
if [ -z "${MC_STATE_DISK_NS:-}" ]; then
    if ! unshare -m --propagation private true 2>/dev/null; then
        echo "unshare -m is not permitted here (needs CAP_SYS_ADMIN)" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
    exec unshare -m --propagation private env MC_STATE_DISK_NS=1 MC_BIN="$MC_BIN" bash "${BASH_SOURCE[0]}" "$@"
fi

TMP=$(mktemp -d /tmp/mc-e2e-statedisk.XXXXXX)
PIDS=()
cleanup() {
    local rc=$? m
    set +e
    for m in "$TMP/ro" "$TMP/full"; do umount "$m" 2>/dev/null; done
    (exit "$rc")
    cleanup_pids
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The shared FastCGI client (tests/e2e/fcgi.py), a GET. Prints
# "STATUS COMMENTS ROOT": the number of comments ("-" for none) and
# stats.root ("-" for none).
fcgi() { # socket uri
    timeout 20 python3 "$ROOT/tests/e2e/fcgi.py" --timeout 15 --print status,comments,root "$1" GET "$2" \
        || echo "000 - - timeout"
}
expect() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi; }

# Whether a state file parses and holds the given path=id roots.
has_roots() { # file path=id...
    python3 - "$@" <<'PY' 2>/dev/null
import json, sys
roots = json.load(open(sys.argv[1]))["roots"]
sys.exit(0 if all(roots.get(p, [None])[0] == i for p, i in (a.split("=", 1) for a in sys.argv[2:])) else 1)
PY
}
export -f has_roots   # for wait_until's bash -c
# Whether a state file parses and records any of the given paths as a miss.
any_miss() { # file path...
    python3 -c 'import json, sys; m = json.load(open(sys.argv[1])).get("misses", {}); sys.exit(0 if any(p in m for p in sys.argv[2:]) else 1)' "$@" 2>/dev/null
}

# --- the stand-in Mastodon ---------------------------------------------------------
STANDIN_PORT=$(free_port)
"$MC_BIN" stand-in --fixtures "$SCENARIO" --listen "127.0.0.1:$STANDIN_PORT" >"$TMP/stand-in.log" 2>&1 &
PIDS+=($!)
wait_until 15 "curl -sf -o /dev/null http://127.0.0.1:$STANDIN_PORT/__stand-in/calls" \
    || { bad "stand-in did not come up"; exit 1; }
cat >"$TMP/config.json" <<EOF
{"url": "http://127.0.0.1:$STANDIN_PORT", "token": "e2e-token", "userid": "109308551561216011",
 "blog_url": "https://blog.example.org", "roots": {"$MAPPED": "$ROOT_ID"}}
EOF

# --- the two disks -------------------------------------------------------------------
mkdir "$TMP/ro" "$TMP/full"
mount -t tmpfs -o size=64k,mode=0700 mc-e2e-ro "$TMP/ro"
printf '{"roots": {"%s": ["%s"]}}\n' "$SEEDED" "$SEEDED_ID" >"$TMP/ro/state.json"
cp "$TMP/ro/state.json" "$TMP/ro-state.before"
mount -o remount,ro "$TMP/ro"
mount -t tmpfs -o size=64k,mode=0700 mc-e2e-full "$TMP/full"
dd if=/dev/zero of="$TMP/full/filler" bs=4k 2>/dev/null || true
if touch "$TMP/ro/probe" 2>/dev/null; then bad "the read-only tmpfs is writable"; exit 1; fi
if dd if=/dev/zero of="$TMP/full/probe" bs=1k count=1 2>/dev/null; then bad "the full tmpfs still has room"; exit 1; fi
rm -f "$TMP/full/probe"
ok "tmpfs (64 KiB) read-only with a state file, and tmpfs (64 KiB) full"

start() { # name
    "$MC_BIN" --listen "$TMP/$1.sock" "$TMP/config.json" "$TMP/$1/state.json" >"$TMP/$1.log" 2>&1 &
    PIDS+=($!)
    wait_until 10 "[ -S '$TMP/$1.sock' ]" || { bad "$1: the daemon did not start"; exit 1; }
}
start ro
start full

# --- 1. requests that find new roots, and misses --------------------------------------
failure_lines() { grep -c 'cannot write the state file' "$TMP/$1.log" || true; }   # name
for d in ro full; do
    session=()
    wrong=()
    step() { # expected, uri
        local got
        got=$(fcgi "$TMP/$d.sock" "$2")
        session+=("$2 -> $got")
        [ "$got" = "$1" ] || wrong+=("$2: '$got', expected '$1'")
    }
    step "200 5 $ROOT_ID" "$ARTICLE/comments.json"
    step "200 5 $ROOT_ID" "/any/comments.json?search=$ARTICLE/"
    step "200 0 $PART2_ID" "$PART2/comments.json"
    step "200 5 $ROOT_ID" "$MAPPED/comments.json"
    for i in 1 2 3 4 5; do
        step "200 - -" "/2026/07/1$i/nothing-here/comments.json"
    done
    step "200 5 $ROOT_ID" "$ARTICLE/comments.json"
    if [ "${#wrong[@]}" -eq 0 ]; then
        ok "$d: all ${#session[@]} requests answered as with a working disk (200, comments, root)"
    else
        bad "$d: ${#wrong[@]} of ${#session[@]} answers wrong: ${wrong[*]}"
    fi
done

# --- 2. the failure, logged once ------------------------------------------------------
# The writer tries right after each change: the first failure comes within
# moments of the first request, the rest wait for the retry.
wait_until 5 "grep -q 'cannot write the state file' '$TMP/ro.log' && grep -q 'cannot write the state file' '$TMP/full.log'" || true
expect "ro: the write failure logged once (10 requests, the scan's roots to write)" 1 "$(failure_lines ro)"
expect "full: the write failure logged once (10 requests, the scan's roots to write)" 1 "$(failure_lines full)"
if grep 'cannot write the state file' "$TMP/ro.log" | grep -qi 'read-only file system'; then
    ok "ro: the message names the cause: $(grep -o 'cannot write the state file.*' "$TMP/ro.log")"
else
    bad "ro: the message does not say read-only: $(grep 'cannot write' "$TMP/ro.log")"
fi
if grep 'cannot write the state file' "$TMP/full.log" | grep -qi 'no space left on device'; then
    ok "full: the message names the cause: $(grep -o 'cannot write the state file.*' "$TMP/full.log")"
else
    bad "full: the message does not say the disk is full: $(grep 'cannot write' "$TMP/full.log")"
fi
if cmp -s "$TMP/ro/state.json" "$TMP/ro-state.before"; then ok "ro: the state file is unchanged"; else bad "ro: the state file changed on a read-only disk"; fi
leftover=$(find "$TMP/full" -mindepth 1 ! -name filler -printf '%f ')
expect "full: nothing but the filler on the full disk (no state file, no temporary file)" "" "$leftover"

# --- 3. writable again: the retry writes the state -----------------------------------
mount -o remount,rw "$TMP/ro"
rm -f "$TMP/full/filler"
fixed_at=$SECONDS
echo "# disks writable again; waiting for the daemons' retry (every 30 s)"
wait_until 45 "has_roots '$TMP/ro/state.json' '$ARTICLE=$ROOT_ID' '$PART2=$PART2_ID' '$SEEDED=$SEEDED_ID' \
    && has_roots '$TMP/full/state.json' '$ARTICLE=$ROOT_ID' '$PART2=$PART2_ID'" || true
for d in ro full; do
    want=("$ARTICLE=$ROOT_ID" "$PART2=$PART2_ID")
    [ "$d" = ro ] && want+=("$SEEDED=$SEEDED_ID")
    if has_roots "$TMP/$d/state.json" "${want[@]}"; then
        ok "$d: the state file written after the disk recovered ($((SECONDS - fixed_at)) s later), parses, holds ${want[*]}"
    else
        bad "$d: no good state file $((SECONDS - fixed_at)) s after the disk recovered: $(head -c 300 "$TMP/$d/state.json" 2>&1)"
    fi
    if has_roots "$TMP/$d/state.json" "$MAPPED=$ROOT_ID"; then bad "$d: the config's roots map went into the state file"; fi
    if any_miss "$TMP/$d/state.json" /2026/07/1{1,2,3,4,5}/nothing-here; then
        bad "$d: a miss recorded for an article whose timeline scan was skipped (rate limit)"
    else
        ok "$d: no miss for the 5 articles without a root (their scan was skipped: it proves nothing)"
    fi
    expect "$d: 'state file written again' logged once" 1 "$(grep -c 'state file written again' "$TMP/$d.log" || true)"
    expect "$d: the write failure still logged once" 1 "$(failure_lines "$d")"
    expect "$d: still answering" "200 5 $ROOT_ID" "$(fcgi "$TMP/$d.sock" "$ARTICLE/comments.json")"
done

[ "$FAIL" -eq 0 ]
