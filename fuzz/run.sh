#!/usr/bin/env bash
# Builds the fuzz targets and runs each for SECONDS (default 60), one after
# the other, on the corpus that fuzz/seed.sh fills. Prints one summary
# line per target; exits 1 if any target found a crash (the input is in
# fuzz/artifacts/<target>/), 2 if the build failed.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# cargo-fuzz needs nightly features: a nightly toolchain is used if rustup
# has one, else the stable one with RUSTC_BOOTSTRAP=1.
# FUZZ_SANITIZER=address|none (default none: the crate forbids unsafe code,
# so ASan mostly slows the search down; arithmetic overflow is checked by
# building with debug assertions).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fastcgi_params fastcgi_stream query_clean render fast_paths)
sanitizer="${FUZZ_SANITIZER:-none}"

if ! command -v cargo-fuzz >/dev/null; then
    echo "run.sh: cargo-fuzz is missing: cargo install cargo-fuzz" >&2
    exit 2
fi
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi

"$here/seed.sh" >/dev/null || { echo "run.sh: seeding failed" >&2; exit 2; }
build=(cargo "${toolchain[@]}" fuzz build --sanitizer "$sanitizer" --debug-assertions)
buildlog="$(mktemp)"
for t in "${targets[@]}"; do
    if ! "${build[@]}" "$t" >"$buildlog" 2>&1; then
        tail -20 "$buildlog" >&2
        echo "run.sh: building $t failed" >&2
        exit 2
    fi
done
rm -f "$buildlog"

# Per target: longest input (render seeds are whole threads) and extra flags.
declare -A max_len=([fastcgi_params]=8192 [fastcgi_stream]=16384 [query_clean]=1024 [render]=65536)
status=0
summary=()
for t in "${targets[@]}"; do
    log="$(mktemp)"
    mkdir -p "artifacts/$t"
    cargo "${toolchain[@]}" fuzz run --sanitizer "$sanitizer" --debug-assertions "$t" -- \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len="${max_len[$t]:-4096}" \
        -print_final_stats=1 >"$log" 2>&1
    rc=$?
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
    corp="$(grep -o 'corp: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
    if [ "$rc" -eq 0 ]; then
        result="ok"
    else
        status=1
        artifact="$(grep -o 'artifacts/[^ ]*' "$log" | tail -1)"
        result="CRASH (exit $rc) ${artifact:-see log $log}"
        { grep -m1 -A1 "panicked at" "$log" || grep -m1 "ERROR: libFuzzer" "$log"; } | sed 's/^/    /' >&2
    fi
    line="$(printf '%-15s %8s s  %10s runs  %8s exec/s  cov %6s  corpus %5s  %s' \
        "$t" "$seconds" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${corp:-?}" "$result")"
    echo "$line" >&2
    summary+=("$line")
    [ "$rc" -eq 0 ] && rm -f "$log"
done
echo "---"
printf '%s\n' "${summary[@]}"
exit $status
