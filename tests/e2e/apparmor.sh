#!/usr/bin/env bash
# Checks of apparmor/usr.local.bin.mastodon-comments:
#
#  1. the real apparmor_parser compiles it (-Q: everything except loading it
#     into the kernel, -K: no cache), failing on any error;
#  2. the same with warnings enabled, failing on any warning other than
#     "... rules not enforced" (which only says the running kernel lacks that
#     kind of mediation);
#  3. it attaches to /usr/local/bin/mastodon-comments under the name that
#     systemd/mastodon-comments.service gives in AppArmorProfile=;
#  4. it grants what the daemon needs (socket, config, credential, state,
#     CA certificates, DNS files, notify socket, network; and, for check and
#     lookup run from a shell, a terminal the process owns) and nothing broad
#     (no capability, no mount, no ptrace, no write outside the state
#     directory but to that terminal, no execution of other programs).
#
# Loading and enforcing it needs an AppArmor-enabled kernel; where one is
# available (aa-enabled says Yes) the test also loads the profile into the
# kernel under its name, then removes it again; while it is loaded, "check"
# and "lookup" run under it from a terminal of root's own (the built binary,
# MC_BIN, default target/debug/mastodon-comments, at the installed path in
# a private mount namespace) and must print there.
#
# That the daemon, run as in production, needs nothing more than the profile
# allows is checked by tests/e2e/apparmor-trace.sh (strace against the
# expanded rules).
#
# Needs: apparmor_parser (package apparmor).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MC_BIN=${MC_BIN:-$ROOT/target/debug/mastodon-comments}
case $MC_BIN in /*) ;; *) MC_BIN=$ROOT/$MC_BIN ;; esac
PROFILE=$ROOT/apparmor/usr.local.bin.mastodon-comments
SERVICE=$ROOT/systemd/mastodon-comments.service

. "$ROOT/tests/e2e/lib.sh"

command -v apparmor_parser >/dev/null || { echo "missing tool: apparmor_parser (apt-get install apparmor)" >&2; echo "0 passed, 1 failed"; exit 1; }

TMP=$(mktemp -d /tmp/mc-e2e-apparmor.XXXXXX)
LOADED=
cleanup() {
    local rc=$?
    set +e
    if [ -n "$LOADED" ]; then apparmor_parser -R "$PROFILE" >/dev/null 2>&1; fi
    if [ "$rc" -ne 0 ] && [ "$FAIL" -eq 0 ]; then FAIL=1; fi
    [ "$FAIL" -gt 0 ] && rc=1
    rm -rf "$TMP"
    echo "$PASS passed, $FAIL failed"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. compile ------------------------------------------------------------------------
if timeout 60 apparmor_parser -Q --skip-kernel-load -K -q "$PROFILE" >"$TMP/parse.out" 2>&1; then
    ok "apparmor_parser -Q -K: profile compiles ($(apparmor_parser --version | head -n 1))"
else
    bad "apparmor_parser -Q -K: $(cat "$TMP/parse.out")"
fi

# --- 2. warnings -----------------------------------------------------------------------
timeout 60 apparmor_parser -Q --skip-kernel-load -K --warn=all "$PROFILE" >"$TMP/warn.out" 2>&1 || true
grep -vE 'rules not enforced|Cache read/write disabled|^$' "$TMP/warn.out" >"$TMP/warn-other.out" || true
if [ ! -s "$TMP/warn-other.out" ]; then
    ok "apparmor_parser --warn=all: no warning about the profile itself"
else
    bad "apparmor_parser --warn=all: $(cat "$TMP/warn-other.out")"
fi

# --- 3. attachment and name --------------------------------------------------------------
if grep -qE '^profile mastodon-comments /usr/local/bin/mastodon-comments \{' "$PROFILE"; then
    ok "profile 'mastodon-comments' attaches to /usr/local/bin/mastodon-comments"
else
    bad "profile header is not 'profile mastodon-comments /usr/local/bin/mastodon-comments {'"
fi
if grep -qxE 'AppArmorProfile=-?mastodon-comments' "$SERVICE"; then
    ok "the service names the profile (AppArmorProfile=)"
else
    bad "the service does not name the profile mastodon-comments in AppArmorProfile="
fi
# Names as the parser sees them, after preprocessing (includes expanded).
if timeout 60 apparmor_parser -Q --skip-kernel-load -K -N "$PROFILE" >"$TMP/names.out" 2>&1 \
    && grep -qx 'mastodon-comments' "$TMP/names.out"; then
    ok "apparmor_parser -N lists exactly the profile mastodon-comments"
else
    bad "apparmor_parser -N: $(cat "$TMP/names.out")"
fi

# --- 4. content --------------------------------------------------------------------------
# The profile body without comments.
sed -e 's/#.*//' -e '/^[[:space:]]*$/d' -e 's/^[[:space:]]*//' "$PROFILE" >"$TMP/rules"
need() { # rule (exact line)
    if grep -qxF "$1" "$TMP/rules"; then ok "grants: $1"; else bad "missing rule: $1"; fi
}
need 'include <abstractions/base>'
need 'include <abstractions/ssl_certs>'
need '/usr/local/bin/mastodon-comments mr,'
need '/run/mastodon-comments.sock rw,'
need '/etc/mastodon-comments/** r,'
need '/run/credentials/mastodon-comments.service/** r,'
need '/var/lib/private/mastodon-comments/** rw,'
need '/var/lib/mastodon-comments/** rw,'
need '/run/systemd/notify w,'
need 'owner /dev/pts/[0-9]* rw,'   # the operator's terminal, for check and lookup
need '/etc/resolv.conf r,'
need '/etc/hosts r,'
need '/etc/nsswitch.conf r,'
need '/etc/host.conf r,'
need '/etc/gai.conf r,'
need '/ r,'   # glibc's NSS stats / (tests/e2e/apparmor-trace.sh)
need 'network inet stream,'
need 'network inet6 stream,'
need 'network inet dgram,'
need 'network inet6 dgram,'
forbid() { # description, extended regex on the rules
    if grep -nE "$2" "$TMP/rules" >"$TMP/forbid.out"; then bad "$1: $(cat "$TMP/forbid.out")"; else ok "$1"; fi
}
forbid "no capability" '^capability'
forbid "no mount, pivot_root, ptrace, change_profile" '^(mount|umount|remount|pivot_root|ptrace|change_profile)'
forbid "no execution of other programs (ix/px/ux/cx)" '[[:space:]][a-z]*[iupcPUC]x[a-z]*,$'
# Every rule granting w or a must be one of the expected ones: the state
# directory, the two sockets, and terminals the process owns.
if grep -nE '^(owner )?(/|@)[^[:space:]]* [a-z]*[wa][a-z]*,$' "$TMP/rules" \
    | grep -vE ':(/var/lib/(private/)?mastodon-comments/\*\*|/run/mastodon-comments\.sock|/run/systemd/notify) ' \
    | grep -vE ':owner /dev/(pts/\[0-9\]\*|\{tty,ttyS,hvc\}\[0-9\]\*) rw,$' \
    >"$TMP/writes.out"; then
    bad "write access outside the state directory, the sockets and the process's own terminal: $(cat "$TMP/writes.out")"
else
    ok "write access only to the state directory, the FastCGI socket, the notify socket and a terminal the process owns"
fi
forbid "terminals only when the process owns them (owner)" '^(/dev/(pts|tty|console)|/dev/\{)'
forbid "no pseudo-terminal master (/dev/ptmx): no new terminals" 'ptmx'
forbid "no file rule for the operator's home directories (output into files is refused)" '(@\{HOME\}|/home/|/root/)' 
forbid "no bare 'network,' or 'file,' rule" '^(network|file|unix),$'
forbid "no nameservice abstraction (passwd, LDAP, NIS are not needed)" 'abstractions/nameservice'

# --- 5. kernel load where AppArmor is enabled --------------------------------------------------
if command -v aa-enabled >/dev/null && aa-enabled --quiet 2>/dev/null; then
    if apparmor_parser -r -K "$PROFILE" >"$TMP/load.out" 2>&1; then
        LOADED=yes
        if grep -q '^mastodon-comments ' /sys/kernel/security/apparmor/profiles 2>/dev/null; then
            ok "kernel: profile loaded (enforce)"
        else
            bad "kernel: loaded but not listed in /sys/kernel/security/apparmor/profiles"
        fi
    else
        bad "kernel: apparmor_parser -r: $(cat "$TMP/load.out")"
    fi
else
    echo "# AppArmor is not enabled in this kernel: not loaded (compile checks only)"
fi

# --- 6. enforced: check and lookup from a root shell, on a terminal of root's own ----------------
# With the profile loaded, the built binary runs at the installed path (a private mount namespace
# puts a directory holding it on /usr/local/bin; nothing changes on the host) on a new
# pseudo-terminal (tests/e2e/pty_run.py), with a config the profile does not let it read. Confined,
# it cannot read the config and says so on the terminal; unconfined it would read it, and with the
# terminal refused it would print nothing: both fail here. The kernel log must hold no denial of
# the terminal.
if [ -n "$LOADED" ] && [ -x "$MC_BIN" ] && [ -d /usr/local/bin ] && command -v unshare >/dev/null && unshare -m --propagation private true 2>/dev/null; then
    mkdir "$TMP/bin"
    cp "$MC_BIN" "$TMP/bin/mastodon-comments"
    printf '{"url": "http://127.0.0.1:9", "userid": "109308551561216011"}\n' >"$TMP/config.json"
    denials() { dmesg 2>/dev/null | grep 'apparmor="DENIED"' | grep 'profile="mastodon-comments"' | grep -c "$1" || true; }
    PTS_BEFORE=$(denials 'name="/dev/pts/')
    CONF_BEFORE=$(denials "name=\"$TMP/config.json\"")
    confined() { # name, arguments...: exit status; the terminal's transcript in $TMP/NAME.tty
        local name=$1 rc=0
        shift
        timeout 30 unshare -m --propagation private sh -c 'mount --bind "$1" /usr/local/bin && shift && exec "$@"' sh "$TMP/bin" \
            python3 -B "$ROOT/tests/e2e/pty_run.py" "$TMP/$name.tty" "$TMP/$name.fds" 20 \
            /usr/local/bin/mastodon-comments "$@" >"$TMP/$name.log" 2>&1 || rc=$?
        echo "$rc"
    }
    rc=$(confined check check --config "$TMP/config.json")
    if [ "$rc" = 1 ] && grep -q "^FAIL  config: \(config: \)\?cannot read $TMP/config.json: Permission denied" "$TMP/check.tty"; then
        ok "enforced: check from a root shell is confined (the config outside /etc/mastodon-comments refused) and its checklist is on the terminal"
    else
        bad "enforced: check from a root shell: exit status $rc, terminal: $(head -c 400 "$TMP/check.tty" 2>/dev/null | tr '\r\n' '  ') $(tail -n 3 "$TMP/check.log")"
    fi
    rc=$(confined lookup lookup --config "$TMP/config.json" /2026/07/01/slow-bread)
    if [ "$rc" = 2 ] && grep -q "^mastodon-comments: \(config: \)\?cannot read $TMP/config.json: Permission denied" "$TMP/lookup.tty"; then
        ok "enforced: lookup from a root shell is confined and its error is on the terminal (stderr)"
    else
        bad "enforced: lookup from a root shell: exit status $rc, terminal: $(head -c 400 "$TMP/lookup.tty" 2>/dev/null | tr '\r\n' '  ') $(tail -n 3 "$TMP/lookup.log")"
    fi
    if [ "$(denials "name=\"$TMP/config.json\"")" -gt "$CONF_BEFORE" ]; then
        if [ "$(denials 'name="/dev/pts/')" = "$PTS_BEFORE" ]; then
            ok "enforced: the kernel log shows the config denied and no terminal denied"
        else
            bad "enforced: the kernel log shows a terminal denied: $(dmesg | grep 'apparmor="DENIED"' | grep 'profile="mastodon-comments"' | grep '/dev/pts/' | tail -n 2)"
        fi
    else
        echo "# note: AppArmor's denials are not in dmesg here (auditd?): the terminal's denials not checked there"
    fi
elif [ -n "$LOADED" ]; then
    echo "# note: no built binary ($MC_BIN) or no unshare -m: check and lookup not run under the loaded profile"
fi

[ "$FAIL" -eq 0 ]
