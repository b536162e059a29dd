#!/usr/bin/env bash
# Checks of systemd/mastodon-comments.{service,socket} that work without
# systemd running as PID 1:
#
#  1. the settings the daemon relies on are present (notify, watchdog,
#     DynamicUser, StateDirectory, LoadCredential, socket ownership/mode);
#  2. systemd-analyze verify: no warning at all (on a temporary copy whose
#     ExecStart= points at the built binary, since verify wants it to exist);
#  3. systemd-analyze security --offline=yes: overall exposure <= 1.0;
#  4. the system calls the daemon makes in a realistic session (a reload
#     by the unit's ExecReload= command included) are all
#     allowed by the unit's SystemCallFilter= (expanded with
#     systemd-analyze syscall-filter): the daemon runs socket-activated under
#     strace with NOTIFY_SOCKET/WATCHDOG_USEC/STATE_DIRECTORY/
#     CREDENTIALS_DIRECTORY set, answers FastCGI requests (found post, search,
#     miss, 400, 404, 405, Mastodon failing in several ways), pings the
#     watchdog, and stops on SIGTERM. Every answer must be the expected one
#     (status, and 5 comments for the article), so the trace is of a daemon
#     that did the real work. The instance is named "localhost" so that
#     getaddrinfo runs; it resolves the name from /etc/hosts only (checked:
#     /etc/hosts read, no connect() to port 53), so a real DNS query is not
#     in the trace: the test stays on loopback. The stand-in Mastodon speaks
#     plain HTTP, so TLS is not exercised (rustls is computation plus reads
#     of the CA files, no additional kind of system call).
#
# Needs: systemd-analyze, strace, python3, curl, systemd-socket-activate, the
# built binary (MC_BIN, default target/debug/mastodon-comments).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MC_BIN=${MC_BIN:-$ROOT/target/debug/mastodon-comments}
case $MC_BIN in /*) ;; *) MC_BIN=$ROOT/$MC_BIN ;; esac
SERVICE=$ROOT/systemd/mastodon-comments.service
SOCKET=$ROOT/systemd/mastodon-comments.socket
SCENARIO=$ROOT/tests/fixtures/mastodon/a-simple-thread
ARTICLE=/2026/07/01/slow-bread
MAX_EXPOSURE=1.0

. "$ROOT/tests/e2e/lib.sh"

require_tools systemd-analyze strace curl python3 systemd-socket-activate timeout

TMP=$(mktemp -d /tmp/mc-e2e-units.XXXXXX)
PIDS=()

trap cleanup_pids EXIT
trap 'exit 130' INT TERM


# --- 1. required settings -------------------------------------------------------------
has() { # file, exact line
    if grep -qxF "$2" "$1"; then ok "$(basename "$1"): $2"; else bad "$(basename "$1"): missing '$2'"; fi
}
for line in 'Type=notify' 'NotifyAccess=main' 'WatchdogSec=30s' 'TimeoutStopSec=15s' 'Restart=on-failure' \
    'DynamicUser=yes' 'StateDirectory=mastodon-comments' \
    'LoadCredential=token:/etc/mastodon-comments/token' \
    'ExecStart=/usr/local/bin/mastodon-comments /etc/mastodon-comments/config.json' \
    'ExecReload=+/bin/kill -HUP $MAINPID' \
    'MemoryHigh=64M' 'MemoryMax=128M' 'TasksMax=32' 'UMask=0077' 'CapabilityBoundingSet=' 'NoNewPrivileges=yes' \
    'MemoryDenyWriteExecute=yes' 'SystemCallArchitectures=native'; do
    has "$SERVICE" "$line"
done
for line in 'ListenStream=/run/mastodon-comments.sock' 'SocketUser=www-data' 'SocketGroup=www-data' \
    'SocketMode=0600' 'WantedBy=sockets.target'; do
    has "$SOCKET" "$line"
done

# --- 2. systemd-analyze verify -----------------------------------------------------------
mkdir "$TMP/units"
cp "$SOCKET" "$TMP/units/"
if [ -x "$MC_BIN" ]; then EXEC=$MC_BIN; else EXEC=/bin/true; echo "# $MC_BIN not built: verify with /bin/true"; fi
sed "s#^ExecStart=/usr/local/bin/mastodon-comments #ExecStart=$EXEC #" "$SERVICE" >"$TMP/units/mastodon-comments.service"
if timeout 60 systemd-analyze verify --man=no "$TMP/units/mastodon-comments.service" "$TMP/units/mastodon-comments.socket" \
    >"$TMP/verify.out" 2>&1 && [ ! -s "$TMP/verify.out" ]; then
    ok "systemd-analyze verify: no message"
else
    bad "systemd-analyze verify: $(cat "$TMP/verify.out")"
fi

# --- 3. systemd-analyze security ---------------------------------------------------------
timeout 60 systemd-analyze security --offline=yes "$SERVICE" >"$TMP/security.out" 2>&1 || true
exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$TMP/security.out")
if [ -z "$exposure" ]; then
    bad "systemd-analyze security: no 'Overall exposure level' line"
elif python3 -c "import sys; sys.exit(0 if float('$exposure') <= float('$MAX_EXPOSURE') else 1)"; then
    ok "systemd-analyze security: exposure $exposure <= $MAX_EXPOSURE"
else
    bad "systemd-analyze security: exposure $exposure > $MAX_EXPOSURE"
fi
echo "# remaining exposure items:"
grep '✗' "$TMP/security.out" | sed 's/^/#   /' || true

# --- 3b. the IP address allow list does what its comment says ------------------------------
# IPAddressDeny=any; loopback, private and public unicast allowed;
# link-local, 0/8 and multicast/reserved refused.
if python3 - "$SERVICE" >"$TMP/ipallow.out" 2>&1 <<'PY'
import ipaddress, re, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
deny = [v for k, v in re.findall(r"^(IPAddressDeny)=(.*)$", text, re.M)]
allow = []
for value in re.findall(r"^IPAddressAllow=(.*)$", text, re.M):
    for word in value.split():
        if word == "localhost":
            allow += [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
        else:
            allow.append(ipaddress.ip_network(word))
assert deny == ["any"], "IPAddressDeny= is %r, expected any" % deny
allowed = lambda a: any(ipaddress.ip_address(a) in n for n in allow if n.version == ipaddress.ip_address(a).version)
must_allow = ["1.1.1.1", "8.8.8.8", "9.9.9.9", "104.16.0.1", "151.101.1.1", "185.12.64.1", "100.63.255.255",
              "100.128.0.1", "169.253.0.1", "172.15.255.255", "172.32.0.1", "192.167.0.1", "192.169.0.1",
              "223.255.255.254", "127.0.0.1", "127.0.0.53", "::1", "2a01:4f8::1", "2606:4700::1",
              "10.0.0.2", "100.64.0.1", "172.16.0.1", "172.31.255.254", "192.168.1.1", "fd00::1"]
must_deny = ["0.0.0.1", "169.254.169.254", "169.254.169.253", "224.0.0.251", "239.255.255.250",
             "240.0.0.1", "255.255.255.255", "fe80::1", "ff02::1"]
wrong = [a + " refused" for a in must_allow if not allowed(a)] + [a + " allowed" for a in must_deny if allowed(a)]
if wrong:
    sys.exit("wrong: " + ", ".join(wrong))
print("%d prefixes; %d public/private/loopback addresses allowed, %d link-local/multicast/reserved refused"
      % (len(allow), len(must_allow), len(must_deny)))
PY
then
    ok "IPAddressAllow=: $(cat "$TMP/ipallow.out")"
else
    bad "IPAddressAllow=: $(cat "$TMP/ipallow.out")"
fi

# --- 4. system calls against SystemCallFilter= -------------------------------------------
if [ ! -x "$MC_BIN" ]; then
    bad "binary not found: $MC_BIN (cargo build first, or set MC_BIN): system call check not run"
    exit 1
fi

# The allowed set: SystemCallFilter= lines of the unit, in order; the first
# (allow list) adds, "~" lines remove; groups expanded recursively.
cat >"$TMP/filter.py" <<'PY'
import re, subprocess, sys
unit, trace, binary = sys.argv[1:4]

cache = {}
def expand(name):
    if not name.startswith("@"):
        return {name}
    if name not in cache:
        out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", name],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        names = set()
        for line in out.splitlines()[1:]:
            word = line.strip()
            if not word or word.startswith("#"):
                continue
            names |= expand(word)
        if not names:
            sys.exit("unknown syscall group %s" % name)
        cache[name] = names
    return cache[name]

allowed = set()
settings = []
text = open(unit).read().replace("\\\n", " ")
for line in text.splitlines():
    m = re.match(r"\s*SystemCallFilter=(.*)", line)
    if not m:
        continue
    value = m.group(1).strip()
    settings.append(value)
    deny = value.startswith("~")
    names = set()
    for word in value.lstrip("~").split():
        names |= expand(word)
    if deny:
        allowed -= names
    else:
        allowed |= names
if not settings:
    sys.exit("no SystemCallFilter= in %s" % unit)

used = {}
started = False
pat = re.compile(r"^\d+\s+(?:<\.\.\. ([a-z0-9_]+) resumed>|([a-z0-9_]+)\()")
for line in open(trace, errors="replace"):
    if not started:
        # Only what happens from the daemon's execve on (not the shell
        # wrapper that sets LISTEN_PID).
        if 'execve("%s"' % binary in line:
            started = True
        else:
            continue
    m = pat.match(line)
    if m:
        name = m.group(1) or m.group(2)
        used[name] = used.get(name, 0) + 1
if not started:
    sys.exit("no execve of %s in the trace" % binary)

outside = sorted(n for n in used if n not in allowed)
print("filter: %s" % " | ".join(settings))
print("allowed: %d system calls; used by the daemon: %d" % (len(allowed), len(used)))
print("used: %s" % " ".join(sorted(used)))
if outside:
    print("OUTSIDE THE FILTER: %s" % " ".join("%s(x%d)" % (n, used[n]) for n in outside))
    sys.exit(1)
PY


# The shared FastCGI client (tests/e2e/fcgi.py); prints the status and the
# number of comments in the JSON answer ("-" when there are none).
fcgi() { timeout 30 python3 "$ROOT/tests/e2e/fcgi.py" --timeout 20 --print status,comments "$@" || echo "000 - timeout"; }

STANDIN_PORT=$(free_port)
"$MC_BIN" stand-in --fixtures "$SCENARIO" --listen "127.0.0.1:$STANDIN_PORT" >"$TMP/stand-in.log" 2>&1 &
PIDS+=($!)
wait_until 15 "curl -sf -o /dev/null http://127.0.0.1:$STANDIN_PORT/__stand-in/calls" \
    || { bad "stand-in did not come up"; exit 1; }
mode() { curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$STANDIN_PORT/__stand-in/mode?set=$1"; }

mkdir -m 0700 "$TMP/credentials" "$TMP/statedir"
printf 'e2e-token' >"$TMP/credentials/token"
cat >"$TMP/config.json" <<EOF
{"url": "http://localhost:$STANDIN_PORT", "userid": "109308551561216011", "searches_per_minute": 60,
 "blog_url": "https://blog.example.org", "path_pattern": "^/20[0-9]{2}/", "timeout_seconds": 2}
EOF
# sd_notify datagrams are received (and dropped) so the notify path runs.
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(0.5)
end = time.monotonic() + 120
while time.monotonic() < end:
    try: s.recv(4096)
    except socket.timeout: pass
' "$TMP/notify.sock" &
PIDS+=($!)
wait_until 5 "[ -S '$TMP/notify.sock' ]"

SOCK=$TMP/mc.sock
systemd-socket-activate -l "$SOCK" \
    -E NOTIFY_SOCKET="$TMP/notify.sock" -E WATCHDOG_USEC=1000000 \
    -E STATE_DIRECTORY="$TMP/statedir" -E CREDENTIALS_DIRECTORY="$TMP/credentials" \
    strace -f -qq -o "$TMP/strace.trace" \
    sh -c 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"' sh "$MC_BIN" "$TMP/config.json" \
    >"$TMP/daemon.log" 2>&1 &
DPID=$!
PIDS+=("$DPID")
wait_until 10 "[ -S '$SOCK' ]" || { bad "socket not created"; exit 1; }

# Each step must answer as expected ("STATUS COMMENTS"; COMMENTS is "-" for
# an answer without comments): a trace of a daemon that answers nothing, or
# only errors, proves nothing about the calls it needs.
session=()
wrong=()
step() { # expected "status comments", method, uri, [body]
    local want=$1 got
    shift
    got=$(fcgi "$SOCK" "$@")
    session+=("$1 $2 -> $got")
    [ "$got" = "$want" ] || wrong+=("$1 $2 answered '$got', expected '$want'")
}
step "200 5" GET "$ARTICLE/comments.json"
step "200 5" GET "$ARTICLE/comments.json"
step "200 5" GET "/any/comments.json?search=$ARTICLE/"
step "200 -" GET /2026/07/02/not-announced-yet/comments.json
step "400 -" GET "/any/comments.json?search=notapath"
step "404 -" GET /about/comments.json
step "405 -" POST "$ARTICLE/comments.json" '{"a": 1}'
for m in error garbage huge slow hang ratelimit; do
    mode "$m"
    step "503 -" GET "/2026/07/05/upstream-$m/comments.json"
done
mode ok
# The instance's rate limit (60 s) is still honoured: no call, 503.
step "503 -" GET /2026/07/06/after-recovery/comments.json
step "200 5" GET "$ARTICLE/comments.json"
# `systemctl reload`: the unit's ExecReload= command line, run as systemd
# runs it ("+" dropped, $MAINPID the daemon, the child of strace), after a
# config change a request can see: a narrower path_pattern turns the
# unannounced article (200 above) into a 404, while the announced one
# still answers.
MAIN=$(ps -o pid= --ppid "$DPID" | tr -d ' ' | head -n 1)
reload=$(sed -n 's/^ExecReload=//p' "$SERVICE")
reload=${reload#+}
sed -i 's#"path_pattern": "[^"]*"#"path_pattern": "^/2026/07/01/"#' "$TMP/config.json"
grep -q '"\^/2026/07/01/"' "$TMP/config.json" || bad "the test could not change path_pattern in its config"
if [ -n "$MAIN" ] && [ -n "$reload" ] && ${reload//\$MAINPID/$MAIN}; then
    if wait_until 10 "grep -q 'config reloaded from' '$TMP/daemon.log'"; then
        ok "ExecReload= ($reload) made the daemon reload its config"
    else
        bad "ExecReload= ($reload) ran, but the daemon never logged 'config reloaded from'"
    fi
else
    bad "ExecReload= ($reload) could not be run against the daemon (pid '$MAIN')"
fi
step "404 -" GET /2026/07/02/not-announced-yet/comments.json
step "200 5" GET "$ARTICLE/comments.json"
sleep 2   # watchdog pings
# SIGTERM to the daemon itself (the child of strace), as systemd sends it.
if [ -n "$MAIN" ]; then kill -TERM "$MAIN"; fi
if ! timeout 20 tail --pid="$DPID" -f /dev/null; then bad "daemon did not stop on SIGTERM"; exit 1; fi
printf '%s\n' "${session[@]}" >"$TMP/session.out"
if [ "${#wrong[@]}" -eq 0 ]; then
    ok "the traced daemon answered all ${#session[@]} requests as expected (200 with 5 comments for the article, 400/404/405/503 errors)"
else
    bad "the traced daemon answered ${#wrong[@]} of ${#session[@]} requests wrongly: ${wrong[*]}"
fi
echo "# session: ${session[*]}"
# What the name resolution of "localhost" did under strace: glibc's
# getaddrinfo read /etc/hosts ("hosts: files ..." in nsswitch.conf) and
# found it there, so no DNS query was sent. The system calls of a real DNS
# lookup (a UDP socket to port 53, sendmmsg/recvfrom) are therefore not in
# this trace; they belong to @network-io (in @system-service), as do the
# TCP calls to the instance that are in it.
if grep -q 'openat(.*"/etc/hosts"' "$TMP/strace.trace"; then
    ok "name resolution ran: the daemon read /etc/hosts"
else
    bad "the daemon never opened /etc/hosts: did \"localhost\" get resolved at all?"
fi
dns=$(grep -cE 'connect\(.*sin6?_port=htons\(53\)' "$TMP/strace.trace" || true)
if [ "$dns" = 0 ]; then
    ok "no DNS traffic (no connect() to port 53): \"localhost\" came from /etc/hosts only"
else
    bad "$dns connect() calls to port 53 in the trace: the test must stay on loopback without DNS"
fi

if python3 "$TMP/filter.py" "$SERVICE" "$TMP/strace.trace" "$MC_BIN" >"$TMP/filter.out" 2>&1; then
    ok "system calls within SystemCallFilter= ($(sed -n 2p "$TMP/filter.out"))"
    sed 's/^/# /' "$TMP/filter.out"
else
    bad "system calls outside SystemCallFilter=: $(cat "$TMP/filter.out")"
fi

[ "$FAIL" -eq 0 ]
