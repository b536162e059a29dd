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
#     WATCHDOG=1, STOPPING=1; SIGTERM, exit status 0.
#     Run 2, DynamicUser='s layout: /var/lib/mastodon-comments a symlink to
#     private/mastodon-comments on an empty /var/lib/private; the state of
#     run 1 read, a leftover temporary file removed, a miss written. The
#     instance is https://mastodon.test:PORT, as in production: glibc
#     resolves it (files, then DNS over UDP to a stand-in DNS server on
#     127.0.0.77 named by a resolv.conf bind-mounted on /etc/resolv.conf; A
#     and AAAA records, so two addresses are sorted and ::1 is tried first),
#     rustls verifies a TLS front's certificate against the system CA bundle
#     (a test CA appended to a copy bind-mounted on
#     /etc/ssl/certs/ca-certificates.crt).
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
#     source) and unlink, m to map code, x to run a program. Failed look-ups
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
# without unshare or strace. Takes about 7 seconds.

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
 "blog_url": "https://blog.example.org", "path_pattern": "^/20[0-9]{2}/"}
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

cat >"$TMP/dns.py" <<'PY'
# A stand-in DNS server (UDP): mastodon.test has A 127.0.0.1 and AAAA ::1;
# every other name is NXDOMAIN. Logs "query NAME TYPE" lines.
import socket, struct, sys, time
addr, out, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, 53))
s.settimeout(0.2)
log = open(out, "a", buffering=1)
log.write("ready\n")
TYPES = {1: "A", 28: "AAAA"}
end = time.monotonic() + limit
while time.monotonic() < end:
    try:
        data, peer = s.recvfrom(512)
    except socket.timeout:
        continue
    try:
        qid, = struct.unpack(">H", data[:2])
        i, labels = 12, []
        while data[i]:
            labels.append(data[i + 1:i + 1 + data[i]].decode("ascii", "replace"))
            i += 1 + data[i]
        qtype, _ = struct.unpack(">HH", data[i + 1:i + 5])
        question = data[12:i + 5]
    except (IndexError, struct.error):
        continue
    name = ".".join(labels).lower()
    log.write("query %s %s\n" % (name, TYPES.get(qtype, qtype)))
    answer, count, rcode = b"", 0, 0
    if name == "mastodon.test":
        if qtype == 1:
            answer, count = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("127.0.0.1"), 1
        elif qtype == 28:
            answer, count = b"\xc0\x0c" + struct.pack(">HHIH", 28, 1, 60, 16) + socket.inet_pton(socket.AF_INET6, "::1"), 1
    else:
        rcode = 3
    s.sendto(struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, count, 0, 0) + question + answer, peer)
PY

cat >"$TMP/tls.py" <<'PY'
# A TLS front for the stand-in Mastodon: 127.0.0.1:PORT, the certificate
# given, each connection forwarded to 127.0.0.1:TARGET. Logs "handshake SNI".
import socket, ssl, sys, threading, time
port, target, cert, key, out, limit = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6])
log = open(out, "a", buffering=1)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
names = {}
def on_sni(sock, name, _ctx):
    names[id(sock)] = name
ctx.sni_callback = on_sni
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(16)
ls.settimeout(0.2)
log.write("ready\n")
def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for x in (a, b):
        try:
            x.close()
        except OSError:
            pass
def serve(raw):
    try:
        raw.settimeout(10)
        c = ctx.wrap_socket(raw, server_side=True)
        log.write("handshake %s %s\n" % (names.pop(id(c), None) or "-", c.version()))
        c.settimeout(None)
        u = socket.create_connection(("127.0.0.1", target), 5)
    except (OSError, ssl.SSLError) as e:
        log.write("error %s\n" % e)
        raw.close()
        return
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
    pump(c, u)
end = time.monotonic() + limit
while time.monotonic() < end:
    try:
        raw, _ = ls.accept()
    except socket.timeout:
        continue
    threading.Thread(target=serve, args=(raw,), daemon=True).start()
PY

cat >"$TMP/check.py" <<'PY'
"""The daemon's accesses against the AppArmor profile.

  check.py extract TRACE_DIR INSTALLED UID OUT.json
      reads an strace -f -ff -yy trace (one file per process, RUN.PID) and
      writes what the daemon (the process tree from its execve of INSTALLED
      on) did: paths with the permission each access needs (resolved now, as
      the kernel resolved them, so run it right after the run), sockets.
  check.py check PREPROCESSED_PROFILE PROFILE UID RUN.json...
      checks that against the rules of apparmor_parser -p output. Prints
      OK/FAIL/NOTE lines, and PATH/USED/UNUSED lines for the report.
"""
import json, os, re, sys

PROFILE_NAME = "mastodon-comments"


# ============================================================ extract ====

def split_args(s):
    """Top-level arguments of an strace line ("->" in socket decorations is
    not a closing bracket)."""
    args, cur, depth, q, i = [], [], 0, False, 0
    while i < len(s):
        c = s[i]
        if q:
            cur.append(c)
            if c == "\\" and i + 1 < len(s):
                cur.append(s[i + 1]); i += 1
            elif c == '"':
                q = False
        elif c == '"':
            q = True; cur.append(c)
        elif c in "([{<":
            depth += 1; cur.append(c)
        elif c in ")]}>" and not (c == ">" and i > 0 and s[i - 1] == "-"):
            depth -= 1; cur.append(c)
        elif c == "," and depth == 0:
            args.append("".join(cur).strip()); cur = []
        else:
            cur.append(c)
        i += 1
    if cur or args:
        args.append("".join(cur).strip())
    return args


def unescape(s):
    """strace's escapes (\\ooo octal bytes, \\n, ...) -> str."""
    if "\\" not in s:
        return s
    raw = s.encode("latin-1", "backslashreplace").decode("unicode_escape")
    return raw.encode("latin-1").decode("utf-8", "replace")


def unquote(a):
    """strace string literal -> str (None if not a string)."""
    m = re.match(r'^"(.*)"(\.\.\.)?$', a or "", re.S)
    return unescape(m.group(1)) if m else None


def deco(a):
    """'3</path>' -> ('3', '/path'); 'AT_FDCWD</>' -> ('AT_FDCWD', '/')."""
    m = re.match(r"^([^<]*)<(.*)>$", a or "", re.S)
    return (m.group(1), m.group(2)) if m else (a, None)


def inode_of(d):
    m = re.match(r"^[\w-]+:\[(?:[A-Z_]+:)?(\d+)", d or "")   # UNIX:[123...], NETLINK:[ROUTE:123]
    return int(m.group(1)) if m else None


LINE = re.compile(r"^(\w+)\((.*)\)\s+=\s+(\S+?)(<.*?>)?(?:\s+(E[A-Z0-9]+)\s+\(.*\))?(?:\s+\(.*\))?$", re.S)

# path-taking calls AppArmor mediates as getattr (r) or setattr (w):
# name -> (index of the dirfd argument or None, index of the path, permission)
PATHCALLS = {
    "stat": (None, 0, "r"), "lstat": (None, 0, "r"), "newfstatat": (0, 1, "r"), "fstatat64": (0, 1, "r"),
    "statx": (0, 1, "r"), "access": (None, 0, "r"), "faccessat": (0, 1, "r"), "faccessat2": (0, 1, "r"),
    "readlink": (None, 0, "r"), "readlinkat": (0, 1, "r"),
    "truncate": (None, 0, "w"), "chmod": (None, 0, "w"), "fchmodat": (0, 1, "w"), "chown": (None, 0, "w"),
    "lchown": (None, 0, "w"), "fchownat": (0, 1, "w"), "utimensat": (0, 1, "w"), "utimes": (None, 0, "w"),
}
NOFOLLOW = {"lstat", "readlink", "readlinkat", "lchown"}
FDCALLS = {"fstat": "r", "fchmod": "w", "fchown": "w", "ftruncate": "w"}
SOCKIO = {"read": "receive", "readv": "receive", "recvfrom": "receive", "recvmsg": "receive",
          "recvmmsg": "receive", "write": "send", "writev": "send", "sendto": "send", "sendmsg": "send",
          "sendmmsg": "send", "getsockopt": "getopt", "setsockopt": "setopt", "getsockname": "getattr",
          "getpeername": "getattr", "shutdown": "shutdown", "listen": "listen", "accept": "accept",
          "accept4": "accept", "connect": "connect", "bind": "bind"}
PRIVILEGED = {"ptrace", "mount", "umount2", "pivot_root", "chroot", "setuid", "setgid", "setresuid", "setresgid",
              "setgroups", "capset", "init_module", "finit_module", "bpf", "perf_event_open", "io_uring_setup",
              "unshare", "setns", "personality", "iopl", "ioperm", "reboot", "swapon", "settimeofday",
              "clock_settime", "adjtimex", "mknod", "mknodat", "keyctl", "add_key", "process_vm_readv",
              "process_vm_writev", "kcmp", "quotactl", "sethostname", "setdomainname", "acct"}


def extract(trace_dir, installed, daemon_uid, out_file):
    daemon_uid = int(daemon_uid)
    res = {"summary": [], "notes": [], "accesses": [], "sockets": [], "unix": [], "failed": [], "execs": []}
    calls, children, unparsed = {}, {}, 0
    for f in sorted(os.listdir(trace_dir)):
        if not re.fullmatch(r"[\w-]+\.\d+", f):
            continue
        pid = int(f.rsplit(".", 1)[1])
        lines, pending = [], None
        for raw in open(os.path.join(trace_dir, f), encoding="latin-1"):
            raw = raw.rstrip("\n")
            if raw.endswith("<unfinished ...>"):
                pending = raw[: -len("<unfinished ...>")].rstrip()
                continue
            m = re.match(r"^<\.\.\. \w+ resumed>\s?(.*)$", raw)
            if m and pending is not None:
                raw, pending = pending + m.group(1), None
            if raw.startswith(("---", "+++")):
                continue
            m = LINE.match(raw)
            if m:
                lines.append(m.groups())
            elif not re.match(r"^(exit|exit_group)\(", raw):
                lines.append(("?", raw, "?", None, None))
        calls[pid] = lines
        for name, args, ret, rdeco, err in lines:
            if name in ("clone", "clone3", "fork", "vfork") and ret.isdigit():
                children.setdefault(pid, []).append(int(ret))

    # The daemon: the process that execs the installed binary (AppArmor
    # attaches the profile there), its threads and children.
    start = {}
    for pid, lines in calls.items():
        for i, (name, args, ret, rdeco, err) in enumerate(lines):
            if name == "execve" and ret == "0" and unquote(split_args(args)[0]) == installed:
                start[pid] = i
    if len(start) != 1:
        res["summary"].append(["FAIL", "%d successful execve(%s) in %s, expected 1" % (len(start), installed, trace_dir)])
        json.dump(res, open(out_file, "w"))
        return
    root = next(iter(start))
    scope = [root]
    i = 0
    while i < len(scope):
        for c in children.get(scope[i], []):
            if c in calls and c not in scope:
                scope.append(c)
        i += 1
    n_calls = sum(len(calls[p]) - start.get(p, 0) for p in scope)
    res["summary"].append(["OK", "%s: traced the daemon (pid %d, %d threads/children), %d system calls from its execve on"
                           % (os.path.basename(trace_dir), root, len(scope) - 1, n_calls)])
    mine = set(scope)

    def resolve_proc(path, pid):
        path = re.sub(r"^/proc/self(?=/|$)", "/proc/%d" % root, path)
        return re.sub(r"^/proc/thread-self(?=/|$)", "/proc/%d/task/%d" % (root, pid), path)

    def full(dirarg, p, pid):
        if p is None:
            return None
        if not p.startswith("/"):
            d = unescape(deco(dirarg)[1] or "") if dirarg else "/"
            if not d or not d.startswith("/"):
                d = "/"   # the daemon runs in / and never changes directory
            p = d.rstrip("/") + "/" + p if p else d
        return resolve_proc(os.path.normpath(p), pid)

    def owner(kp, created):
        m = re.match(r"^/proc/(\d+)", kp)
        if m:
            return daemon_uid if int(m.group(1)) in mine else 0
        try:
            return os.lstat(kp.rstrip("/") or "/").st_uid
        except OSError:
            return daemon_uid if created else None

    def add(path, perms, what, pid, ok=True, created=False, follow=True, decorated=None, isdir=False):
        if not path or not path.startswith("/"):
            return
        if decorated:   # a path shown in an fd decoration, escaped like strings
            if path == decorated:
                path = unescape(decorated)
            decorated = unescape(decorated)
        if decorated and decorated.startswith("/") and ok:
            kp = resolve_proc(re.sub(r" \(deleted\)$", "", decorated), pid)   # what the kernel opened
        elif path.startswith("/proc/"):
            kp = path
        elif follow:
            kp = os.path.realpath(path)
        else:
            head, tail = os.path.split(path)
            kp = os.path.join(os.path.realpath(head), tail)
        # AppArmor names directories with a trailing slash.
        if isdir or (not kp.startswith("/proc/") and os.path.isdir(kp)) \
                or re.fullmatch(r"/proc/\d+(/task/\d+)?(/fd|/fdinfo|/net|/attr|/ns)?", kp):
            kp = kp.rstrip("/") + "/"
        res["accesses"].append({"path": kp, "as": path, "perms": "".join(sorted(perms)), "what": what,
                                "ok": ok, "owner": owner(kp, created)})

    sock_type, self_inodes, fd_kind = {}, set(), {}

    def sockkind(d, fd=None):
        m = re.match(r"^(UNIX-STREAM|UNIX-DGRAM|UNIX-SEQPACKET|UNIX|TCPv6|UDPv6|TCP|UDP|NETLINK|socket)(?=[:\[])", d or "")
        if not m:
            return None
        kind = {"UNIX": ("unix", "?"), "UNIX-STREAM": ("unix", "stream"), "UNIX-DGRAM": ("unix", "dgram"),
                "UNIX-SEQPACKET": ("unix", "seqpacket"), "TCP": ("inet", "stream"), "UDP": ("inet", "dgram"),
                "TCPv6": ("inet6", "stream"), "UDPv6": ("inet6", "dgram"), "NETLINK": ("netlink", "?"),
                "socket": ("?", "?")}[m.group(1)]
        if "?" in kind and inode_of(d) in sock_type:
            kind = sock_type[inode_of(d)]
        if "?" in kind and fd in fd_kind:   # e.g. a bound netlink socket shows its port id, not its inode
            kind = fd_kind[fd]
        return kind

    def sock(kind, op, ok, peer=None, where=""):
        res["sockets"].append([kind[0], kind[1], op, ok])
        if kind[0] == "unix":
            res["unix"].append([kind[1], op, peer, where, ok])

    logged = False
    interp_done = False
    for pid in scope:
        for name, args, ret, rdeco, err in calls[pid][start.get(pid, 0):]:
            if name == "?":
                unparsed += 1
                continue
            a = split_args(args)
            ok = err is None and not ret.startswith("-")
            if err in ("EPERM", "EACCES"):
                res["failed"].append("%s(%s) = %s %s" % (name, args[:160], ret, err))
            rd = rdeco[1:-1] if rdeco else None
            if name in ("open", "openat", "openat2", "creat"):
                if name == "open":
                    dirarg, p, flags = None, unquote(a[0]), a[1] if len(a) > 1 else "O_RDONLY"
                elif name == "creat":
                    dirarg, p, flags = None, unquote(a[0]), "O_WRONLY|O_CREAT|O_TRUNC"
                else:
                    dirarg, p, flags = a[0], unquote(a[1]), a[2] if len(a) > 2 else "O_RDONLY"
                if "O_PATH" in flags:
                    continue   # no file_open check for O_PATH
                perms = set()
                if "O_WRONLY" in flags:
                    perms.add("a" if "O_APPEND" in flags and "O_TRUNC" not in flags else "w")
                elif "O_RDWR" in flags:
                    perms |= {"r", "w"}
                else:
                    perms.add("r")
                if "O_CREAT" in flags or "O_TRUNC" in flags:
                    perms.add("w")
                add(full(dirarg, p, pid), perms, "%s %s" % (name, flags.split("|")[0]), pid, ok,
                    created="O_CREAT" in flags, follow="O_NOFOLLOW" not in flags, decorated=rd,
                    isdir="O_DIRECTORY" in flags)
            elif name in ("execve", "execveat"):
                p = unquote(a[0] if name == "execve" else a[1])
                if pid in start and not interp_done:
                    interp_done = True
                    add(p, {"r", "m"}, "execve: the daemon's binary, mapped", pid, ok)
                    # The kernel maps the ELF interpreter (ld.so) too: not a
                    # system call in the trace, needed all the same.
                    try:
                        m = re.search(rb"(/lib[^\0]*/ld-linux[^\0]*)\0", open(installed, "rb").read(65536))
                        if m:
                            add(m.group(1).decode(), {"r", "m"}, "ELF interpreter, mapped", pid, True)
                    except OSError:
                        pass
                else:
                    res["execs"].append(p)
                    add(full(None if name == "execve" else a[0], p, pid), {"x"}, name, pid, ok)
            elif name in PATHCALLS:
                di, pi, perm = PATHCALLS[name]
                dirarg = a[di] if di is not None else None
                p = unquote(a[pi]) if len(a) > pi else None
                rest = " ".join(a[pi + 1:])
                if p == "" and "AT_EMPTY_PATH" in rest:
                    d = deco(dirarg)[1]
                    if d and d.startswith("/"):
                        add(d, {perm}, name + " (on an open file)", pid, ok, decorated=d)
                    continue
                follow = name not in NOFOLLOW and "AT_SYMLINK_NOFOLLOW" not in rest
                add(full(dirarg, p, pid), {perm}, name, pid, ok, follow=follow)
            elif name in FDCALLS:
                d = deco(a[0])[1]
                if d and d.startswith("/"):
                    add(d, {FDCALLS[name]}, name, pid, ok, decorated=d)
            elif name == "flock" or (name == "fcntl" and re.search(r"F_(OFD_)?SETLKW?\b", args)):
                d = deco(a[0])[1]
                if d and d.startswith("/"):
                    add(d, {"k"}, name + " (lock)", pid, ok, decorated=d)
            elif name in ("rename", "renameat", "renameat2"):
                if name == "rename":
                    src, dst = full(None, unquote(a[0]), pid), full(None, unquote(a[1]), pid)
                else:
                    src, dst = full(a[0], unquote(a[1]), pid), full(a[2], unquote(a[3]), pid)
                # AppArmor: read+write(delete) on the source, write(create) on the target
                add(src, {"r", "w"}, name + " (source)", pid, ok, follow=False)
                add(dst, {"w"}, name + " (target)", pid, ok, created=True, follow=False)
            elif name in ("unlink", "unlinkat", "rmdir"):
                p = full(a[0], unquote(a[1]), pid) if name == "unlinkat" else full(None, unquote(a[0]), pid)
                add(p, {"w"}, name, pid, ok, follow=False, isdir=name == "rmdir" or "AT_REMOVEDIR" in args)
            elif name in ("mkdir", "mkdirat"):
                p = full(a[0], unquote(a[1]), pid) if name == "mkdirat" else full(None, unquote(a[0]), pid)
                add(p, {"w"}, name, pid, ok, created=True, follow=False, isdir=True)
            elif name in ("link", "linkat", "symlink", "symlinkat"):
                dst = {"link": lambda: full(None, unquote(a[1]), pid),
                       "linkat": lambda: full(a[2], unquote(a[3]), pid),
                       "symlink": lambda: full(None, unquote(a[1]), pid),
                       "symlinkat": lambda: full(a[1], unquote(a[2]), pid)}[name]()
                add(dst, {"l"} if name.startswith("link") else {"w"}, name, pid, ok, created=True, follow=False)
            elif name == "mmap" and len(a) >= 5 and "PROT_EXEC" in a[2]:
                d = deco(a[4])[1]
                if d and d.startswith("/"):
                    add(d, {"m"}, "mmap PROT_EXEC", pid, ok, decorated=d)
            elif name == "mprotect" and "PROT_EXEC" in args:
                res["notes"].append("mprotect(PROT_EXEC) (not checked: file mappings are checked at mmap): %s" % args[:80])
            elif name in ("socket", "socketpair"):
                fam = a[0].replace("AF_", "").lower().replace("local", "unix")
                typ = re.sub(r"\|.*", "", a[1]).replace("SOCK_", "").lower()
                sock((fam, typ), "create", ok or err not in ("EACCES", "EPERM"), where="%s(%s)" % (name, args[:80]))
                if name == "socket" and rd:
                    sock_type[inode_of(rd)] = (fam, typ)
                    fd_kind[ret] = (fam, typ)
                elif name == "socketpair" and len(a) > 3:
                    for ino in re.findall(r"<[\w-]+:\[(\d+)", a[3]):
                        sock_type[int(ino)] = (fam, typ)
                        self_inodes.add(int(ino))
            elif name in SOCKIO and a:
                num, d = deco(a[0])
                if name in ("write", "writev") and num in ("1", "2"):
                    logged = True
                kind = sockkind(d, num)
                if kind is None:
                    continue
                op = SOCKIO[name]
                peer = None
                if op not in ("getopt", "setopt", "getattr", "shutdown", "listen", "bind"):
                    # accepted connections: nginx; the notify socket: systemd
                    # (both unconfined); socketpair(): the daemon itself
                    peer = PROFILE_NAME if inode_of(d) in self_inodes else "unconfined"
                if name in ("bind", "connect", "sendto", "sendmsg"):
                    m = re.search(r'sun_path="((?:[^"\\]|\\.)*)"', args)
                    if m:
                        sp = unquote('"%s"' % m.group(1))
                        add(full(None, sp, pid), {"w"}, "%s (unix socket path)" % name, pid, ok,
                            created=name == "bind")
                        if name in ("sendto", "sendmsg"):
                            sock(kind, "connect", ok, peer, "%s to %s" % (name, sp))
                    elif re.search(r"sun_path=@", args):
                        res["notes"].append("abstract unix socket address: %s(%s)" % (name, args[:120]))
                # A socket bound to a path (the listening socket, the
                # connections accepted on it): kernels with AF_UNIX mediation
                # check its operations against the file rules of that path.
                m = re.search(r',"((?:[^"\\]|\\.)*)"\]$', d or "")
                if kind[0] == "unix" and m and ok:
                    add(unquote('"%s"' % m.group(1)), {"w"} if op in ("send", "connect", "setopt", "shutdown") else {"r"},
                        "%s on a socket bound to this path" % op, pid, True)
                # The network check (socket_* hooks) comes before the protocol's
                # own work: a connect refused or in progress was allowed.
                sock(kind, op, ok or err in ("EINPROGRESS", "EAGAIN", "ECONNREFUSED", "ENETUNREACH", "EADDRNOTAVAIL")
                     and not (kind[0] == "unix" and err == "ECONNREFUSED"), peer, "%s(%s)" % (name, args[:80]))
            elif name == "close" and a:
                fd_kind.pop(deco(a[0])[0], None)
            elif name in ("kill", "tgkill", "tkill"):
                if not a[0].lstrip("-").isdigit() or int(a[0]) not in mine:
                    res["notes"].append("signal to another process: %s(%s)" % (name, args))
            elif name in PRIVILEGED:
                res["notes"].append("privileged system call: %s(%s) = %s %s" % (name, args[:100], ret, err or ""))
    if logged:
        # In production stdout/stderr are the journal's stream socket (unix
        # stream, journald unconfined), inherited: each log line is a send.
        res["sockets"].append(["unix", "stream", "send", True])
        res["unix"].append(["stream", "send", "unconfined", "log lines on stdout/stderr (the journal stream in production)", True])
        res["unix"].append(["stream", "getattr", None, "stdout/stderr, the journal stream, revalidated at exec", True])
    if unparsed:
        res["notes"].append("%d trace lines not understood (not checked)" % unparsed)
    json.dump(res, open(out_file, "w"))


# ============================================================== check ====

FILE_PERMS = set("rwamkl")


def parse_profile(pp_file, own_profile):
    variables = {"profile_name": [PROFILE_NAME]}
    statements, include_files, depth, buf = [], [], 0, ""
    for raw in open(pp_file, encoding="utf-8"):
        m = re.match(r"\s*##included <([^>]*)>", raw)
        if m:
            include_files.append(m.group(1))
            continue
        line = re.sub(r"(^|\s)#.*", "", raw).strip()
        if not line:
            continue
        m = re.match(r"^@\{(\w+)\}\s*(\+?=)\s*(.*)$", line)
        if m and depth == 0 and not buf:
            vals = [v.strip('"') for v in re.findall(r'"[^"]*"|\S+', m.group(3))]
            if m.group(2) == "=":
                variables[m.group(1)] = vals
            else:
                variables.setdefault(m.group(1), []).extend(vals)
            continue
        buf = (buf + " " + line).strip()
        if buf.endswith("{"):
            depth += 1   # the profile (a nested profile or hat would be depth 2: ignored)
            buf = ""
        elif buf == "}":
            depth -= 1
            buf = ""
        elif buf.endswith(","):
            if depth == 1:
                statements.append(buf[:-1].strip())
            buf = ""

    # Where a rule comes from: the project's profile, or the first included
    # file with the same line.
    def norm(s):
        return re.sub(r"\s+", " ", s.strip().rstrip(",").strip())

    def lines_of(path):
        out = set()
        for raw in open(path, encoding="utf-8", errors="replace"):
            l = re.sub(r"(^|\s)#.*", "", raw).strip()
            if l:
                out.add(norm(l))
        return out
    own = lines_of(own_profile)
    incs = [(n, lines_of(os.path.join("/etc/apparmor.d", n))) for n in include_files
            if os.path.isfile(os.path.join("/etc/apparmor.d", n))]

    def origin(st):
        n = norm(st)
        if n in own:
            return "profile"
        return next((name for name, lines in incs if n in lines), "include")
    return variables, statements, origin


def expand_vars(s, variables, seen=()):
    """@{var} -> every combination of the variables' values."""
    m = re.search(r"@\{(\w+)\}", s)
    if not m:
        return [s]
    name = m.group(1)
    if name not in variables or name in seen:
        raise ValueError("undefined variable @{%s}" % name)
    out = []
    for v in variables[name]:
        for e in expand_vars(v, variables, seen + (name,)):
            out.extend(expand_vars(s[:m.start()] + e + s[m.end():], variables, seen))
    return out


def aare_to_regex(s):
    """AppArmor glob -> Python regex, as the parser converts it: ** any
    characters, * and ? any but /, {a,b} alternatives, [...] classes; a
    * or ** that is a whole path component matches at least one character."""
    o, i, depth = [], 0, 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            o.append(re.escape(s[i + 1])); i += 2
            continue
        if c == "*":
            j = i
            while j < len(s) and s[j] == "*":
                j += 1
            if i > 0 and s[i - 1] == "/" and (j == len(s) or s[j] == "/"):
                o.append("[^/]")
            o.append(".*" if j - i >= 2 else "[^/]*")
            i = j
            continue
        if c == "?":
            o.append("[^/]")
        elif c == "{":
            o.append("(?:"); depth += 1
        elif c == "}" and depth:
            o.append(")"); depth -= 1
        elif c == "," and depth:
            o.append("|")
        elif c == "[":
            j = s.index("]", i + 2 if s[i + 1:i + 2] in ("^", "!") else i + 1)
            body = s[i + 1:j]
            neg = body[:1] in ("^", "!")
            if neg:
                body = body[1:]
            o.append("[" + ("^" if neg else "") + body.replace("\\", "\\\\") + "]")
            i = j
        else:
            o.append(re.escape(c))
        i += 1
    return "".join(o)


class FileRule:
    def __init__(self, text, origin, deny, owner, path, perms, variables):
        self.text, self.origin, self.deny, self.owner, self.perms = text, origin, deny, owner, perms
        self.regexes = [re.compile(aare_to_regex(re.sub(r"/+", "/", e)), re.S) for e in expand_vars(path, variables)]
        self.used = False

    def matches(self, path):
        return any(r.fullmatch(path) for r in self.regexes)


def parse_perms(p):
    perms = set(c for c in p if c in FILE_PERMS)
    if "x" in p:
        perms.add("x")   # ix, px, Px, ux, Ux, cx, Cx, pix, ...
    return perms


UNIX_SHORT = {"r": {"receive", "getattr", "getopt"}, "w": {"create", "connect", "send", "setattr", "setopt"}}
UNIX_SHORT["rw"] = UNIX_SHORT["r"] | UNIX_SHORT["w"]
SOCK_TYPES = ("stream", "dgram", "raw", "seqpacket", "rdm", "packet")


def rules_of(statements, origin, variables):
    files, nets, unixes, caps, others, notes = [], [], [], [], [], []
    for st in statements:
        m = re.match(r"^(audit\s+)?(?:(deny|allow)\s+)?(owner\s+)?(.*)$", st, re.S)
        deny, owner, body = m.group(2) == "deny", bool(m.group(3)), m.group(4).strip()
        word = body.split()[0] if body else ""
        if word in ("abi", "include"):
            continue
        if word == "capability":
            caps.append(st)
            continue
        if word == "network":
            nets.append({"deny": deny, "words": body.split()[1:], "text": st, "origin": origin(st), "used": False})
            continue
        if word == "unix":
            rest = body[4:].strip()
            access = None
            mm = re.match(r"^\(([^)]*)\)\s*(.*)$", rest, re.S) or re.match(r"^([a-z]+)\b(?!=)\s*(.*)$", rest, re.S)
            if mm:
                access = set()
                for x in re.split(r"[\s,]+", mm.group(1)):
                    if x:
                        access |= UNIX_SHORT.get(x, {x})
                rest = mm.group(2)
            rest = rest.replace("@{profile_name}", PROFILE_NAME)
            t = re.search(r"\btype=(\w+)", rest)
            peer = re.search(r"peer=\(\s*label=([^,)\s]+)", rest)
            unixes.append({"deny": deny, "access": access, "type": t.group(1) if t else None,
                           "peer": peer.group(1) if peer else None,
                           "addr": bool(re.search(r"(^|\s)addr=", rest)) or "peer=(addr" in rest,
                           "text": st, "origin": origin(st), "used": False})
            continue
        if word in ("signal", "ptrace", "dbus", "mount", "umount", "remount", "pivot_root", "change_profile",
                    "set", "rlimit", "mqueue", "io_uring", "userns", "link"):
            others.append(st)
            continue
        body = re.sub(r"^file\s+", "", body)
        if body == "file":
            files.append(FileRule(st, origin(st), deny, owner, "/**", set("rwamklx"), variables))
            continue
        mm = re.match(r'^("[^"]*"|[/@]\S*)\s+([a-zA-Z]+)(\s*->.*)?$', body)
        if mm:
            path, perms = mm.group(1).strip('"'), mm.group(2)
        else:
            mm = re.match(r'^([a-zA-Z]+)\s+("[^"]*"|[/@]\S*)(\s*->.*)?$', body)
            if not mm:
                notes.append("rule not understood, ignored: %s" % st)
                continue
            perms, path = mm.group(1), mm.group(2).strip('"')
        files.append(FileRule(st, origin(st), deny, owner, path, parse_perms(perms), variables))
    return files, nets, unixes, caps, others, notes


def check(pp_file, own_profile, daemon_uid, *run_files):
    daemon_uid = int(daemon_uid)
    out = []
    emit = lambda kind, text: out.append("%s %s" % (kind, text))
    variables, statements, origin = parse_profile(pp_file, own_profile)
    files, nets, unixes, caps, others, notes = rules_of(statements, origin, variables)
    for n in notes:
        emit("NOTE", n)
    if caps:
        emit("NOTE", "capability rules in the profile: %s" % "; ".join(caps))
    emit("OK", "profile: %d file rules (%d deny, %d owner), %d network and %d unix rules, %d capability rules, "
         "%d signal/ptrace/other rules (not checked)"
         % (len(files), sum(r.deny for r in files), sum(r.owner for r in files), len(nets), len(unixes), len(caps),
            len(others)))

    runs = [json.load(open(f)) for f in run_files]
    for r in runs:
        for kind, text in r["summary"]:
            emit(kind, text)
        for n in r["notes"]:
            emit("NOTE", n)

    # --- files
    def decide(path, need, uid, ok):
        allowed, denied, matched = set(), set(), []
        for r in files:
            if not r.matches(path):
                continue
            if r.owner and uid != daemon_uid:
                continue
            if r.deny:
                denied |= r.perms
            else:
                allowed |= r.perms
                matched.append(r)
        missing = set()
        for p in need:
            if p == "a":   # append: a or w
                if not ({"a", "w"} & allowed) or ({"a", "w"} & denied):
                    missing.add(p)
            elif p not in allowed or p in denied:
                missing.add(p)
        if not missing and ok:
            for r in matched:
                if r.perms & (need | ({"w"} if "a" in need else set())):
                    r.used = True
        return missing, denied & need

    seen = {}
    for r in runs:
        for acc in r["accesses"]:
            seen.setdefault((acc["path"], acc["perms"], acc["ok"], acc["owner"]), acc)
    n_ok, gaps, absent, by_path = 0, [], [], {}
    for (path, perms, ok, uid), acc in sorted(seen.items(), key=lambda x: (x[0][0], x[0][1], x[0][2], str(x[0][3]))):
        missing, denied = decide(path, set(perms), uid, ok)
        shown = path if acc["as"].rstrip("/") == path.rstrip("/") else "%s (as %s)" % (path, acc["as"])
        entry = "%s %s [%s]" % (shown, perms, acc["what"])
        if not missing:
            n_ok += 1
        elif missing <= denied:
            # The profile refuses it on purpose (a deny rule, quiet): the
            # daemon has to do without it; listed for review.
            emit("NOTE", "denied on purpose by a deny rule%s: %s" % ("" if ok else " (and not found here)", entry))
        elif ok:
            gaps.append("%s: needs %s" % (entry, "".join(sorted(missing))))
        else:
            absent.append(entry)
        if ok:
            by_path.setdefault(path, set()).update(perms)
    emit("OK" if not gaps else "FAIL", "file accesses allowed by the file rules: %d distinct (path, permission) pairs%s"
         % (n_ok, "" if not gaps else "; NOT allowed:\n    " + "\n    ".join(gaps)))
    for a in absent:
        emit("NOTE", "failed look-up (AppArmor decides only on existing files), no rule would allow it: %s" % a)

    # --- network: upstream kernels mediate socket creation and every later
    # operation (accept, send, receive, shutdown, ...) by the network rules.
    def net_decision(fam, typ):
        """'allow', 'deny' (a deny rule) or 'none'."""
        allow = deny = False
        for r in nets:
            fams = [x for x in r["words"] if x not in SOCK_TYPES and x not in ("tcp", "udp", "icmp")]
            types = [x for x in r["words"] if x in SOCK_TYPES]
            if (not fams or fam in fams) and (not types or typ in types):
                if r["deny"]:
                    deny = True
                else:
                    allow = True
        if allow and not deny:
            for r in nets:
                fams = [x for x in r["words"] if x not in SOCK_TYPES and x not in ("tcp", "udp", "icmp")]
                types = [x for x in r["words"] if x in SOCK_TYPES]
                if not r["deny"] and (not fams or fam in fams) and (not types or typ in types):
                    r["used"] = True
            return "allow"
        return "deny" if deny else "none"
    used_socks = {}
    for r in runs:
        for fam, typ, op, ok in r["sockets"]:
            # every attempt counts: the socket hooks run before the protocol
            # can fail (a refused connect, an nscd socket not there)
            if fam != "?":
                used_socks.setdefault((fam, typ), set()).add(op)
    allowed, bad = [], []
    for (f, t), o in sorted(used_socks.items()):
        d = net_decision(f, t)
        text = "%s %s (%s)" % (f, t, ", ".join(sorted(o)))
        if d == "allow":
            allowed.append(text)
        elif d == "deny":
            emit("NOTE", "denied on purpose by a deny rule: network %s: the daemon has to do without it" % text)
        else:
            bad.append(text)
    emit("OK" if not bad else "FAIL", "network rules allow every socket the daemon used: %s%s"
         % ("; ".join(allowed) or "none", "" if not bad else "; NOT allowed: " + "; ".join(bad)))

    # --- unix rules (kernels with fine-grained AF_UNIX mediation)
    def unix_ok(typ, op, peer, mark=True):
        allow, deny, matched = False, False, []
        for r in unixes:
            if r["type"] and typ != "?" and r["type"] != typ:
                continue
            if r["access"] is not None and op not in r["access"]:
                continue
            if r["addr"]:
                continue   # the daemon's sockets have no address rule to meet
            if r["peer"] is not None and r["peer"] != peer:
                continue
            if r["deny"]:
                deny = True
            else:
                allow = True
                matched.append(r)
        if allow and not deny and mark:
            for r in matched:
                r["used"] = True
        return allow and not deny
    ops, failed_ops = {}, {}
    for r in runs:
        for typ, op, peer, where, ok in r["unix"]:
            (ops if ok else failed_ops).setdefault((typ, op, peer), where)
    for (t, o, p), w in sorted(failed_ops.items(), key=str):
        if (t, o, p) not in ops and not unix_ok(t, o, p, mark=False):
            emit("NOTE", "a failed unix socket operation no unix rule allows (refused here already): %s %s%s (%s)"
                 % (t, o, " peer=" + p if p else "", w))
    bad = ["%s %s%s (%s)" % (t, o, " peer=" + p if p else "", w) for (t, o, p), w in sorted(ops.items(), key=str)
           if not unix_ok(t, o, p)]
    emit("OK" if not bad else "FAIL", "unix rules allow every unix socket operation: %s%s"
         % (", ".join("%s %s%s" % (t, o, " (peer %s)" % p if p else "") for t, o, p in sorted(ops, key=str)),
            "" if not bad else "; NOT allowed: " + "; ".join(bad)))

    failed = [f for r in runs for f in r["failed"]]
    emit("OK" if not failed else "FAIL", "no system call failed with EPERM/EACCES: nothing needed a capability "
         "(the daemon had none) or a permission it lacked%s" % ("" if not failed else ": " + "; ".join(failed[:20])))
    execs = [e for r in runs for e in r["execs"]]
    if execs:
        emit("NOTE", "the daemon ran other programs: %s" % ", ".join(execs))

    for path in sorted(by_path):
        emit("PATH", "%s %s" % ("".join(sorted(by_path[path])), path))
    for r in files:
        if r.used:
            emit("USED", "%s [%s]" % (r.text, r.origin))
    for r in [r for r in files if r.origin == "profile" and not r.used and not r.deny]:
        emit("UNUSED", r.text)
    for r in nets + unixes:
        if r["origin"] == "profile" and not r["used"] and not r["deny"]:
            emit("UNUSED", r["text"])
    print("\n".join(out))


if __name__ == "__main__":
    {"extract": extract, "check": check}[sys.argv[1]](*sys.argv[2:])
PY

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
    python3 "$TMP/check.py" extract "$TMP/trace/$1" "$INSTALLED" "$DAEMON_UID" "$TMP/$1.json" >"$TMP/extract-$1.out" 2>&1 \
        || bad "$1: reading the trace failed: $(tail -n 3 "$TMP/extract-$1.out")"
}
expect() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi; }

# --- 3. requests: run 1, state directory bind-mounted on /var/lib/mastodon-comments -------------
start_daemon run1
expect "run1: GET $ARTICLE/comments.json: 200, 5 comments" "200 5" "$(fcgi GET "$ARTICLE/comments.json")"
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
timeout 40 python3 "$TMP/dns.py" "$DNS_ADDR" "$TMP/dns.out" 35 >"$TMP/dns.log" 2>&1 &
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
        printf 'subjectAltName=DNS:mastodon.test\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem
    ) >"$TMP/openssl.log" 2>&1 || { bad "run2: openssl could not make the test certificates: $(tail -n 3 "$TMP/openssl.log")"; exit 1; }
    BUNDLE=$(readlink -f /etc/ssl/certs/ca-certificates.crt)
    [ -f "$BUNDLE" ] || { bad "run2: no CA bundle /etc/ssl/certs/ca-certificates.crt (apt-get install ca-certificates)"; exit 1; }
    cat "$BUNDLE" "$TMP/pki/ca.pem" >"$TMP/ca-certificates.crt"
    mount --bind "$TMP/ca-certificates.crt" "$BUNDLE"
    TLS_PORT=$(free_port)
    timeout 40 python3 "$TMP/tls.py" "$TLS_PORT" "$STANDIN_PORT" "$TMP/pki/server.pem" "$TMP/pki/server.key" "$TMP/tls.out" 35 \
        >"$TMP/tls.log" 2>&1 &
    PIDS+=($!)
    wait_until 5 "grep -q '^ready' '$TMP/tls.out' 2>/dev/null" || { bad "run2: the TLS front did not start: $(tail -n 3 "$TMP/tls.log")"; exit 1; }
    sed -i "s#\"http://127.0.0.1:$STANDIN_PORT\"#\"https://mastodon.test:$TLS_PORT\"#" "$TMP/etc/config.json"
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

# --- 4.-6. the trace against the profile ----------------------------------------------------------
if timeout 30 apparmor_parser -p "$PROFILE" >"$TMP/profile.pp" 2>"$TMP/parser.out"; then
    ok "apparmor_parser -p expands the profile ($(apparmor_parser --version | head -n 1))"
else
    bad "apparmor_parser -p: $(cat "$TMP/parser.out")"
    exit 1
fi


python3 "$TMP/check.py" check "$TMP/profile.pp" "$PROFILE" "$DAEMON_UID" "$TMP"/run*.json >"$TMP/check.out" 2>&1 \
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

[ "$FAIL" -eq 0 ]
