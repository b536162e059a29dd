#!/usr/bin/env bash
# Writes link/hot-code.txt: the functions of the daemon that run in its
# normal work. build.rs has the linker place them together at the start of
# the program's code, in that file's order. Why: the kernel maps the 64 KiB
# around every page of code a process touches, so the ~1.1 MB of functions
# a daemon runs, spread through 2.9 MB of code, kept 2.8 MB of it
# resident; placed together they keep about 1.3 MB.
#
# The file lists them in three parts, each sorted by name, so a daemon's
# pages stay together however it is used: what a daemon runs to start and
# answer a first request from a plain-http instance and then idle; what
# an https instance adds to that (TLS, the CA certificates); then the rest
# of a load run (cached answers under load, the image proxy, a refused
# huge body, shutdown).
#
#   benches/hot-code.sh           profile the daemon and rewrite the file
#   benches/hot-code.sh --check   only check the file against the release
#                                 build: fails when fewer than 90 % of its
#                                 functions are found, or they are not at
#                                 the start of the code (the package test
#                                 runs this)
#
# The names are the linker's symbols, which change with the code, the
# dependencies' versions, the package's version and rustc: run this after
# changing any of them, and commit the file it writes. Names no longer
# found are placed as the linker would.
#
# How: the daemon is built by `cargo build --release` (which keeps the
# symbol table, see Cargo.toml), and benches/load.sh runs that binary
# under callgrind, which lists every function that ran: `--memory`,
# `--tls --memory`, then `--tls` with 2 s phases. The subcommands (check,
# lookup, demo, stand-in) are not profiled: they run once, not in the
# daemon.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
out="$repo/link/hot-code.txt"
bin="$repo/target/release/mastodon-comments"
die() { echo "hot-code.sh: $*" >&2; exit 1; }
check_only=0
if [ "${1:-}" = --check ]; then check_only=1; fi
for tool in nm readelf python3 $([ "$check_only" = 1 ] || echo valgrind); do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y valgrind binutils python3)"
done

echo "hot-code.sh: building the daemon (release)" >&2
(cd "$repo" && cargo build --release --quiet --bin mastodon-comments) || die "cargo build --release failed"

# The binary's functions (nm: text symbols, with address and size).
profiles="$(mktemp -d /tmp/mastodon-comments-hot-code.XXXXXX)"
trap 'rm -rf "$profiles"' EXIT
symbols="$profiles/symbols.txt"
nm --defined-only -S "$bin" | awk 'NF == 4 && $3 ~ /^[tTwW]$/ { print $4, $1, $2 }' | sort -u -k1,1 >"$symbols"
[ -s "$symbols" ] || die "$bin has no symbol table (is strip set in Cargo.toml's release profile?)"

# The file against this build: how many of its functions the binary has,
# and whether they sit at the start of its code (build.rs had the linker
# use the file). Padding between functions costs a few per cent.
matches() {
    python3 - "$symbols" "$out" "$(readelf -SW "$bin" | awk '$2 == ".text" { print $4 }')" <<'PY'
import sys
symbols_file, listing, text_start = sys.argv[1], sys.argv[2], int(sys.argv[3], 16)
symbols = {}
for line in open(symbols_file):
    name, address, size = line.split()
    symbols[name] = (int(address, 16), int(size, 16))
names = [l.strip() for l in open(listing) if l.strip() and not l.startswith('#')]
found = [symbols[n] for n in names if n in symbols]
size = sum(s for _, s in found)
span = max((a + s for a, s in found), default=text_start) - text_start
print(f'{len(found)} of {len(names)} listed functions found, {size} bytes, placed in the first {span} bytes of the code')
sys.exit(0 if len(found) >= 0.9 * len(names) and span <= 1.15 * size else 1)
PY
}
if [ "$check_only" = 1 ]; then
    matches || die "link/hot-code.txt no longer matches the build, or was not used: run benches/hot-code.sh and commit the file"
    exit 0
fi
if [ -f "$out" ]; then echo "hot-code.sh: the file before: $(matches || true)"; fi

profile() { # name load.sh-arguments...
    local name=$1; shift
    echo "hot-code.sh: benches/load.sh $* under callgrind" >&2
    mkdir -p "$profiles/$name"
    MC_BIN="$bin" MC_WRAP="valgrind --tool=callgrind --demangle=no --callgrind-out-file=$profiles/$name/callgrind.%p" \
        "$repo/benches/load.sh" "$@" >"$profiles/$name.txt" 2>&1 ||
        die "benches/load.sh $* failed under callgrind: $(tail -n 5 "$profiles/$name.txt")"
    compgen -G "$profiles/$name/callgrind.*" >/dev/null || die "callgrind wrote no profile for load.sh $*"
}
profile first-answer --memory
profile first-answer-tls --tls --memory
profile load-tls --tls 2

# Every function of the binary that a profile's daemons ran (callgrind
# names each once as "fn=(id) name" or "cfn=(id) name", then by its id
# alone; "'2" marks a recursive call), kept when the binary defines it.
python3 - "$bin" "$symbols" "$out" "$profiles" <<'PY'
import glob, os, re, sys
binary, symbols_file, out, profiles = sys.argv[1:5]
symbols = {line.split()[0] for line in open(symbols_file)}
name_line = re.compile(r'^(ob|cob|fn|cfn)=\((\d+)\)(?: (.*))?$')

def ran_in(name):
    ran = set()
    for path in glob.glob(os.path.join(profiles, name, 'callgrind.*')):
        objects, functions, in_binary = {}, {}, False
        with open(path, errors='replace') as f:
            for line in f:
                m = name_line.match(line.rstrip('\n'))
                if not m:
                    continue
                kind, ident, name = m.groups()
                table = objects if kind in ('ob', 'cob') else functions
                if name:
                    table[ident] = name
                if kind == 'ob':
                    in_binary = os.path.realpath(objects.get(ident, '')) == os.path.realpath(binary)
                elif kind == 'fn' and in_binary:
                    ran.add(re.sub(r"'\d+$", '', functions[ident]))
    return ran & symbols

first = ran_in('first-answer')
tls = ran_in('first-answer-tls') - first
rest = ran_in('load-tls') - first - tls
with open(out, 'w') as f:
    f.write('# The functions the daemon runs in its normal work, placed together at the\n'
            '# start of its code by the linker (build.rs). Written by benches/hot-code.sh:\n'
            '# run it again after changing the code, the dependencies, the version or rustc.\n')
    for title, part in [('Start, a first answer from a plain-http instance, idle', first),
                        ('What an https instance adds', tls),
                        ('The rest of a load run', rest)]:
        f.write(f'# {title}: {len(part)} functions\n')
        f.write(''.join(name + '\n' for name in sorted(part)))
print(f'hot-code.sh: {len(first)} + {len(tls)} + {len(rest)} functions written to link/hot-code.txt')
PY
