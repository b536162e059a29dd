#!/usr/bin/env bash
# The Debian package (`cargo deb`, Cargo.toml [package.metadata.deb]):
#
#  1. builds it (a release build; MC_DEB=FILE tests a package built before)
#     and checks its metadata (name, version, architecture, Depends, the
#     changelog's version), its files and their modes, its conffiles (the
#     AppArmor profile only: the config is placed by postinst, never a
#     conffile) and maintainer scripts (nothing enabled or started);
#  2. checks that the packaged units and profile are those of systemd/ and
#     apparmor/ with /usr/bin for /usr/local/bin and nothing else changed,
#     that systemd-analyze verify and security (exposure <= 1.0) pass on the
#     packaged units and apparmor_parser compiles the packaged profile;
#  3. runs lintian: no error;
#  4. installs, reinstalls, upgrades, removes and purges it for real with
#     dpkg inside a Debian 12 minbase chroot (debootstrap, cached in
#     target/package-test/; each run works on a fresh copy, never on the
#     host's /), running the maintainer scripts there without systemd as a
#     package in a container does: the binary runs, the example config and
#     an empty token are placed on the first install only where there are
#     none, the daemon refuses the untouched example naming the key to set,
#     an operator's config survives reinstall and upgrade, remove keeps the
#     config and the state, purge removes them and leaves no file behind.
#
# Needs: cargo-deb, dpkg-deb, systemd-analyze, apparmor_parser, lintian,
# debootstrap (and the network, once, for the chroot), chroot; root.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/tests/e2e/lib.sh"

require_tools kill dpkg-deb dpkg systemd-analyze apparmor_parser lintian debootstrap chroot python3 timeout nm readelf
[ "$(id -u)" = 0 ] || { echo "package.sh needs root (dpkg in a chroot)" >&2; echo "0 passed, 1 failed"; exit 1; }

CACHE=$ROOT/target/package-test
TMP=$(mktemp -d /tmp/mc-e2e-package.XXXXXX)
PIDS=()
trap cleanup_pids EXIT
trap 'exit 130' INT TERM

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -n 1)
ARCH=$(dpkg --print-architecture)

# --- 1. build and metadata ---------------------------------------------------------------------
build_deb
[ "$(basename "$DEB")" = "mastodon-comments_${VERSION}-1_${ARCH}.deb" ] \
    && ok "file name mastodon-comments_${VERSION}-1_${ARCH}.deb" \
    || bad "file name $(basename "$DEB"), expected mastodon-comments_${VERSION}-1_${ARCH}.deb"

field() { dpkg-deb -f "$DEB" "$1"; }
expect "Package:" "mastodon-comments" "$(field Package)"
expect "Version: (Cargo.toml's, revision 1)" "$VERSION-1" "$(field Version)"
expect "Architecture:" "$ARCH" "$(field Architecture)"
depends=$(field Depends)
case ", $depends," in
    *", ca-certificates,"*) ok "Depends: ca-certificates (an https instance needs it): $depends" ;;
    *) bad "Depends: no ca-certificates: $depends" ;;
esac
case ", $depends," in
    *", procps,"*) ok "Depends: procps (ExecReload= runs its /bin/kill): $depends" ;;
    *) bad "Depends: no procps: $depends" ;;
esac
case "$depends" in
    *libc6*) ok "Depends: libc6 (found by cargo-deb)" ;;
    *) bad "Depends: no libc6: $depends" ;;
esac

mkdir "$TMP/deb" "$TMP/control"
dpkg-deb -x "$DEB" "$TMP/deb"
dpkg-deb -e "$DEB" "$TMP/control"
gunzip -c "$TMP/deb/usr/share/doc/mastodon-comments/changelog.Debian.gz" 2>/dev/null | head -n 1 >"$TMP/changelog.out" || true
if grep -q "^mastodon-comments ($VERSION-1) " "$TMP/changelog.out"; then
    ok "changelog.Debian.gz names $VERSION-1 (package/changelog)"
else
    bad "changelog.Debian.gz does not begin with 'mastodon-comments ($VERSION-1)': add an entry to package/changelog: $(cat "$TMP/changelog.out")"
fi

# Every file: path and mode, exactly.
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ {print $1, $6}' | sed 's# \./# /#' | sort >"$TMP/files.out"
sort >"$TMP/files.want" <<'EOF'
-rw-r--r-- /etc/apparmor.d/usr.bin.mastodon-comments
-rw-r--r-- /usr/lib/systemd/system/mastodon-comments.service
-rw-r--r-- /usr/lib/systemd/system/mastodon-comments.socket
-rw-r--r-- /usr/share/doc/mastodon-comments/README.md
-rw-r--r-- /usr/share/doc/mastodon-comments/changelog.Debian.gz
-rw-r--r-- /usr/share/doc/mastodon-comments/copyright
-rw-r--r-- /usr/share/mastodon-comments/apache/mastodon-comments.conf
-rw-r--r-- /usr/share/mastodon-comments/caddy/mastodon-comments.caddyfile
-rw-r--r-- /usr/share/mastodon-comments/config.json
-rw-r--r-- /usr/share/mastodon-comments/nginx/http.conf
-rw-r--r-- /usr/share/mastodon-comments/nginx/location.conf
-rwxr-xr-x /usr/bin/mastodon-comments
EOF
if diff "$TMP/files.want" "$TMP/files.out" >"$TMP/files.diff"; then
    ok "the package holds exactly the $(wc -l <"$TMP/files.want") expected files with their modes"
else
    bad "the package's files differ from the expected ones: $(cat "$TMP/files.diff")"
fi
same() { # description, source file, packaged file
    if cmp -s "$2" "$3"; then ok "$1"; else bad "$1: differs from $2"; fi
}
same "README.md as in the source" "$ROOT/README.md" "$TMP/deb/usr/share/doc/mastodon-comments/README.md"
same "the example config as package/config.json" "$ROOT/package/config.json" "$TMP/deb/usr/share/mastodon-comments/config.json"
same "nginx http.conf as examples/nginx" "$ROOT/examples/nginx/http.conf" "$TMP/deb/usr/share/mastodon-comments/nginx/http.conf"
same "nginx location.conf as examples/nginx" "$ROOT/examples/nginx/location.conf" "$TMP/deb/usr/share/mastodon-comments/nginx/location.conf"
same "the Caddy snippet as examples/caddy" "$ROOT/examples/caddy/mastodon-comments.caddyfile" "$TMP/deb/usr/share/mastodon-comments/caddy/mastodon-comments.caddyfile"
same "the Apache snippet as examples/apache" "$ROOT/examples/apache/mastodon-comments.conf" "$TMP/deb/usr/share/mastodon-comments/apache/mastodon-comments.conf"
if grep -q 'GNU AFFERO GENERAL PUBLIC LICENSE' "$TMP/deb/usr/share/doc/mastodon-comments/copyright" \
    && grep -q 'AGPL-3.0-or-later' "$TMP/deb/usr/share/doc/mastodon-comments/copyright"; then
    ok "copyright: AGPL-3.0-or-later with the licence text"
else
    bad "copyright lacks the licence or its name"
fi

expect "conffiles: the AppArmor profile only (the config is not a conffile)" \
    "/etc/apparmor.d/usr.bin.mastodon-comments" "$(cat "$TMP/control/conffiles")"
for s in postinst prerm postrm; do
    if [ -x "$TMP/control/$s" ] && sh -n "$TMP/control/$s"; then ok "maintainer script $s: executable, valid sh"; else bad "maintainer script $s missing or invalid"; fi
done
# Installing starts and enables nothing: no start, and enable only where
# the operator had enabled the unit before (deb-systemd-helper was-enabled).
if grep -nE 'deb-systemd-invoke (start|restart)|systemctl (start|enable|restart)' "$TMP/control/postinst" >"$TMP/starts.out"; then
    bad "postinst starts or enables a unit: $(cat "$TMP/starts.out")"
else
    ok "postinst starts nothing (try-restart on upgrade only) and enables nothing of its own"
fi
grep -q 'deb-systemd-invoke stop mastodon-comments.service mastodon-comments.socket' "$TMP/control/prerm" \
    && ok "prerm stops the service and the socket (where systemd runs)" || bad "prerm does not stop the units"
grep -q 'deb-systemd-helper purge mastodon-comments.service mastodon-comments.socket' "$TMP/control/postrm" \
    && ok "postrm forgets the units' enablement on purge" || bad "postrm does not purge the units' state"

# The packaged binary is cargo's release build, stripped: the same code at
# the same addresses, with the functions of link/hot-code.txt placed first
# (build.rs), so a running daemon keeps little of its code resident
# (README: Performance). The list names the linker's symbols, which change
# with the code, the dependencies, the version and rustc; when fewer than
# 90 % of them are found, or they are not first (`benches/hot-code.sh
# --check`), benches/hot-code.sh writes it again.
release_bin=$ROOT/target/release/mastodon-comments
text_of() { readelf -SW "$1" | awk '$2 == ".text" { print $4, $6 }'; }
if [ "$(text_of "$TMP/deb/usr/bin/mastodon-comments")" = "$(text_of "$release_bin")" ]; then
    ok "the packaged binary's code is the release build's (.text $(text_of "$release_bin"))"
else
    bad "the packaged binary's .text ($(text_of "$TMP/deb/usr/bin/mastodon-comments")) is not the release build's ($(text_of "$release_bin"))"
fi
if hot=$("$ROOT/benches/hot-code.sh" --check 2>"$TMP/hot-code.log"); then
    ok "the hot code is placed first: $hot"
else
    bad "$hot $(tail -n 3 "$TMP/hot-code.log")"
fi

# --- 2. the units and the profile: one source ------------------------------------------------------
for pair in "systemd/mastodon-comments.service:usr/lib/systemd/system/mastodon-comments.service" \
    "systemd/mastodon-comments.socket:usr/lib/systemd/system/mastodon-comments.socket" \
    "apparmor/usr.local.bin.mastodon-comments:etc/apparmor.d/usr.bin.mastodon-comments"; do
    src=$ROOT/${pair%%:*} pkg=$TMP/deb/${pair#*:}
    # Lines that differ must be exactly the source's path lines with
    # /usr/local/bin -> /usr/bin.
    if python3 - "$src" "$pkg" >"$TMP/onesource.out" 2>&1 <<'PY'
import sys
a = open(sys.argv[1]).read().splitlines()
b = open(sys.argv[2]).read().splitlines()
if len(a) != len(b):
    sys.exit("%d lines, the source has %d" % (len(b), len(a)))
changed = 0
for x, y in zip(a, b):
    if x == y:
        continue
    want = x.replace("/usr/local/bin/mastodon-comments", "/usr/bin/mastodon-comments") \
            .replace("usr.local.bin.mastodon-comments", "usr.bin.mastodon-comments")
    if y != want or x == want:
        sys.exit("unexpected change: %r -> %r" % (x, y))
    changed += 1
if any("/usr/local" in y or "usr.local" in y for y in b):
    sys.exit("still names /usr/local")
print("%d lines, %d with the path changed" % (len(b), changed))
PY
    then
        ok "${pair#*:}: the source's ${pair%%:*} for /usr/bin ($(cat "$TMP/onesource.out"))"
    else
        bad "${pair#*:}: not the source's ${pair%%:*} with the path changed: $(cat "$TMP/onesource.out")"
    fi
done
grep -qxF 'ExecStart=/usr/bin/mastodon-comments /etc/mastodon-comments/config.json' "$TMP/deb/usr/lib/systemd/system/mastodon-comments.service" \
    && ok "packaged service: ExecStart=/usr/bin/mastodon-comments /etc/mastodon-comments/config.json" \
    || bad "packaged service: no ExecStart=/usr/bin/mastodon-comments"
# verify wants the binary and the units it depends on: the package's files
# over the host's units and kill(1), in a root of their own.
V=$TMP/verify-root
mkdir -p "$V/usr/lib/systemd" "$V/usr/bin"
cp -a /usr/lib/systemd/system "$V/usr/lib/systemd/"
cp -a "$TMP/deb/." "$V/"
cp /bin/kill "$V/usr/bin/kill"
ln -s usr/bin "$V/bin"
if timeout 60 systemd-analyze verify --man=no --root="$V" \
    /usr/lib/systemd/system/mastodon-comments.service /usr/lib/systemd/system/mastodon-comments.socket \
    >"$TMP/verify.out" 2>&1 && [ ! -s "$TMP/verify.out" ]; then
    ok "systemd-analyze verify (packaged units, binary at /usr/bin): no message"
else
    bad "systemd-analyze verify (packaged units): $(cat "$TMP/verify.out")"
fi
timeout 60 systemd-analyze security --offline=yes "$TMP/deb/usr/lib/systemd/system/mastodon-comments.service" >"$TMP/security.out" 2>&1 || true
exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$TMP/security.out")
if [ -n "$exposure" ] && python3 -c "import sys; sys.exit(0 if float('$exposure') <= 1.0 else 1)"; then
    ok "systemd-analyze security --offline=yes (packaged service): exposure $exposure <= 1.0"
else
    bad "systemd-analyze security (packaged service): exposure '$exposure': $(tail -n 3 "$TMP/security.out")"
fi
if timeout 60 apparmor_parser -Q --skip-kernel-load -K -q "$TMP/deb/etc/apparmor.d/usr.bin.mastodon-comments" >"$TMP/parse.out" 2>&1; then
    ok "apparmor_parser compiles the packaged profile"
else
    bad "apparmor_parser (packaged profile): $(cat "$TMP/parse.out")"
fi
grep -qE '^profile mastodon-comments /usr/bin/mastodon-comments \{' "$TMP/deb/etc/apparmor.d/usr.bin.mastodon-comments" \
    && ok "packaged profile mastodon-comments attaches to /usr/bin/mastodon-comments" \
    || bad "packaged profile does not attach to /usr/bin/mastodon-comments"

# --- 3. lintian ------------------------------------------------------------------------------------
timeout 300 lintian --tag-display-limit 0 "$DEB" >"$TMP/lintian.out" 2>&1 || true
if grep -q '^E: ' "$TMP/lintian.out"; then
    bad "lintian: $(grep '^E: ' "$TMP/lintian.out" | tr '\n' ' ')"
else
    ok "lintian: no error ($(grep -c '^W: ' "$TMP/lintian.out" || true) warnings)"
fi
grep -E '^[WI]: ' "$TMP/lintian.out" | sed 's/^/# lintian: /' || true

# --- 4. install, upgrade, remove, purge in a Debian 12 chroot ---------------------------------------
# The cached minbase (with ca-certificates and procps, the package's
# dependencies) is made once; every run copies it.
debian_minbase "$CACHE"
BASE=$MINBASE
R=$TMP/root
cp -a --reflink=auto "$BASE" "$R"
rm -f "$R/.complete"
[ ! -e "$R/run/systemd/system" ] || { bad "the chroot has /run/systemd/system: the test must run without systemd"; exit 1; }
cp "$DEB" "$R/tmp/mc.deb"
# The second version, for the upgrade: the same files, version -2.
if (cd "$ROOT" && timeout 300 cargo deb --no-build --deb-revision 2 -o "$R/tmp/mc-2.deb" >"$TMP/cargo-deb-2.log" 2>&1); then
    :
else
    cp "$DEB" "$R/tmp/mc-2.deb"
    echo "# could not build revision 2 ($(tail -n 1 "$TMP/cargo-deb-2.log")): the upgrade step reinstalls the same version"
fi
in_root() { timeout 120 chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
snapshot() { # file: every path in the chroot but dpkg's own records and logs
    (cd "$R" && find . -xdev \( -path ./var/lib/dpkg -o -path ./var/log -o -path ./tmp -o -path ./var/cache \
        -o -path ./proc -o -path ./var/lib/systemd/deb-systemd-helper-enabled -o -path ./var/lib/systemd/deb-systemd-helper-masked \) -prune \
        -o -print | sort) >"$1"
}
mode_of() { stat -c '%a %U:%G %s' "$R$1" 2>/dev/null || echo missing; }
# systemd's own directory for DynamicUser= state, shared by all services
# (made by systemd, never by the package): there before, left after.
mkdir -p -m 0700 "$R/var/lib/private"
snapshot "$TMP/before.list"

# 4a. The first install.
if in_root dpkg -i /tmp/mc.deb >"$TMP/install.log" 2>&1; then
    ok "dpkg -i (first install, no systemd running): exit 0"
else
    bad "dpkg -i: $(tail -n 5 "$TMP/install.log")"
    exit 1
fi
expect "installed binary: mastodon-comments --version" "mastodon-comments $VERSION" "$(in_root mastodon-comments --version 2>&1)"
if in_root mastodon-comments check --help >"$TMP/check-help.out" 2>&1 && grep -q 'Check the set-up' "$TMP/check-help.out"; then
    ok "installed binary: check --help"
else
    bad "installed binary: check --help: $(head -n 3 "$TMP/check-help.out")"
fi
if cmp -s "$ROOT/package/config.json" "$R/etc/mastodon-comments/config.json"; then
    ok "first install: the example config placed in /etc/mastodon-comments/config.json ($(mode_of /etc/mastodon-comments/config.json))"
else
    bad "first install: /etc/mastodon-comments/config.json is not the example"
fi
expect "first install: config.json root:root 0644" "644 root:root" "$(mode_of /etc/mastodon-comments/config.json | cut -d' ' -f1,2)"
expect "first install: an empty token file for LoadCredential=, root only" "600 root:root 0" "$(mode_of /etc/mastodon-comments/token)"
if ls "$R"/etc/systemd/system/*/mastodon-comments.* >/dev/null 2>&1; then
    bad "first install enabled a unit: $(ls "$R"/etc/systemd/system/*/mastodon-comments.*)"
else
    ok "first install: no unit enabled"
fi
# The untouched example: refused, naming the file, the key and what to write.
in_root env CREDENTIALS_DIRECTORY=/etc/mastodon-comments mastodon-comments /etc/mastodon-comments/config.json \
    >"$TMP/example-run.out" 2>&1 && rc=0 || rc=$?
if [ "$rc" != 0 ] && grep -q '/etc/mastodon-comments/config.json: "url" must be an absolute https URL, got "https://YOUR INSTANCE"; write e.g.' "$TMP/example-run.out"; then
    ok "the daemon refuses the untouched example (exit $rc): $(tail -n 1 "$TMP/example-run.out")"
else
    bad "the daemon does not refuse the example config as expected (exit $rc): $(cat "$TMP/example-run.out")"
fi

# 4b. The operator writes the config and a token; reinstall and upgrade keep them.
printf '{"url": "https://mastodon.example", "userid": "109308551561216011", "blog_url": "https://blog.example.org"}\n' \
    >"$R/etc/mastodon-comments/config.json"
cp "$R/etc/mastodon-comments/config.json" "$TMP/operator.json"
printf 'operator-token' >"$R/etc/mastodon-comments/token"
if in_root dpkg -i /tmp/mc.deb >"$TMP/reinstall.log" 2>&1 && cmp -s "$TMP/operator.json" "$R/etc/mastodon-comments/config.json" \
    && [ "$(cat "$R/etc/mastodon-comments/token")" = operator-token ]; then
    ok "reinstall: the operator's config and token kept"
else
    bad "reinstall: the operator's config or token changed: $(tail -n 3 "$TMP/reinstall.log")"
fi
if in_root dpkg -i /tmp/mc-2.deb >"$TMP/upgrade.log" 2>&1 && cmp -s "$TMP/operator.json" "$R/etc/mastodon-comments/config.json" \
    && [ "$(cat "$R/etc/mastodon-comments/token")" = operator-token ]; then
    ok "upgrade to $(dpkg-deb -f "$R/tmp/mc-2.deb" Version): the operator's config and token kept"
else
    bad "upgrade: the operator's config or token changed: $(tail -n 3 "$TMP/upgrade.log")"
fi
# The state as systemd's DynamicUser= leaves it.
mkdir -m 0700 "$R/var/lib/private/mastodon-comments"
printf '{"roots": {}}' >"$R/var/lib/private/mastodon-comments/state.json"
ln -s private/mastodon-comments "$R/var/lib/mastodon-comments"

# 4c. Remove: the program goes, the config and the state stay.
if in_root dpkg -r mastodon-comments >"$TMP/remove.log" 2>&1; then ok "dpkg -r: exit 0"; else bad "dpkg -r: $(tail -n 5 "$TMP/remove.log")"; fi
[ ! -e "$R/usr/bin/mastodon-comments" ] && [ ! -e "$R/usr/lib/systemd/system/mastodon-comments.service" ] \
    && ok "remove: the binary and the units are gone" || bad "remove: the binary or a unit is still there"
cmp -s "$TMP/operator.json" "$R/etc/mastodon-comments/config.json" && [ -f "$R/etc/mastodon-comments/token" ] \
    && ok "remove: the config and the token stay" || bad "remove: the config or the token is gone"
[ -f "$R/var/lib/private/mastodon-comments/state.json" ] && [ -L "$R/var/lib/mastodon-comments" ] \
    && ok "remove: the state stays" || bad "remove: the state is gone"

# 4d. Purge: nothing left.
if in_root dpkg -P mastodon-comments >"$TMP/purge.log" 2>&1; then ok "dpkg -P: exit 0"; else bad "dpkg -P: $(tail -n 5 "$TMP/purge.log")"; fi
for p in /etc/mastodon-comments /var/lib/private/mastodon-comments /var/lib/mastodon-comments /etc/apparmor.d/usr.bin.mastodon-comments; do
    if [ -e "$R$p" ] || [ -L "$R$p" ]; then bad "purge: $p is still there"; else ok "purge: $p removed"; fi
done
snapshot "$TMP/after.list"
if diff "$TMP/before.list" "$TMP/after.list" >"$TMP/left.diff"; then
    ok "purge: the chroot's files are those of before the install"
else
    bad "purge: files differ from before the install: $(grep '^[<>]' "$TMP/left.diff" | head -n 10 | tr '\n' ' ')"
fi
expect "dpkg knows nothing of the package after purge" "" "$(in_root dpkg-query -W -f='${Status}' mastodon-comments 2>/dev/null || true)"

# 4e. An operator's config from before (a source install): kept on the first install.
mkdir -p "$R/etc/mastodon-comments"
cp "$TMP/operator.json" "$R/etc/mastodon-comments/config.json"
if in_root dpkg -i /tmp/mc.deb >"$TMP/install2.log" 2>&1 && cmp -s "$TMP/operator.json" "$R/etc/mastodon-comments/config.json"; then
    ok "first install over an existing config: kept, the example not copied over it"
else
    bad "first install over an existing config: changed: $(tail -n 3 "$TMP/install2.log")"
fi
in_root dpkg -P mastodon-comments >"$TMP/purge2.log" 2>&1 || bad "dpkg -P (second): $(tail -n 3 "$TMP/purge2.log")"

[ "$FAIL" -eq 0 ]
