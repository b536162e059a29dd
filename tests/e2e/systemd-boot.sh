#!/usr/bin/env bash
# The daemon under a real systemd, installed as the README says, in a
# Debian 12 booted in a container (systemd-nspawn -b):
#
#  1. the root file system: Debian 12 minbase (package.sh's, cached in
#     target/package-test/) with systemd, dbus and nginx-light added once
#     and cached beside it; each run boots it with an overlay in memory
#     (--volatile=overlay), so the cached tree stays as it was. Commands
#     run inside with nsenter (the machine need not run systemd itself).
#     The container shares the machine's network: the daemon inside
#     reaches the stand-in Mastodon on 127.0.0.1, and nginx inside listens
#     on a free loopback port. The source tree is bound read-only at /src.
#  2. the install from source, the README's commands run as they are
#     (read from the README; the build, `cargo build --release --locked`,
#     runs here: the binary into /usr/local/bin, the config,
#     the token read from stdin, the units, enable --now, the nginx
#     snippets into the blog's running nginx, `nginx -t && systemctl
#     reload nginx`), with the README's checks: `--version`, `check`, the
#     socket `active (listening)`, `srw------- www-data www-data`,
#     `systemd-analyze security` 1.0; the first request through nginx (as
#     www-data) starting the service, X-Cache-Status MISS then HIT, the
#     token arriving as a credential (the stand-in sees it; the config has
#     none);
#  3. the switch to the package (the README's "Switching from a source
#     install", then `apt install ./mastodon-comments_…deb`, the README's
#     checks, the socket enabled, the snippets from /usr/share), and on it:
#     the first request through nginx and straight over FastCGI starting
#     the packaged binary, the STATUS= line in `systemctl status`,
#     `systemctl reload` applying a changed config (max-age, same
#     process), a crash (SIGSEGV) and a hang (SIGSTOP, caught by the
#     watchdog within WatchdogSec) each restarted, `systemctl stop`
#     exiting 0 with result success, the state in
#     /var/lib/private/mastodon-comments owned by the dynamic user, the
#     idle exit of the README's drop-in and the next request starting it
#     again;
#  4. `apt remove` stopping and masking the units (the config, token and
#     state kept), `apt purge` leaving no unit, mask, enablement, socket,
#     config or state behind.
#
# AppArmor (step 4 of the README) is not in it: a container cannot load a
# profile (apparmor.sh checks the profile against the daemon's files).
#
# The package: MC_DEB=FILE, or `cargo deb` (a release build, which
# package.sh, run before this suite, has made already). The stand-in runs
# from MC_BIN. Needs: root, systemd-nspawn (systemd-container), nsenter,
# debootstrap and chroot (and the network, once, for the root file
# system), cargo-deb, python3, curl.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MC_BIN=${MC_BIN:-$ROOT/target/debug/mastodon-comments}
case $MC_BIN in /*) ;; *) MC_BIN=$ROOT/$MC_BIN ;; esac
. "$ROOT/tests/e2e/lib.sh"

require_tools systemd-nspawn nsenter pgrep debootstrap chroot flock python3 curl timeout
require_binary
[ "$(id -u)" = 0 ] || { echo "systemd-boot.sh needs root (debootstrap, systemd-nspawn)" >&2; echo "0 passed, 1 failed"; exit 1; }

CACHE=$ROOT/target/package-test
ARTICLE=/2026/07/01/slow-bread
ROOT_ID=116843781319371281
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -n 1)
TMP=$(mktemp -d /tmp/mc-e2e-boot.XXXXXX)
chmod 0755 "$TMP"
STANDIN_PID=
NSPAWN_PID=
LEADER=
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command inside the container (as root, in its namespaces).
in_ct() {
    timeout "${CT_TIMEOUT:-60}" nsenter -t "$LEADER" -a /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        SYSTEMD_PAGER= SYSTEMD_COLORS=0 TERM=dumb "$@"
}
# A shell script inside the container, from /src (the source tree).
in_src() { in_ct bash -euc "cd /src; $1"; }

# Stops the container (an orderly shutdown, SIGKILL after 30 s), the
# stand-in; on a failure prints the container's journal and the logs.
cleanup() {
    local rc=$?
    set +e
    if [ "$rc" -ne 0 ] && [ "$FAIL" -eq 0 ]; then FAIL=1; fi
    if [ "$FAIL" -gt 0 ] && [ -n "$LEADER" ] && kill -0 "$LEADER" 2>/dev/null; then
        CT_TIMEOUT=20 in_ct journalctl --no-pager -n 150 >"$TMP/journal.log" 2>&1
        CT_TIMEOUT=20 in_ct systemctl --no-pager --failed >"$TMP/failed.out" 2>&1
    fi
    if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
        kill -TERM "$NSPAWN_PID" # nspawn halts the container (SIGRTMIN+3 to its systemd)
        timeout 30 tail --pid="$NSPAWN_PID" -f /dev/null 2>/dev/null || kill -KILL "$NSPAWN_PID" 2>/dev/null
    fi
    stop "$STANDIN_PID"
    if [ "$FAIL" -gt 0 ]; then rc=1; DUMP_LINES=80 dump_logs; fi
    rm -rf "$TMP"
    echo "$PASS passed, $FAIL failed"
    exit "$rc"
}

# The nth ```sh block under a heading of the README, as it is.
readme_block() { # heading n
    python3 - "$ROOT/README.md" "$1" "$2" <<'PY'
import sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
heading, n = sys.argv[2], int(sys.argv[3])
under = fence = False
blocks, cur = [], None
for line in lines:
    if fence:
        if line.startswith("```"):
            fence = False
            if cur is not None:
                blocks.append(cur)
                cur = None
        elif cur is not None:
            cur.append(line)
        continue
    if line.startswith("```"):
        fence = True
        if under and line.strip() == "```sh":
            cur = []
        continue
    if line.startswith("#"):
        under = line.strip() == heading
if len(blocks) < n:
    sys.exit("README: no sh block %d under %r" % (n, heading))
print("\n".join(blocks[n - 1]))
PY
}
# The one ```nginx block under a heading (the line to add to the server block).
readme_nginx_line() { # heading
    awk -v h="$1" '$0 == h {u = 1; next} /^#/ && !f {u = 0} /^```/ {f = !f; if (u && $0 == "```nginx") g = 1; else if (!f) g = 0; next} u && g' "$ROOT/README.md"
}

# --- 1. the package, the root file system, the stand-in, the boot -----------------------------
build_deb

# Debian 12 with systemd, made once from package.sh's minbase (which has
# the package's dependencies, procps for the unit's /bin/kill too; the
# source install needs it as well). nginx-light is the blog's web server,
# installed disabled and without its default site (port 80 is the
# machine's), and without starting it (policy-rc.d). .complete names what
# it was made of: remade when the minbase changes.
debian_minbase "$CACHE"
RFS=$CACHE/bookworm-systemd
ADDED="systemd systemd-sysv dbus nginx-light"
made_of="$(cat "$MINBASE/.complete") + $ADDED"
if [ "$(cat "$RFS/.complete" 2>/dev/null)" != "$made_of" ]; then
    exec {lock}>"$CACHE/.lock"
    timeout 1200 flock "$lock" || { bad "could not lock $CACHE/.lock"; exit 1; }
    if [ "$(cat "$RFS/.complete" 2>/dev/null)" != "$made_of" ]; then
        started=$SECONDS
        rm -rf "$RFS" "$RFS.tmp"
        cp -a --reflink=auto "$MINBASE" "$RFS.tmp"
        rm -f "$RFS.tmp/.complete"
        printf '#!/bin/sh\nexit 101\n' >"$RFS.tmp/usr/sbin/policy-rc.d"
        chmod 0755 "$RFS.tmp/usr/sbin/policy-rc.d"
        if timeout 900 chroot "$RFS.tmp" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
            DEBIAN_FRONTEND=noninteractive sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $ADDED" \
            >"$TMP/rootfs.log" 2>&1 \
            && timeout 60 chroot "$RFS.tmp" systemctl disable nginx.service >>"$TMP/rootfs.log" 2>&1; then
            rm -f "$RFS.tmp/usr/sbin/policy-rc.d" "$RFS.tmp/etc/nginx/sites-enabled/default"
            rm -rf "$RFS.tmp/var/cache/apt/archives/"*.deb
            echo "$made_of" >"$RFS.tmp/.complete"
            mv "$RFS.tmp" "$RFS"
            ok "root file system: the minbase with $ADDED, made in $((SECONDS - started)) s"
        else
            bad "root file system: apt-get install in the chroot failed (network?): $(tail -n 5 "$TMP/rootfs.log")"
            rm -rf "$RFS.tmp"
            exit 1
        fi
    fi
    exec {lock}>&-
fi

start_standin "$ROOT/tests/fixtures/mastodon/a-simple-thread"
NGINX_PORT=$(free_port)

MACHINE=mc-boot-$$-$RANDOM
started=$SECONDS
systemd-nspawn --boot --directory="$RFS" --volatile=overlay --machine="$MACHINE" \
    --register=no --keep-unit --console=pipe --bind-ro="$ROOT:/src" \
    </dev/null >"$TMP/nspawn.log" 2>&1 &
NSPAWN_PID=$!
# The container's PID 1 (systemd) is a child of systemd-nspawn.
wait_until 20 "pgrep -P $NSPAWN_PID -x systemd >/dev/null" || { bad "systemd-nspawn started no systemd"; exit 1; }
LEADER=$(pgrep -P "$NSPAWN_PID" -x systemd)
state=
until [ $((SECONDS - started)) -ge 60 ]; do
    state=$(CT_TIMEOUT=5 in_ct systemctl is-system-running 2>/dev/null || true)
    case $state in running | degraded) break ;; esac
    sleep 0.1
done
case $state in
    running) ok "booted: systemd $(in_ct systemctl --version | head -n 1 | cut -d' ' -f2-) is running ($((SECONDS - started)) s)" ;;
    # A unit of the base system failing in a container (none of ours
    # exists yet) does not stop the test: named, not counted.
    degraded) ok "booted: systemd is running, degraded by: $(in_ct systemctl --failed --plain --no-legend | cut -d' ' -f1 | tr '\n' ' ')" ;;
    *) bad "the container's systemd did not come up within 60 s: '$state'"; exit 1 ;;
esac

# The blog: nginx serving its pages on a free loopback port, running
# before the daemon is installed.
in_ct mkdir -p /var/www/blog$ARTICLE
echo '<p>An article</p>' | in_ct tee /var/www/blog$ARTICLE/index.html >/dev/null
printf 'server {\n    listen 127.0.0.1:%s;\n    server_name blog.example.org;\n    root /var/www/blog;\n}\n' "$NGINX_PORT" \
    | in_ct tee /etc/nginx/sites-enabled/blog >/dev/null
in_ct systemctl start nginx.service || { bad "nginx (the blog) did not start"; exit 1; }

# --- helpers for the checks ------------------------------------------------------------------
via_nginx() { # path -> status; headers in $TMP/h, body in $TMP/b (through nginx, as a reader)
    curl -sS -o "$TMP/b" -D "$TMP/h" -w '%{http_code}' --max-time 20 \
        -H 'Host: blog.example.org' "http://127.0.0.1:$NGINX_PORT$1" || echo 000
}
# The first request after nginx's reload: nginx's own 404 (the old
# configuration, not yet replaced) never reaches the daemon; asked again.
first_req() { # path -> status
    local status i
    for i in $(seq 50); do
        status=$(via_nginx "$1")
        [ "$status" = 404 ] && ! grep -q '"error"' "$TMP/b" || break
        sleep 0.1
    done
    echo "$status"
}
straight() { # uri -> "status comments"; headers in $TMP/direct.h (straight to the daemon's socket)
    timeout 20 python3 "$ROOT/tests/e2e/fcgi.py" --timeout 15 --headers-out "$TMP/direct.h" \
        "/proc/$LEADER/root/run/mastodon-comments.sock" GET "$1"
}
comments() { python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["comments"]))' "$TMP/b" 2>/dev/null || echo '<not json>'; }
prop() { in_ct systemctl show -p "$2" --value "$1"; } # unit property
main_pid() { prop mastodon-comments.service MainPID; }
authorized() { curl -sS --max-time 5 "http://127.0.0.1:$STANDIN_PORT/__stand-in/calls" | python3 -c 'import json,sys; print(json.load(sys.stdin)["authorized"])'; }
# The service sent the token (read only from its credential: the config
# has none) since the count was taken.
expect_token() { # pass, authorized calls before
    local n=$(($(authorized) - $2))
    if [ "$n" -gt 0 ]; then
        ok "$1: the token arrives as a credential: $n calls of the service to the stand-in carried it (the config has none)"
    else
        bad "$1: no call of the service to the stand-in carried the token (LoadCredential=)"
    fi
}
journal_has() { # pattern -> the service's journal since the cursor has a line matching it
    in_ct journalctl --no-pager -q -u mastodon-comments.service --after-cursor="$CURSOR" -o cat | grep -qE "$1"
}
mark_journal() { CURSOR=$(in_ct journalctl --no-pager -q -n 0 --show-cursor | sed -n 's/^-- cursor: //p'); }
wait_new_pid() { # old pid, seconds -> a new main PID, active, within the bound
    wait_until "$2" "[ \"\$(timeout 5 nsenter -t $LEADER -a systemctl show -p MainPID --value mastodon-comments.service)\" != 0 ] \
        && [ \"\$(timeout 5 nsenter -t $LEADER -a systemctl show -p MainPID --value mastodon-comments.service)\" != $1 ] \
        && timeout 5 nsenter -t $LEADER -a systemctl is-active --quiet mastodon-comments.service"
}

# The README's checks of step 3, on the installed units.
check_units() { # pass
    local out
    out=$(in_ct systemctl status --no-pager mastodon-comments.socket 2>&1 || true)
    if grep -q 'Active: active (listening)' <<<"$out"; then
        ok "$1: systemctl status mastodon-comments.socket: active (listening)"
    else
        bad "$1: the socket is not active (listening): $out"
    fi
    out=$(in_ct ls -l /run/mastodon-comments.sock 2>&1 || true)
    if [[ $out =~ ^srw-------\ [0-9]+\ www-data\ www-data\  ]]; then
        ok "$1: ls -l /run/mastodon-comments.sock: srw------- www-data www-data"
    else
        bad "$1: ls -l /run/mastodon-comments.sock: $out"
    fi
    out=$(in_ct systemd-analyze security --no-pager mastodon-comments.service 2>&1 | tail -n 1)
    if [[ $out =~ exposure\ level\ for\ mastodon-comments.service:\ (0\.[0-9]|1\.0)\ OK ]]; then
        ok "$1: systemd-analyze security mastodon-comments.service: $out"
    else
        bad "$1: systemd-analyze security: $out"
    fi
    expect "$1: the service waits for the first request" inactive "$(in_ct systemctl is-active mastodon-comments.service || true)"
}

# The README's step 5 with the snippets in DIR, and the include line in
# the blog's server block; then `nginx -t && systemctl reload nginx`.
install_nginx_snippets() { # pass, dir of http.conf and location.conf in the container (examples/nginx: from /src)
    local block include
    block=$(readme_block "### 5. nginx" 1)
    [ "$2" = examples/nginx ] || block=${block//examples\/nginx/$2}
    include=$(readme_nginx_line "### 5. nginx")
    if in_src "$block" >"$TMP/nginx-install.out" 2>&1 \
        && { grep -qF "$include" <(in_ct cat /etc/nginx/sites-enabled/blog) \
            || in_ct sed -i "s#^}#    $include\n}#" /etc/nginx/sites-enabled/blog; } \
        && in_ct sh -c 'nginx -t && systemctl reload nginx' >>"$TMP/nginx-install.out" 2>&1; then
        ok "$1: README step 5 (snippets from $2, '$include' in the server block, nginx -t && systemctl reload nginx)"
    else
        bad "$1: README step 5: $(cat "$TMP/nginx-install.out")"
        exit 1
    fi
}

# --- 2. from source -----------------------------------------------------------------------------
P="source"
block=$(readme_block "### 1. The binary" 1)
expect "$P: README step 1 is the build and the install" \
    "cargo build --release --locked|install -m 0755 target/release/mastodon-comments /usr/local/bin/" "$(tr '\n' '|' <<<"$block" | sed 's/|$//')"
if (cd "$ROOT" && timeout 1200 $(head -n 1 <<<"$block") >"$TMP/cargo-build.log" 2>&1) && in_src "$(tail -n 1 <<<"$block")"; then
    ok "$P: README step 1: built here, installed in the container"
else
    bad "$P: README step 1: $(tail -n 3 "$TMP/cargo-build.log")"
    exit 1
fi
expect "$P: /usr/local/bin/mastodon-comments --version" "mastodon-comments $VERSION" "$(in_ct /usr/local/bin/mastodon-comments --version 2>&1)"

# Step 2: the config (the stand-in for the instance) and the token, typed
# at the prompt.
block=$(readme_block "### 2. Configuration and token" 1)
block=${block//https:\/\/mastodon.example/http://127.0.0.1:$STANDIN_PORT}
if in_src "$block" && in_src "$(readme_block "### 2. Configuration and token" 2)" <<<"boot-token" >"$TMP/token.out" 2>&1; then
    ok "$P: README step 2: config and token written"
else
    bad "$P: README step 2: $(cat "$TMP/token.out")"
    exit 1
fi
expect "$P: the token file: root only, the token as typed" "600 root:root boot-token" \
    "$(in_ct stat -c '%a %U:%G' /etc/mastodon-comments/token) $(in_ct cat /etc/mastodon-comments/token)"
block=$(readme_block "### 2. Configuration and token" 3)
block=${block//your-article/slow-bread}
if in_src "$block" >"$TMP/check.out" 2>&1 && grep -q '^everything needed works' "$TMP/check.out" \
    && grep -q '"comments"' "$TMP/check.out"; then
    ok "$P: README step 2's check and lookup: $(grep -c '^ok ' "$TMP/check.out") ok lines, the article's comments"
else
    bad "$P: README step 2's check and lookup: $(cat "$TMP/check.out")"
fi

# Step 3: the units, as the README installs and enables them.
if in_src "$(readme_block "### 3. systemd units" 1)" >"$TMP/units.out" 2>&1 \
    && ! grep -v '^Created symlink ' "$TMP/units.out" >/dev/null; then
    ok "$P: README step 3: verify printed nothing, the socket enabled and started"
else
    bad "$P: README step 3: $(cat "$TMP/units.out")"
    exit 1
fi
check_units "$P"

install_nginx_snippets "$P" examples/nginx
auth_before=$(authorized) # check and lookup above sent the token too
status=$(first_req "$ARTICLE/comments.json")
expect "$P: the first request through nginx (www-data) starts the service: 200, 5 comments, MISS" \
    "200 5 MISS active" "$status $(comments) $(header X-Cache-Status) $(in_ct systemctl is-active mastodon-comments.service || true)"
status=$(via_nginx "$ARTICLE/comments.json")
expect "$P: the same request again: nginx's cache (HIT)" "200 HIT" "$status $(header X-Cache-Status)"
expect "$P: the service runs /usr/local/bin/mastodon-comments" /usr/local/bin/mastodon-comments "$(in_ct readlink "/proc/$(main_pid)/exe")"
expect_token "$P" "$auth_before"

# --- 3. the switch to the package -------------------------------------------------------------
P="package"
# README, "Switching from a source install" (the block after apt install).
block=$(readme_block "### The Debian package" 3)
if in_src "$block" >"$TMP/switch.out" 2>&1 && [ "$(in_ct systemctl is-active mastodon-comments.socket mastodon-comments.service | sort -u)" = inactive ] \
    && ! in_ct test -e /usr/local/bin/mastodon-comments; then
    ok "$P: switching from the source install as the README says: its units stopped, disabled and removed, its binary removed"
else
    bad "$P: switching from the source install: $(cat "$TMP/switch.out"); units: $(in_ct systemctl is-active mastodon-comments.socket mastodon-comments.service | tr '\n' ' ')"
fi
cp "$DEB" "/proc/$LEADER/root/root/"
block=$(readme_block "### The Debian package" 2)
block=${block//apt install/apt-get install -y}
block=${block//mastodon-comments_0.1.0-1_amd64.deb/$(basename "$DEB")}
if in_ct bash -euc "cd /root; $block" 2>&1 | tr -d '\r' >"$TMP/apt-install.out" && [ "${PIPESTATUS[0]}" = 0 ] \
    && [ "$(tail -n 2 "$TMP/apt-install.out")" = "$(printf 'Unpacking mastodon-comments (%s-1) ...\nSetting up mastodon-comments (%s-1) ...' "$VERSION" "$VERSION")" ]; then
    ok "$P: apt install ./$(basename "$DEB"): ends with Unpacking and Setting up mastodon-comments ($VERSION-1), as the README shows"
else
    bad "$P: apt install: $(tail -n 10 "$TMP/apt-install.out")"
    exit 1
fi
expect "$P: dpkg -s mastodon-comments | grep Status" "Status: install ok installed" "$(in_ct dpkg -s mastodon-comments | grep Status)"
expect "$P: the config and token of the source install kept" "http://127.0.0.1:$STANDIN_PORT boot-token" \
    "$(in_ct sed -n 's/.*"url": "\([^"]*\)".*/\1/p' /etc/mastodon-comments/config.json) $(in_ct cat /etc/mastodon-comments/token)"
if in_ct systemctl enable --now mastodon-comments.socket >"$TMP/enable.out" 2>&1; then
    ok "$P: systemctl enable --now mastodon-comments.socket"
else
    bad "$P: systemctl enable --now mastodon-comments.socket: $(cat "$TMP/enable.out")"
fi
check_units "$P"
install_nginx_snippets "$P" /usr/share/mastodon-comments/nginx

# The first request: through nginx (a URI nginx has not cached) as www-data.
mark_journal
auth_before=$(authorized)
status=$(first_req "/2026/07/01/slow%2Dbread/comments.json")
expect "$P: the first request through nginx starts the service: 200, 5 comments, MISS" \
    "200 5 MISS active" "$status $(comments) $(header X-Cache-Status) $(in_ct systemctl is-active mastodon-comments.service || true)"
expect "$P: nginx's workers, which reached the socket, run as www-data" www-data \
    "$(in_ct ps -o user= --ppid "$(prop nginx.service MainPID)" | sort -u | tr '\n' ' ' | sed 's/ $//')"
PID1=$(main_pid)
expect "$P: the service runs the package's /usr/bin/mastodon-comments" /usr/bin/mastodon-comments "$(in_ct readlink "/proc/$PID1/exe")"
expect "$P: straight over FastCGI: 200, 5 comments, max-age=600" "200 5 max-age=600" \
    "$(straight "$ARTICLE/comments.json") $(header Cache-Control "$TMP/direct.h")"
expect_token "$P" "$auth_before"
if journal_has " request path=\"$ARTICLE\" status=200 "; then
    ok "$P: journalctl -u mastodon-comments: one line per request"
else
    bad "$P: no request line in the service's journal"
fi
# STATUS= is sent at start and refreshed every 10 s.
if wait_until 15 "timeout 5 nsenter -t $LEADER -a systemctl status --no-pager mastodon-comments.service 2>/dev/null | grep -qE 'Status: \"[1-9][0-9]* requests, '"; then
    ok "$P: systemctl status shows the STATUS line: $(in_ct systemctl status --no-pager mastodon-comments.service | grep -o 'Status: ".*"' || true)"
else
    bad "$P: systemctl status shows no STATUS line with the request count: $(in_ct systemctl status --no-pager mastodon-comments.service)"
fi

# Reload: a changed config applied by the same process.
in_ct sed -i 's/}$/, "max_age_seconds": 300}/' /etc/mastodon-comments/config.json
if in_ct systemctl reload mastodon-comments.service >"$TMP/reload.out" 2>&1; then
    ok "$P: systemctl reload mastodon-comments: exit 0"
else
    bad "$P: systemctl reload mastodon-comments: $(cat "$TMP/reload.out")"
fi
for _ in $(seq 50); do journal_has 'config reloaded from' && break; sleep 0.2; done
expect "$P: the reloaded config applies (max-age 600 -> 300), the same process" "200 5 max-age=300 $PID1" \
    "$(straight "$ARTICLE/comments.json") $(header Cache-Control "$TMP/direct.h") $(main_pid)"

# A crash: restarted (Restart=on-failure, RestartSec=1s). Rust's runtime
# catches the first SIGSEGV (its stack overflow guard, which only re-raises
# a fault of the instruction it returns to): one sent with kill is
# absorbed and the default action restored, so a second one is the crash.
restarts=$(prop mastodon-comments.service NRestarts)
mark_journal
in_ct kill -SEGV "$PID1"
sleep 0.5
segv=1
if [ "$(main_pid)" = "$PID1" ]; then in_ct kill -SEGV "$PID1"; segv=2; fi
if wait_new_pid "$PID1" 15; then
    PID2=$(main_pid)
    ok "$P: after SIGSEGV ($segv sent): restarted ($PID1 -> $PID2, NRestarts $restarts -> $(prop mastodon-comments.service NRestarts))"
else
    bad "$P: not restarted within 15 s of SIGSEGV: $(in_ct systemctl status --no-pager mastodon-comments.service)"
    PID2=$(main_pid)
fi
journal_has "status=11/SEGV" && ok "$P: the journal says the main process died of SIGSEGV" || bad "$P: no SIGSEGV in the journal"
expect "$P: answers after the crash" "200 5" "$(straight "$ARTICLE/comments.json")"

# A hang: SIGSTOP; the watchdog (WatchdogSec=) kills it with SIGABRT and
# it is restarted, within WatchdogSec + TimeoutStopSec + RestartSec.
wd_s=$(in_ct systemctl show -p WatchdogUSec --value mastodon-comments.service)
bound=$(python3 - "$wd_s" "$(prop mastodon-comments.service TimeoutAbortUSec)" <<'PY'
import re, sys
def secs(v):
    t = 0.0
    for n, u in re.findall(r"([0-9.]+)\s*(min|ms|us|s|h)", v):
        t += float(n) * {"h": 3600, "min": 60, "s": 1, "ms": 1e-3, "us": 1e-6}[u]
    return t
print(int(secs(sys.argv[1]) + secs(sys.argv[2]) + 1 + 10))
PY
)
mark_journal
started=$SECONDS
in_ct kill -STOP "$PID2"
if wait_new_pid "$PID2" "$bound"; then
    ok "$P: SIGSTOPped: the watchdog (WatchdogSec=$wd_s) restarted it after $((SECONDS - started)) s (bound $bound s)"
else
    bad "$P: SIGSTOPped: not restarted within $bound s (WatchdogSec=$wd_s): $(in_ct systemctl status --no-pager mastodon-comments.service)"
fi
journal_has "Watchdog timeout" && ok "$P: the journal says: watchdog timeout" || bad "$P: no watchdog timeout in the journal"
PID3=$(main_pid)
expect "$P: answers after the watchdog's restart" "200 5" "$(straight "$ARTICLE/comments.json")"

# The dynamic user, then a clean stop.
uid=$(in_ct awk '/^Uid:/ {print $2}' "/proc/$PID3/status")
if in_ct systemctl stop mastodon-comments.service >"$TMP/stop.out" 2>&1; then
    ok "$P: systemctl stop mastodon-comments.service: exit 0"
else
    bad "$P: systemctl stop: $(cat "$TMP/stop.out")"
fi
expect "$P: stopped cleanly: result success, exit status 0" "success 0 inactive" \
    "$(prop mastodon-comments.service Result) $(prop mastodon-comments.service ExecMainStatus) $(in_ct systemctl is-active mastodon-comments.service || true)"
if [ -n "$uid" ] && [ "$uid" -ge 61184 ] && [ "$uid" -le 65519 ]; then
    ok "$P: the service ran as a dynamic user (uid $uid)"
else
    bad "$P: the service's uid '$uid' is not a dynamic one (61184-65519)"
fi
expect "$P: /var/lib/private/mastodon-comments: the dynamic user's, 0700; /var/lib/mastodon-comments links to it" \
    "$uid 700 private/mastodon-comments" \
    "$(in_ct stat -c '%u %a' /var/lib/private/mastodon-comments) $(in_ct readlink /var/lib/mastodon-comments)"
if in_ct grep -q "$ROOT_ID" /var/lib/private/mastodon-comments/state.json \
    && [ "$(in_ct stat -c %u /var/lib/private/mastodon-comments/state.json)" = "$uid" ]; then
    ok "$P: the state file holds the article's root, owned by the dynamic user"
else
    bad "$P: state.json: $(in_ct ls -ln /var/lib/private/mastodon-comments/ 2>&1)"
fi

# Idle exit: the README's drop-in (for the package's path, 2s for 10min),
# then the next request starts the service again.
block=$(readme_block "### 3. systemd units" 2)
block=${block//\/usr\/local\/bin\//\/usr\/bin\/}
block=${block//--exit-idle-after 10min/--exit-idle-after 2s}
if in_src "$block" >"$TMP/idle.out" 2>&1 \
    && in_ct systemctl show -p ExecStart --value mastodon-comments.service | grep -q 'argv\[\]=/usr/bin/mastodon-comments --exit-idle-after 2s '; then
    ok "$P: the README's idle drop-in (--exit-idle-after 2s) in effect"
else
    bad "$P: the README's idle drop-in: $(cat "$TMP/idle.out") $(in_ct systemctl show -p ExecStart --value mastodon-comments.service)"
fi
expect "$P: idle drop-in: a request starts the service" "200 5 active" \
    "$(straight "$ARTICLE/comments.json") $(in_ct systemctl is-active mastodon-comments.service || true)"
PID4=$(main_pid)
if wait_until 15 "! timeout 5 nsenter -t $LEADER -a systemctl is-active --quiet mastodon-comments.service"; then
    expect "$P: idle: the service exits by itself, result success; the socket still listening" "success inactive active" \
        "$(prop mastodon-comments.service Result) $(in_ct systemctl is-active mastodon-comments.service || true) $(in_ct systemctl is-active mastodon-comments.socket || true)"
else
    bad "$P: idle: the service still runs 15 s after its last request (--exit-idle-after 2s)"
fi
expect "$P: idle: the next request starts it again" "200 5 active" \
    "$(straight "$ARTICLE/comments.json") $(in_ct systemctl is-active mastodon-comments.service || true)"
[ "$(main_pid)" != "$PID4" ] && ok "$P: idle: a new process ($PID4 -> $(main_pid))" || bad "$P: idle: the same process $PID4"
in_ct rm -r /etc/systemd/system/mastodon-comments.service.d
in_ct systemctl daemon-reload

# --- 4. remove and purge ---------------------------------------------------------------------
if in_ct apt-get remove -y mastodon-comments >"$TMP/remove.out" 2>&1; then ok "$P: apt remove: exit 0"; else bad "$P: apt remove: $(tail -n 5 "$TMP/remove.out")"; fi
# Debian's way (deb-systemd-helper): a removed package's units are masked,
# their enablement kept until purge.
expect "$P: removed: the units stopped and masked, the socket file gone; the config, token and state stay" \
    "inactive inactive masked masked gone kept" \
    "$(in_ct systemctl is-active mastodon-comments.socket || true) $(in_ct systemctl is-active mastodon-comments.service || true) \
$(in_ct systemctl is-enabled mastodon-comments.socket || true) $(in_ct systemctl is-enabled mastodon-comments.service || true) \
$(in_ct test -e /run/mastodon-comments.sock && echo there || echo gone) \
$(in_ct test -s /etc/mastodon-comments/config.json -a -s /etc/mastodon-comments/token -a -f /var/lib/private/mastodon-comments/state.json && echo kept || echo gone)"
if in_ct apt-get purge -y mastodon-comments >"$TMP/purge.out" 2>&1; then ok "$P: apt purge: exit 0"; else bad "$P: apt purge: $(tail -n 5 "$TMP/purge.out")"; fi
left=$(in_ct sh -c 'ls -d /etc/mastodon-comments /var/lib/private/mastodon-comments /var/lib/mastodon-comments \
    /usr/lib/systemd/system/mastodon-comments.* /etc/systemd/system/mastodon-comments.* \
    /etc/systemd/system/*/mastodon-comments.* /run/mastodon-comments.sock /usr/bin/mastodon-comments 2>/dev/null' || true)
expect "$P: purged: no config, state, unit, mask, enablement, socket or binary left" "" "$left"
expect "$P: purged: systemd knows no unit file of it" "0" \
    "$(in_ct systemctl list-unit-files --no-legend 'mastodon-comments*' | wc -l)"

[ ! -e "$RFS/etc/mastodon-comments" ] && [ ! -e "$RFS/usr/bin/mastodon-comments" ] \
    && ok "the cached root file system is untouched" || bad "the cached root file system was changed: $RFS"

[ "$FAIL" -eq 0 ]
