#!/usr/bin/env bash
# Does the daemon, run the way production runs it, stay within what
# apparmor/usr.local.bin.mastodon-comments allows? This machine's kernel
# (and many CI kernels) cannot load the profile, so the test records every
# access under strace and checks each one against the profile's rules.
#
#  1. A private mount namespace (unshare -m; the host is not touched) and,
#     where permitted, a private network namespace (unshare -n: loopback
#     only). Production paths in it, each a bind mount of a temporary file or
#     directory: /etc/mastodon-comments/ (config.json; the root-only token
#     file systemd reads), /run/credentials/mastodon-comments.service/token
#     ($CREDENTIALS_DIRECTORY), /var/lib/mastodon-comments/
#     ($STATE_DIRECTORY), /run/systemd/notify ($NOTIFY_SOCKET, a receiver)
#     and /usr/local/bin/mastodon-comments (the built binary, MC_BIN). /run
#     and /var/lib, and any other parent lacking a mount point, are first
#     covered by an overlay on a tmpfs (mounts below them are put back).
#  2. The real systemd-socket-activate listens on /run/mastodon-comments.sock
#     and starts, under strace -f, the daemon as the unit does: setpriv to an
#     unprivileged uid (61184, DynamicUser='s range) with no capability at all
#     (empty bounding set, no-new-privs), cwd /, WATCHDOG_USEC, ExecStart='s
#     arguments. A capability it needed would show as a failing call (5).
#  3. Run 1 (the state directory bind-mounted on /var/lib/mastodon-comments,
#     the stand-in Mastodon at http://127.0.0.1:PORT): FastCGI requests
#     through the socket (python3 client, as nginx sends them): the article
#     (200, 5 comments), the same again (cache), ?search= (200), 400, 404,
#     405, 503 while the stand-in fails; state.json written; READY=1,
#     WATCHDOG=1, STOPPING=1; SIGTERM, exit status 0. The config has
#     proxy_media on: the image key is made in the state directory (a
#     temporary file renamed to media.key), the answer's avatars are on the
#     blog's origin, a forged image token is 404.
#     Run 2, DynamicUser='s layout: /var/lib/mastodon-comments a symlink to
#     private/mastodon-comments on an empty /var/lib/private; the state of
#     run 1 read, a leftover temporary file removed, a miss written. The
#     instance is https://mastodon.test:PORT, as in production: glibc
#     resolves it (files, then DNS over UDP to a stand-in DNS server on
#     127.0.0.77 named by a resolv.conf bind-mounted on /etc/resolv.conf; A
#     and AAAA records, so two addresses are sorted and ::1 is tried first),
#     rustls verifies a TLS front's certificate against the system CA bundle
#     (a test CA appended to a copy bind-mounted on
#     /etc/ssl/certs/ca-certificates.crt). The image key of run 1 is read
#     and kept; run 1's avatar is fetched through the image proxy from its
#     host, files.mastodon.example, as any image host in production: the
#     DNS server answers an address outside the ranges the proxy refuses,
#     added to lo of the private network namespace, where a second TLS
#     front listens on port 443 (without a network namespace of its own,
#     no image is fetched).
#     Then "check" and "lookup" as an operator runs them from a root shell
#     (README, Troubleshooting): the installed path, on a pseudo-terminal of
#     root's own (tests/e2e/pty_run.py; stdin, stdout and stderr, which
#     AppArmor checks at exec: listed for step 4), uid 0 without any
#     capability (the profile grants none); their checklist and answer must
#     appear on the terminal.
#  4. apparmor_parser -p expands the profile (includes, variables); its file
#     rules become regular expressions (AppArmor globbing: **, *, ?, {a,b},
#     [...], @{...} in every combination; a lone * or ** path component
#     matches at least one character) with their permissions (r w a m k l
#     x), deny rules and owner (the file's owner is the daemon's uid). Every
#     path the daemon's process tree touched from its execve on (open,
#     openat, stat family, access, readlink, rename, unlink, mkdir, mmap
#     PROT_EXEC, bind/connect to unix socket paths, operations on a socket
#     bound to a path, execve; plus the binary and the ELF interpreter the
#     kernel maps; symlinks, bind mounts and /proc/self resolved as the kernel
#     sees them, right after each run) must be allowed with the permission it
#     needed: r to read and to stat, w to write, create, rename (r too on the
#     source) and unlink, m to map code, x to run a program; owner rules for
#     files of the process's own uid. The inherited terminal must also be
#     refused to a process that does not own it (the service's dynamic
#     user), and the profile without its terminal rules must fail this step
#     (so the step can fail). Failed look-ups
#     (ENOENT: AppArmor never sees them) and accesses a deny rule refuses on
#     purpose are listed as notes.
#  5. Every socket family/type the daemon used (socket() and each later
#     operation) is allowed by a network rule, every unix socket operation
#     (create, connect, send, receive, accept, getattr, getopt, setopt; the
#     peer unconfined nginx/systemd/journald, or the daemon itself for
#     socketpair(); stdout/stderr count as the journal stream they are in
#     production) by a unix rule; no call failed with EPERM or EACCES.
#  6. The profile's own rules that no access used are listed (not a failure).
#
# MC_AA_TRACE_VERBOSE=1 lists every traced path and the rules used;
# MC_AA_TRACE_KEEP=DIR keeps the traces; MC_AA_TRACE_PROFILE=FILE checks
# another profile (a mutated copy must fail).
#
# Needs: root (unshare, mount), strace, apparmor_parser, python3, curl,
# openssl, setpriv, systemd-socket-activate, the built binary (MC_BIN,
# default target/debug/mastodon-comments; cargo build if missing). Skips only
# without unshare or strace. Takes about 20 seconds.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MC_BIN=${MC_BIN:-$ROOT/target/debug/mastodon-comments}
case $MC_BIN in /*) ;; *) MC_BIN=$ROOT/$MC_BIN ;; esac
# MC_AA_TRACE_PROFILE: check another profile (e.g. a mutated copy, to see the check fail).
PROFILE=${MC_AA_TRACE_PROFILE:-$ROOT/apparmor/usr.local.bin.mastodon-comments}
SCENARIO=$ROOT/tests/fixtures/mastodon/a-simple-thread
ARTICLE=/2026/07/01/slow-bread
INSTALLED=/usr/local/bin/mastodon-comments
DAEMON_UID=61184

. "$ROOT/tests/e2e/lib.sh"

# ---------------------------------------------------------------------------
# Outside the namespace: checks, the binary, then the same script inside a
# private mount namespace; the temporary directory is removed after it.
# ---------------------------------------------------------------------------
if [ -z "${MC_AA_TRACE_NS:-}" ]; then
    if ! command -v strace >/dev/null; then
        echo "ok   - skipped: strace is not installed (apt-get install strace)"
        echo "1 passed, 0 failed"
        exit 0
    fi
    if ! command -v unshare >/dev/null; then
        echo "ok   - skipped: unshare is not installed (util-linux)"
        echo "1 passed, 0 failed"
        exit 0
    fi
    [ "$(id -u)" = 0 ] || { echo "run as root (unshare -m, mount, setpriv)" >&2; echo "0 passed, 1 failed"; exit 1; }
    if ! unshare -m --propagation private true 2>/dev/null; then
        echo "ok   - skipped: unshare -m is not permitted here (no CAP_SYS_ADMIN)"
        echo "1 passed, 0 failed"
        exit 0
    fi
    require_tools apparmor_parser python3 curl setpriv systemd-socket-activate timeout mount umount openssl
    if [ ! -x "$MC_BIN" ] && [ "$MC_BIN" = "$ROOT/target/debug/mastodon-comments" ]; then
        echo "# building $MC_BIN (cargo build; waits for the cargo lock if another build holds it)"
        (cd "$ROOT" && cargo build --quiet --bin mastodon-comments) || { echo "cargo build failed" >&2; echo "0 passed, 1 failed"; exit 1; }
    fi
    require_binary
    TMP=$(mktemp -d /tmp/mc-e2e-apparmor-trace.XXXXXX)
    rc=0
    # Everything below runs in the namespace, bounded as a whole; with its
    # own network namespace too where permitted (only a loopback interface,
    # port 53 free for the stand-in DNS server).
    NETNS=-n
    unshare -m -n --propagation private true 2>/dev/null || NETNS=
    MC_AA_TRACE_NS=1 MC_AA_TRACE_NETNS=${NETNS:+1} MC_AA_TRACE_TMP=$TMP MC_BIN=$MC_BIN \
        timeout -k 5 55 unshare -m $NETNS --propagation private bash "${BASH_SOURCE[0]}" "$@" || rc=$?
    if [ "$rc" = 137 ]; then   # killed: no tally from inside
        echo "FAIL - the test did not finish within 60 s"
        echo "0 passed, 1 failed"
    fi
    rm -rf "$TMP"
    exit "$rc"
fi

# ---------------------------------------------------------------------------
# Inside the namespace.
# ---------------------------------------------------------------------------
TMP=$MC_AA_TRACE_TMP
PIDS=()
DAEMON_PID=
STRACE_PID=

cleanup() {
    local rc=$? i
    set +e
    [ -n "$DAEMON_PID" ] && kill -TERM "$DAEMON_PID" 2>/dev/null
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop "${PIDS[i]}"; done
    if [ "$rc" -ne 0 ] && [ "$FAIL" -eq 0 ]; then FAIL=1; fi
    if [ -n "${MC_AA_TRACE_KEEP:-}" ]; then mkdir -p "$MC_AA_TRACE_KEEP" && cp -r "$TMP/trace" "$TMP"/*.out "$TMP"/*.log "$TMP/profile.pp" "$MC_AA_TRACE_KEEP/" 2>/dev/null; fi
    if [ "$FAIL" -gt 0 ]; then
        rc=1
        dump_logs
    fi
    echo "$PASS passed, $FAIL failed"
    exit "$rc"
}
trap cleanup EXIT
trap 'bad "interrupted (the 55 s limit?)"; exit 130' INT TERM

# --- 1. production paths --------------------------------------------------------------
if [ -n "${MC_AA_TRACE_NETNS:-}" ]; then
    # The new network namespace's loopback interface, up (no ip(8) needed).
    python3 -c '
import fcntl, socket, struct
s = socket.socket()
flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0))[:18])[1]   # SIOCGIFFLAGS
fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 1))                                 # SIOCSIFFLAGS, IFF_UP
' || { bad "cannot bring up lo in the network namespace"; exit 1; }
    NETWORK="a private network namespace (loopback only)"
else
    echo "# note: unshare -n is not permitted: the host's network namespace, loopback addresses only"
    NETWORK="the host's network namespace"
fi
mkdir -p "$TMP/ns"
mount -t tmpfs -o mode=0755 mc-aa-trace "$TMP/ns"
N_OVERLAY=0
# Makes DIR writable in this namespace only: an overlay (lower: DIR, upper:
# the tmpfs). Mounts below DIR would be hidden by it; they are set aside
# first and mounted again on top.
overlay_dir() { # dir
    local d=$1 n i m
    N_OVERLAY=$((N_OVERLAY + 1))
    n=$TMP/ns/o$N_OVERLAY
    mkdir -p "$n/upper" "$n/work" "$n/stage"
    local subs=()
    while read -r m; do subs+=("$m"); done < <(awk -v d="$d/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -u)
    for i in "${!subs[@]}"; do
        if [ -d "${subs[i]}" ]; then mkdir "$n/stage/$i"; else : >"$n/stage/$i"; fi
        mount --bind "${subs[i]}" "$n/stage/$i"
    done
    mount -t overlay "mc-aa-trace-o$N_OVERLAY" -o "lowerdir=$d,upperdir=$n/upper,workdir=$n/work" "$d"
    for i in "${!subs[@]}"; do mount --bind "$n/stage/$i" "${subs[i]}"; done
}
ensure() { # path dir|file: a mount point at path (an overlay on its parent if missing)
    [ -e "$1" ] && return 0
    local parent
    parent=$(dirname "$1")
    while [ ! -d "$parent" ]; do parent=$(dirname "$parent"); done
    [ "$(stat -f -c %T "$parent")" = overlayfs ] || overlay_dir "$parent"
    if [ "$2" = dir ]; then mkdir -p "$1"; else mkdir -p "$(dirname "$1")"; : >"$1"; fi
}
# /run and /var/lib are always overlays here: the daemon's socket and the
# notify socket are created in /run; run 2 changes /var/lib.
overlay_dir /run
overlay_dir /var/lib   # run 2 replaces /var/lib/mastodon-comments by a symlink
ensure /etc/mastodon-comments dir
ensure /var/lib/mastodon-comments dir
ensure /run/credentials/mastodon-comments.service dir
ensure /run/systemd dir
ensure "$INSTALLED" file

STANDIN_PORT=$(free_port)
mkdir -m 0755 "$TMP/etc"
cat >"$TMP/etc/config.json" <<EOF
{"url": "http://127.0.0.1:$STANDIN_PORT", "userid": "109308551561216011",
 "blog_url": "https://blog.example.org", "path_pattern": "^/20[0-9]{2}/", "proxy_media": true}
EOF
chmod 0644 "$TMP/etc/config.json"
printf 'e2e-token' >"$TMP/etc/token"          # read by systemd only
chmod 0600 "$TMP/etc/token"
mkdir -m 0700 "$TMP/state" "$TMP/credentials"
printf 'e2e-token' >"$TMP/credentials/token"  # what LoadCredential= makes of it
chmod 0400 "$TMP/credentials/token"
chown -R "$DAEMON_UID:$DAEMON_UID" "$TMP/state" "$TMP/credentials"
chmod 0500 "$TMP/credentials"
mount --bind "$TMP/etc" /etc/mastodon-comments
mount --bind "$TMP/state" /var/lib/mastodon-comments
mount --bind "$TMP/credentials" /run/credentials/mastodon-comments.service
mount --bind "$MC_BIN" "$INSTALLED"
rm -f /run/systemd/notify   # in the overlay only
if cmp -s "$INSTALLED" "$MC_BIN" && [ "$(stat -c %i /etc/mastodon-comments)" = "$(stat -c %i "$TMP/etc")" ] \
    && [ "$(stat -c %i /var/lib/mastodon-comments)" = "$(stat -c %i "$TMP/state")" ]; then
    ok "namespace: /etc/mastodon-comments, /var/lib/mastodon-comments, /run/credentials/…, $INSTALLED in place; $NETWORK"
else
    bad "namespace: the bind mounts are not in place"
    exit 1
fi

# --- helpers: FastCGI client, notify receiver -------------------------------------------
# The shared FastCGI client (tests/e2e/fcgi.py; responder role, one request
# per connection, as nginx sends it with fastcgi_params). Prints "STATUS
# COMMENTS" (COMMENTS: the number of comments in the JSON answer, "error"
# for an error answer, or -).
fcgi() { # method uri [body]
    timeout 15 python3 "$ROOT/tests/e2e/fcgi.py" --timeout 10 --content-type application/json \
        --print status,comments-or-error /run/mastodon-comments.sock "$@" || echo "000 - timeout"
}

# The Python helpers live next to this script: dns_stub.py, tls_proxy.py,
# strace_files.py (the trace -> accesses), apparmor_check.py (accesses ->
# the profile's rules). python3 -B: their imports leave no __pycache__ in
# the source tree.

# --- the stand-in Mastodon (not traced) ---------------------------------------------------
"$MC_BIN" stand-in --fixtures "$SCENARIO" --listen "127.0.0.1:$STANDIN_PORT" >"$TMP/stand-in.log" 2>&1 &
PIDS+=($!)
wait_until 15 "curl -sf -o /dev/null http://127.0.0.1:$STANDIN_PORT/__stand-in/calls" \
    || { bad "stand-in did not come up on 127.0.0.1:$STANDIN_PORT"; exit 1; }
mode() { curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$STANDIN_PORT/__stand-in/mode?set=$1"; }

timeout 50 python3 "$ROOT/tests/e2e/notify.py" /run/systemd/notify "$TMP/notify.out" 45 &
PIDS+=($!)
wait_until 5 "[ -S /run/systemd/notify ]" || { bad "notify socket not created"; exit 1; }

# --- 2. the daemon under strace, as systemd starts it ---------------------------------------
mkdir "$TMP/trace"
cd /
# systemd-socket-activate (root, like systemd) binds the socket, then execs
# setpriv, which drops to the service's uid and capabilities and execs the
# installed binary: the same pid throughout (LISTEN_PID matches).
start_daemon() { # run name (trace directory, log file)
    rm -f /run/mastodon-comments.sock   # in the overlay only
    mkdir -p "$TMP/trace/$1"
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        strace -f -ff -yy -s 256 -qq -o "$TMP/trace/$1/t" \
        systemd-socket-activate -l /run/mastodon-comments.sock \
            -E NOTIFY_SOCKET=/run/systemd/notify -E WATCHDOG_USEC=2000000 \
            -E STATE_DIRECTORY=/var/lib/mastodon-comments \
            -E CREDENTIALS_DIRECTORY=/run/credentials/mastodon-comments.service \
            -E INVOCATION_ID=0123456789abcdef0123456789abcdef \
            setpriv --reuid="$DAEMON_UID" --regid="$DAEMON_UID" --clear-groups \
                --inh-caps=-all --bounding-set=-all --no-new-privs \
                "$INSTALLED" /etc/mastodon-comments/config.json \
        >"$TMP/daemon-$1.log" 2>&1 &
    STRACE_PID=$!
    PIDS+=("$STRACE_PID")
    wait_until 10 "[ -S /run/mastodon-comments.sock ]" || { bad "$1: socket /run/mastodon-comments.sock not created"; exit 1; }
    wait_until 10 "[ -n \"\$(ps -o pid= --ppid $STRACE_PID)\" ]" || { bad "$1: no process under strace"; exit 1; }
    DAEMON_PID=$(ps -o pid= --ppid "$STRACE_PID" | head -n 1 | tr -d ' ')
}
stop_daemon() { # run name: stops it, then records its accesses (paths resolved now)
    local rc=0
    kill -TERM "$DAEMON_PID"
    if timeout 15 tail --pid="$STRACE_PID" -f /dev/null; then
        wait "$STRACE_PID" || rc=$?   # strace exits with the daemon's status
        expect "$1: SIGTERM: exit status 0" 0 "$rc"
    else
        bad "$1: SIGTERM: still running after 15 s"
    fi
    DAEMON_PID=
    python3 -B "$ROOT/tests/e2e/strace_files.py" "$TMP/trace/$1" "$INSTALLED" "$DAEMON_UID" "$TMP/$1.json" >"$TMP/extract-$1.out" 2>&1 \
        || bad "$1: reading the trace failed: $(tail -n 3 "$TMP/extract-$1.out")"
}
expect() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi; }

# --- 3. requests: run 1, state directory bind-mounted on /var/lib/mastodon-comments -------------
start_daemon run1
expect "run1: GET $ARTICLE/comments.json: 200, 5 comments" "200 5" "$(fcgi GET "$ARTICLE/comments.json")"
# proxy_media: the image key made at start in the state directory (written
# to a temporary file, renamed), and the answer's avatars on the blog's
# origin, under the image proxy's path.
timeout 15 python3 "$ROOT/tests/e2e/fcgi.py" --timeout 10 --print status --body-out "$TMP/answer1.json" \
    /run/mastodon-comments.sock GET "$ARTICLE/comments.json" >/dev/null 2>&1 || true
AVATAR=$(python3 -c '
import json, sys, urllib.parse
a = json.load(open(sys.argv[1]))
u = urllib.parse.urlsplit(next(iter(a["comments"].values()))["author"]["avatar"])
print(u.path if u.netloc == "blog.example.org" and u.path.startswith("/comments-media/") else "")' "$TMP/answer1.json" 2>/dev/null || true)
if [ -n "$AVATAR" ]; then ok "run1: proxy_media: the answer's avatars are on the blog's origin, under /comments-media/"; else bad "run1: proxy_media: no proxied avatar in the answer"; fi
if [ "$(stat -c '%s %a %u' "$TMP/state/media.key" 2>/dev/null)" = "32 600 $DAEMON_UID" ] \
    && [ -z "$(find "$TMP/state" -name '.media.key.tmp-*')" ]; then
    ok "run1: proxy_media: the image key made in \$STATE_DIRECTORY/media.key (32 bytes, 0600, the daemon's; no temporary file left)"
else
    bad "run1: proxy_media: no image key in \$STATE_DIRECTORY/media.key ($(ls -lA "$TMP/state"))"
fi
KEY_SUM=$(sha256sum <"$TMP/state/media.key" 2>/dev/null || true)
expect "run1: proxy_media: a forged image token: 404" "404" "$(fcgi GET /comments-media/i.AAAA.aHR0cHM6Ly94LmV4YW1wbGUvYS5wbmc | cut -d' ' -f1)"
if wait_until 10 "grep -q READY=1 '$TMP/notify.out'"; then ok "run1: READY=1 on /run/systemd/notify"; else bad "run1: no READY=1 on /run/systemd/notify"; fi
expect "run1: the same again (the daemon's cache): 200, 5 comments" "200 5" "$(fcgi GET "$ARTICLE/comments.json")"
expect "run1: ?search= query: 200, 5 comments" "200 5" "$(fcgi GET "/any/comments.json?search=$ARTICLE/")"
expect "run1: ?search=notapath: 400" "400 error" "$(fcgi GET "/2026/07/01/x/comments.json?search=notapath")"
expect "run1: outside path_pattern: 404" "404 error" "$(fcgi GET /about/comments.json)"
expect "run1: POST: 405" "405 error" "$(fcgi POST "$ARTICLE/comments.json" '{}')"
mode error
expect "run1: Mastodon failing, a post never seen: 503" "503 error" "$(fcgi GET /2026/07/03/never-seen/comments.json)"
mode ok
if wait_until 10 "[ -s '$TMP/state/state.json' ]" \
    && python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$TMP/state/state.json" 2>/dev/null; then
    ok "run1: state written to \$STATE_DIRECTORY/state.json (parses)"
else
    bad "run1: no state.json in \$STATE_DIRECTORY (contents: $(ls -A "$TMP/state"))"
fi
if wait_until 5 "grep -q WATCHDOG=1 '$TMP/notify.out'"; then ok "run1: WATCHDOG=1 pings"; else bad "run1: no WATCHDOG=1 with WATCHDOG_USEC=2000000"; fi
stop_daemon run1
if wait_until 5 "grep -q STOPPING=1 '$TMP/notify.out'"; then ok "run1: STOPPING=1 on SIGTERM"; else bad "run1: no STOPPING=1"; fi

# --- 3b. run 2, DynamicUser='s layout: $STATE_DIRECTORY=/var/lib/mastodon-comments is a symlink
# to private/mastodon-comments, /var/lib/private an empty tmpfs in the service's namespace with
# only its own directory in it. The state file of run 1 is read at start, the leftover temporary
# file of a write cut short is removed, a miss is added and written.
[ "$(stat -f -c %T /var/lib)" = overlayfs ] || { bad "run2: /var/lib is not the test's overlay"; exit 1; }
umount /var/lib/mastodon-comments
rm -rf /var/lib/mastodon-comments   # in the overlay only (checked just above)
mkdir -p /var/lib/private
mount -t tmpfs -o mode=0755 mc-aa-trace-private /var/lib/private
mkdir /var/lib/private/mastodon-comments
mount --bind "$TMP/state" /var/lib/private/mastodon-comments
ln -s private/mastodon-comments /var/lib/mastodon-comments
# The instance by name over HTTPS, as in production: https://mastodon.test:PORT.
# glibc resolves the name (files, then DNS over UDP) through a stand-in DNS
# server on 127.0.0.77 named in a resolv.conf bind-mounted on
# /etc/resolv.conf; it answers an A (127.0.0.1) and an AAAA (::1) record, so
# glibc sorts two addresses (gai.conf) and the daemon tries ::1 (nothing
# listens: refused) before 127.0.0.1. There a TLS front (python3 ssl, a
# certificate for mastodon.test from a test CA added to the CA bundle
# bind-mounted on /etc/ssl/certs/ca-certificates.crt) forwards to the
# stand-in Mastodon.
DNS_ADDR=127.0.0.77
printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$DNS_ADDR" >"$TMP/resolv.conf"
# The image proxy fetches the avatar of run 1 from its host,
# files.mastodon.example: over HTTPS, resolved by the stand-in DNS server to
# IMAGE_ADDR, an address outside every range the proxy refuses (so it
# connects), added to lo of the private network namespace only; another TLS
# front listens there on port 443.
IMAGE_HOST=files.mastodon.example
IMAGE_ADDR=
if [ -n "${MC_AA_TRACE_NETNS:-}" ] && python3 -c '
import fcntl, socket, struct
s = socket.socket()
addr = struct.pack("HH4s8s", socket.AF_INET, 0, socket.inet_aton("198.20.0.77"), b"")
fcntl.ioctl(s, 0x8916, struct.pack("16s", b"lo:1") + addr)                                   # SIOCSIFADDR
' 2>"$TMP/ifaddr.log"; then
    IMAGE_ADDR=198.20.0.77
else
    echo "# note: no address of its own for the image host ($(tail -n 1 "$TMP/ifaddr.log" 2>/dev/null)): run 2 fetches no image"
fi
timeout 40 python3 -B "$ROOT/tests/e2e/dns_stub.py" "$DNS_ADDR" "$TMP/dns.out" 35 ${IMAGE_ADDR:+"$IMAGE_HOST=$IMAGE_ADDR"} >"$TMP/dns.log" 2>&1 &
PIDS+=($!)
TLS=
if wait_until 5 "grep -q '^ready' '$TMP/dns.out' 2>/dev/null" && mount --bind "$TMP/resolv.conf" /etc/resolv.conf; then
    mkdir "$TMP/pki"
    (
        cd "$TMP/pki"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=mc-e2e test CA" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
            -keyout ca.key -out ca.pem
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=mastodon.test" -keyout server.key -out server.csr
        printf 'subjectAltName=DNS:mastodon.test,DNS:files.mastodon.example\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem
    ) >"$TMP/openssl.log" 2>&1 || { bad "run2: openssl could not make the test certificates: $(tail -n 3 "$TMP/openssl.log")"; exit 1; }
    BUNDLE=$(readlink -f /etc/ssl/certs/ca-certificates.crt)
    [ -f "$BUNDLE" ] || { bad "run2: no CA bundle /etc/ssl/certs/ca-certificates.crt (apt-get install ca-certificates)"; exit 1; }
    cat "$BUNDLE" "$TMP/pki/ca.pem" >"$TMP/ca-certificates.crt"
    mount --bind "$TMP/ca-certificates.crt" "$BUNDLE"
    TLS_PORT=$(free_port)
    timeout 40 python3 -B "$ROOT/tests/e2e/tls_proxy.py" "$TLS_PORT" "$STANDIN_PORT" "$TMP/pki/server.pem" "$TMP/pki/server.key" "$TMP/tls.out" 35 \
        >"$TMP/tls.log" 2>&1 &
    PIDS+=($!)
    wait_until 5 "grep -q '^ready' '$TMP/tls.out' 2>/dev/null" || { bad "run2: the TLS front did not start: $(tail -n 3 "$TMP/tls.log")"; exit 1; }
    sed -i "s#\"http://127.0.0.1:$STANDIN_PORT\"#\"https://mastodon.test:$TLS_PORT\"#" "$TMP/etc/config.json"
    if [ -n "$IMAGE_ADDR" ]; then
        timeout 40 python3 -B "$ROOT/tests/e2e/tls_proxy.py" "$IMAGE_ADDR:443" "$STANDIN_PORT" "$TMP/pki/server.pem" "$TMP/pki/server.key" "$TMP/tls-image.out" 35 \
            >"$TMP/tls-image.log" 2>&1 &
        PIDS+=($!)
        wait_until 5 "grep -q '^ready' '$TMP/tls-image.out' 2>/dev/null" || { bad "run2: the image host's TLS front did not start: $(tail -n 3 "$TMP/tls-image.log")"; exit 1; }
    fi
    TLS=yes
else
    echo "# note: no stand-in DNS server on $DNS_ADDR:53 ($(tail -n 1 "$TMP/dns.log" 2>/dev/null)): run 2 uses http://127.0.0.1 too"
fi
printf '{"roots":' >"$TMP/state/.state.json.tmp-1-0"
chown "$DAEMON_UID:$DAEMON_UID" "$TMP/state/.state.json.tmp-1-0"
start_daemon run2
expect "run2: GET $ARTICLE/comments.json: 200, 5 comments" "200 5" "$(fcgi GET "$ARTICLE/comments.json")"
expect "run2: a post not announced yet: 200, comments null" "200 -" "$(fcgi GET /2026/07/02/not-announced-yet/comments.json)"
if wait_until 10 "grep -q not-announced-yet '$TMP/state/state.json'"; then
    ok "run2: the miss written to state.json through the symlink"
else
    bad "run2: state.json does not hold the miss"
fi
if [ ! -e "$TMP/state/.state.json.tmp-1-0" ]; then ok "run2: the leftover temporary file removed at start"; else bad "run2: the leftover temporary file is still there"; fi
if grep -qE '\([1-9][0-9]* entries in /var/lib/mastodon-comments/state.json\)' "$TMP/daemon-run2.log"; then
    ok "run2: the state of run 1 read at start through the symlink"
else
    bad "run2: the state of run 1 was not read at start: $(grep -m1 'entries in' "$TMP/daemon-run2.log")"
fi
if wait_until 5 "[ \$(grep -c READY=1 '$TMP/notify.out') -ge 2 ]"; then ok "run2: READY=1"; else bad "run2: no READY=1"; fi
expect "run2: proxy_media: the image key of run 1 kept" "$KEY_SUM" "$(sha256sum <"$TMP/state/media.key" 2>/dev/null || true)"
if [ -n "$TLS" ] && [ -n "$IMAGE_ADDR" ] && [ -n "$AVATAR" ]; then
    # The token of run 1 still verifies; the stand-in has no such picture
    # and answers 404, which the proxy passes on as 404.
    expect "run2: proxy_media: run 1's avatar through the image proxy: fetched from its host, 404 there" "404" "$(fcgi GET "$AVATAR" | cut -d' ' -f1)"
    if grep -q "^query $IMAGE_HOST A$" "$TMP/dns.out" && grep -q "^handshake $IMAGE_HOST" "$TMP/tls-image.out"; then
        ok "run2: proxy_media: $IMAGE_HOST resolved by the stand-in DNS server, HTTPS to $IMAGE_ADDR:443, certificate verified"
    else
        bad "run2: proxy_media: no DNS query or TLS handshake for $IMAGE_HOST: $(tr '\n' ' ' <"$TMP/dns.out") / $(tr '\n' ' ' <"$TMP/tls-image.out" 2>/dev/null)"
    fi
fi
if [ -n "$TLS" ]; then
    if grep -q '^query mastodon.test A$' "$TMP/dns.out" && grep -q '^query mastodon.test AAAA$' "$TMP/dns.out"; then
        ok "run2: mastodon.test resolved over UDP by the stand-in DNS server (A and AAAA queries)"
    else
        bad "run2: the stand-in DNS server saw no A and AAAA query for mastodon.test: $(tr '\n' ' ' <"$TMP/dns.out")"
    fi
    if grep -q '^handshake mastodon.test' "$TMP/tls.out"; then
        ok "run2: HTTPS to the instance: TLS handshakes for mastodon.test, certificate verified against the CA bundle ($(grep -c '^handshake' "$TMP/tls.out"))"
    else
        bad "run2: no TLS handshake for mastodon.test: $(tr '\n' ' ' <"$TMP/tls.out")"
    fi
fi
stop_daemon run2

# --- 3c. check and lookup, as an operator runs them from a root shell: the same installed path
# (the profile attaches to it), on a terminal of root's own (tests/e2e/pty_run.py: a new
# pseudo-terminal, the command's controlling terminal and its stdin, stdout and stderr), the
# token read as README, Troubleshooting says (CREDENTIALS_DIRECTORY=/etc/mastodon-comments).
# Root without any capability (empty bounding set): the profile grants none, so a file only
# root's capabilities could open fails here as it would under the profile.
cli() { # run name, arguments...: traced; the terminal's transcript in $TMP/NAME.tty
    local name=$1 rc=0
    shift
    mkdir -p "$TMP/trace/$name"
    timeout 40 python3 -B "$ROOT/tests/e2e/pty_run.py" "$TMP/$name.tty" "$TMP/$name.fds" 30 \
        env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=xterm HOME=/root \
            CREDENTIALS_DIRECTORY=/etc/mastodon-comments \
        strace -f -ff -yy -s 256 -qq -o "$TMP/trace/$name/t" \
        setpriv --inh-caps=-all --bounding-set=-all \
            "$INSTALLED" "$@" >"$TMP/$name.log" 2>&1 || rc=$?
    python3 -B "$ROOT/tests/e2e/strace_files.py" "$TMP/trace/$name" "$INSTALLED" 0 "$TMP/$name.json" "$TMP/$name.fds" \
        >"$TMP/extract-$name.out" 2>&1 || bad "$name: reading the trace failed: $(tail -n 3 "$TMP/extract-$name.out")"
    return "$rc"
}
rc=0
cli cli-check check --config /etc/mastodon-comments/config.json || rc=$?
expect "check from a root shell: exit status 0 (everything needed works)" 0 "$rc"
if grep -q '^ok    config: /etc/mastodon-comments/config.json is valid: .*, with a token' "$TMP/cli-check.tty" \
    && grep -q '^ok    scopes: ' "$TMP/cli-check.tty" && grep -q '^everything needed works' "$TMP/cli-check.tty"; then
    ok "check from a root shell: its checklist on the terminal ($(grep -c '^ok ' "$TMP/cli-check.tty") ok lines; the token read from /etc/mastodon-comments/token)"
else
    bad "check from a root shell: no checklist on the terminal: $(head -c 600 "$TMP/cli-check.tty" | tr '\r\n' '  ')"
fi
rc=0
cli cli-lookup lookup --config /etc/mastodon-comments/config.json "$ARTICLE" || rc=$?
expect "lookup from a root shell: exit status 0 (a 200)" 0 "$rc"
if grep -q '"comments": {' "$TMP/cli-lookup.tty" && grep -q '^status 200; root post 116843781319371281' "$TMP/cli-lookup.tty"; then
    ok "lookup from a root shell: the JSON answer (stdout) and the verdict (stderr) on the terminal"
else
    bad "lookup from a root shell: not on the terminal: $(head -c 600 "$TMP/cli-lookup.tty" | tr '\r\n' '  ')"
fi

# --- 4.-6. the trace against the profile ----------------------------------------------------------
if timeout 30 apparmor_parser -p "$PROFILE" >"$TMP/profile.pp" 2>"$TMP/parser.out"; then
    ok "apparmor_parser -p expands the profile ($(apparmor_parser --version | head -n 1))"
else
    bad "apparmor_parser -p: $(cat "$TMP/parser.out")"
    exit 1
fi


python3 -B "$ROOT/tests/e2e/apparmor_check.py" "$TMP/profile.pp" "$PROFILE" "$DAEMON_UID" "$TMP"/run*.json "$TMP"/cli-*.json >"$TMP/check.out" 2>&1 \
    || bad "the trace check crashed: $(tail -n 5 "$TMP/check.out")"
while IFS= read -r line; do
    case $line in
        "OK "*) ok "${line#OK }" ;;
        "FAIL "*) bad "${line#FAIL }" ;;
        "NOTE "*) echo "# note: ${line#NOTE }" ;;
        "PATH "*) [ -n "${MC_AA_TRACE_VERBOSE:-}" ] && echo "#   traced: ${line#PATH }" ;;
        "USED "*) [ -n "${MC_AA_TRACE_VERBOSE:-}" ] && echo "#   used rule: ${line#USED }" ;;
        "UNUSED "*) echo "# not exercised by this run: ${line#UNUSED }" ;;
        "    "*) echo "$line" ;;
    esac
done <"$TMP/check.out"

# The check sees a terminal the profile does not allow: the same runs against the profile without
# its terminal rules must fail on the inherited terminal (else the terminal checks above prove nothing).
grep -vE '^[[:space:]]*owner /dev/(pts|\{tty)' "$PROFILE" >"$TMP/no-terminal.profile"
if timeout 30 apparmor_parser -p "$TMP/no-terminal.profile" >"$TMP/no-terminal.pp" 2>"$TMP/no-terminal-parser.out" \
    && python3 -B "$ROOT/tests/e2e/apparmor_check.py" "$TMP/no-terminal.pp" "$TMP/no-terminal.profile" "$DAEMON_UID" "$TMP"/cli-*.json \
        >"$TMP/no-terminal-check.out" 2>&1 \
    && grep -qE '^FAIL file accesses .*NOT allowed:' "$TMP/no-terminal-check.out" \
    && grep -qE '^    /dev/pts/[0-9]+ rw \[inherited fd [0-9]+, checked at exec\]: needs rw$' "$TMP/no-terminal-check.out"; then
    ok "without its terminal rules the profile fails this check: the inherited terminal is not allowed"
else
    bad "the profile without its terminal rules was not caught: $(grep -E '^(FAIL|    )' "$TMP/no-terminal-check.out" 2>/dev/null | head -n 5 | tr '\n' ' ')$(cat "$TMP/no-terminal-parser.out" 2>/dev/null)"
fi

[ "$FAIL" -eq 0 ]
