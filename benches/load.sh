#!/usr/bin/env bash
# Load and resource figures of the daemon behind a real nginx, on loopback:
#
#   (a) requests/s and p99 latency: wrk → nginx → FastCGI over a unix socket
#       (upstream keepalive, fastcgi_keep_conn) → daemon (cache warm) →
#       stand-in Mastodon; nginx's own fastcgi_cache is off so every request
#       reaches the daemon. The nginx config is examples/nginx/ with only
#       the cache switched off (and the socket, cache and log paths moved
#       into a temporary directory).
#   (b) the same for nginx serving the identical JSON bytes as a static
#       file (the ceiling), and the ratio daemon/static;
#   (c) the same through the same nginx config (keep-alive upstream) for a
#       bare tokio-fastcgi responder that only writes the daemon's answer
#       bytes (examples/bare_fastcgi.rs, the FastCGI ceiling), the ratios
#       bare/static and daemon/bare, and its CPU time per request;
#   (d) the daemon's CPU time per request on that path (utime+stime from
#       /proc/PID/stat across the wrk run / requests served);
#   (e) the latency of one cache miss with the stand-in adding 50 ms to
#       every call: root known from the config (the thread fetch alone, on
#       a daemon whose block lists have loaded), and root discovered on a
#       fresh daemon;
#   (f) the daemon's resident size idle after start and idle after its
#       first answer (lists loaded, one thread rendered, its worker threads
#       gone), its peak after the load, and its peak while the stand-in
#       sends a 300 MiB body;
#   (g) wrk → Caddy → the same daemon (cache warm), with the example
#       Caddyfile (examples/caddy/, only the socket path moved): requests/s,
#       p99, and the CPU time per request of the daemon and of Caddy (its
#       FastCGI transport opens one connection per request; Debian's Caddy
#       has no cache, so every request reaches the daemon, which answers
#       from its own); nginx's worker CPU per request on the daemon path (a)
#       next to it. Skipped, and said so, when caddy is not installed.
#   (h) a proxied image (proxy_media): one avatar of the answer, a PNG the
#       stand-in serves (stand-in --pictures), through the example's image
#       location: answered from nginx's image cache (the daemon not asked),
#       and with that cache off, by the daemon, which fetches it from the
#       stand-in each time: requests/s, p99, the daemon's and nginx's CPU
#       time per request, and the daemon's peak resident size.
#
# Every daemon runs as a user's does: with the author's token (the
# stand-in takes any), so the author's blocks and mutes are loaded and
# applied.
#
#   benches/load.sh [SECONDS_PER_PHASE]      (default 10; env: CONNECTIONS=16)
#   benches/load.sh --memory                 (f) only: the daemon's memory idle
#                                            after start and after a first
#                                            answer, with where it is, per
#                                            mapping (from /proc/PID/smaps)
#   benches/load.sh --tls [--memory] [...]   the same, every daemon's instance
#                                            `https`, as a user's is: each
#                                            stand-in behind an nginx TLS front
#                                            with a certificate made for the
#                                            run, trusted by the daemons
#                                            through SSL_CERT_FILE (the
#                                            system's CA bundle plus its CA)
#
# MC_BIN=PATH measures that daemon binary instead of target/release's.
# MC_WRAP="COMMAND ..." runs every daemon under that command (the profiler
# of benches/hot-code.sh); the stand-ins run without it.
#
# Prints a summary table with the targets; every target is judged on the
# unrounded figure. Never fails on a figure: it exits non-zero only when
# the setup itself fails (build, nginx, wrk).
# Everything runs on 127.0.0.1 and a temporary directory, and every
# process it starts is stopped on exit.
set -euo pipefail

memory_only=0
tls=0
while [ $# -gt 0 ]; do
    case $1 in
        --memory) memory_only=1; shift ;;
        --tls) tls=1; shift ;;
        *) break ;;
    esac
done
wrap=()
if [ -n "${MC_WRAP:-}" ]; then read -r -a wrap <<<"$MC_WRAP"; fi
seconds="${1:-10}"
connections="${CONNECTIONS:-16}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="${MC_BIN:-$repo/target/release/mastodon-comments}"
bare_bin="$repo/target/release/examples/bare_fastcgi"
fixtures="$repo/tests/fixtures/mastodon/a-simple-thread"
article="/2026/07/01/slow-bread"
root_id="116843781319371281"
userid="109308551561216011"

die() { echo "load.sh: $*" >&2; exit 1; }
for tool in nginx wrk curl python3 timeout; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y nginx wrk curl python3)"
done
if [ "$tls" = 1 ]; then
    command -v openssl >/dev/null || die "openssl is missing (apt-get install -y openssl)"
    [ -f /etc/ssl/certs/ca-certificates.crt ] || die "the system's CA bundle is missing (apt-get install -y ca-certificates)"
fi
[ -f /etc/nginx/fastcgi_params ] || die "/etc/nginx/fastcgi_params is missing (Debian's nginx-common has it)"
[ -f "$repo/examples/nginx/http.conf" ] && [ -f "$repo/examples/nginx/location.conf" ] ||
    die "examples/nginx/{http,location}.conf are missing"
# Always (cargo does nothing when they are up to date, and waits for the
# build directory's lock when another cargo holds it); not the daemon when
# MC_BIN names one built some other way. Two builds: an example brings in
# the dev-dependencies' features (tokio's "full"), and the daemon is
# measured as `cargo build --release` (and the package) makes it.
build() {
    echo "load.sh: building $* (release)" >&2
    (cd "$repo" && cargo build --release --quiet "$@") || die "cargo build --release $* failed"
}
if [ -z "${MC_BIN:-}" ]; then build --bin mastodon-comments; fi
if [ "$memory_only" = 0 ]; then build --example bare_fastcgi; fi
[ -x "$bin" ] || die "$bin is not an executable"

tmp="$(mktemp -d /tmp/mastodon-comments-load.XXXXXX)"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    for p in "$tmp/nginx.pid" "$tmp"/tls-*/nginx.pid; do
        [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
    done
    sleep 0.2
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free loopback TCP port.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits (bounded) until a command succeeds.
wait_for() {
    local what="$1"; shift
    local i
    for i in $(seq 1 100); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    die "$what did not come up within 10 s (logs in $tmp)"
}

# The stand-in runs from a copy of the binary: sharing the daemon's file
# would move the daemon's code pages out of its own (USS) figure.
start_standin() { # name port [delay_ms]
    [ -x "$tmp/standin-bin" ] || cp "$bin" "$tmp/standin-bin"
    "$tmp/standin-bin" stand-in --fixtures "$fixtures" --listen "127.0.0.1:$2" --delay-ms "${3:-0}" \
        >"$tmp/$1.log" 2>&1 &
    pids+=($!)
    wait_for "stand-in $1" curl -sf --max-time 2 "http://127.0.0.1:$2/__stand-in/calls"
}

# With --tls: a CA and a certificate for 127.0.0.1 made for this run, and
# the roots the daemons trust: the system's bundle (so the root store is
# as large as a user's) plus that CA.
tls_setup() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=load.sh test CA" \
        -keyout "$tmp/ca.key" -out "$tmp/ca.pem" >"$tmp/openssl.log" 2>&1 &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
            -keyout "$tmp/tls.key" -out "$tmp/tls.csr" >>"$tmp/openssl.log" 2>&1 &&
        printf 'subjectAltName=IP:127.0.0.1\n' >"$tmp/tls.ext" &&
        openssl x509 -req -in "$tmp/tls.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial -days 2 \
            -extfile "$tmp/tls.ext" -out "$tmp/tls.pem" >>"$tmp/openssl.log" 2>&1 ||
        die "could not make the test certificate: $(cat "$tmp/openssl.log")"
    cat /etc/ssl/certs/ca-certificates.crt "$tmp/ca.pem" >"$tmp/roots.pem"
}
# Sets $instance, the address a daemon is given for the stand-in on port
# $1: the stand-in itself, or with --tls an nginx TLS front for it (started
# here, one per stand-in, unbuffered so a huge body streams through). With
# "start-only", the stand-in need not be up yet.
instance_url() { # standin_port [start-only]
    instance="http://127.0.0.1:$1"
    if [ "$tls" = 0 ]; then return; fi
    local port dir
    port="$(free_port)"
    dir="$tmp/tls-$1"
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<NGINX
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $tmp/tls.pem;
        ssl_certificate_key $tmp/tls.key;
        location / {
            proxy_pass http://127.0.0.1:$1;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 60s;
        }
    }
}
NGINX
    nginx -p "$dir/" -c "$dir/nginx.conf" >"$dir/start.log" 2>&1 || die "the TLS front did not start: $(cat "$dir/start.log")"
    wait_for "the TLS front" test -s "$dir/nginx.pid"
    instance="https://127.0.0.1:$port"
    if [ "${2:-}" != start-only ]; then
        wait_for "the TLS front" curl -sf --max-time 2 --cacert "$tmp/ca.pem" "$instance/__stand-in/calls"
    fi
}

write_config() { # file instance_url [roots_json]
    printf '{"url": "%s", "userid": "%s", "token": "load-test-token", "blog_url": "https://blog.example.org"%s}\n' \
        "$2" "$userid" "${3:+, \"roots\": $3}" >"$1"
}

# Waits (bounded) until a daemon has loaded the author's lists from the
# stand-in on port $1 (its third list call has been answered).
wait_lists() {
    local i
    for i in $(seq 1 100); do
        if curl -sf --max-time 2 "http://127.0.0.1:$1/__stand-in/calls" |
            python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("domain_blocks", 0) >= 1 else 1)'; then
            sleep 0.3
            return 0
        fi
        sleep 0.1
    done
    die "the daemon did not load the author's lists within 10 s"
}

# Starts a daemon; sets $daemon_pid. Args: name listen protocol config
start_daemon() {
    env "${daemon_env[@]}" "${wrap[@]}" "$bin" --listen "$2" --protocol "$3" "$4" "$tmp/$1.state.json" >"$tmp/$1.log" 2>&1 &
    daemon_pid=$!
    pids+=($daemon_pid)
}

kib() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }
# The daemon's own pages (USS: private clean + private dirty) and its
# proportional share (PSS), from smaps_rollup: VmRSS also counts, in full,
# the shared libraries' pages every other program on the machine maps too.
uss() { awk '/^Private_(Clean|Dirty):/ { k += $2 } END { print k + 0 }' "/proc/$1/smaps_rollup"; }
pss() { awk '/^Pss:/ { print $2; exit }' "/proc/$1/smaps_rollup"; }
# Where the resident pages are, per mapping, from /proc/PID/smaps (kB):
# the binary's and each library's text (r-x), read-only data (r--) and
# writable data (rw-; r-- "relocated at start" is data with pointers,
# written once by the loader, so the file's pages are copied), the heap, the main stack, and the anonymous
# mappings told apart by their shape: a thread's stack sits above its
# guard page (---p, one page), a glibc malloc arena is a 64 MiB
# reservation of which only the front is writable (rw-p, then ---p),
# anything else is "other anonymous" (large allocations, tokio's and
# the other crates' own mmaps).
smaps_breakdown() { # pid
    awk -v exe="$(readlink "/proc/$1/exe")" '
        function hex(h,   v, i) { v = 0; for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1; return v }
        function flush() { if (n) { rss[n] = r; pss[n] = ps; prv[n] = pv; anon[n] = an } }
        /^[0-9a-f]+-[0-9a-f]+ / {
            flush(); n++
            split($1, a, "-"); lo[n] = hex(a[1]); hi[n] = hex(a[2])
            perm[n] = $2; name[n] = (NF >= 6) ? $6 : ""
            r = ps = pv = an = 0; next }
        /^Rss:/ { r = $2 } /^Pss:/ { ps = $2 } /^Anonymous:/ { an = $2 }
        /^Private_(Clean|Dirty):/ { pv += $2 }
        END {
            flush()
            for (i = 1; i <= n; i++) {
                nm = name[i]; p = substr(perm[i], 1, 3)
                if (nm == exe) nm = "the binary"
                else if (nm ~ /^\//) { sub(/.*\//, "", nm) }
                if (nm != "" && nm !~ /^\[/) key = nm " " p (p == "r--" && anon[i] > 0 ? " (relocated at start)" : "")
                else if (nm != "") key = nm
                else if (p == "---") key = "anonymous, no access (guards, reservations)"
                else if (i > 1 && perm[i-1] ~ /^---/ && name[i-1] == "" && hi[i-1] == lo[i] && hi[i-1] - lo[i-1] == 4096) key = "anonymous: thread stacks"
                else if (i < n && perm[i+1] ~ /^---/ && name[i+1] == "" && hi[i] == lo[i+1] && hi[i+1] - lo[i] == 64 * 1048576) key = "anonymous: malloc arenas (other threads)"
                else key = "anonymous: other"
                if (!(key in K)) { K[key] = ++nk; order[nk] = key }
                R[key] += rss[i]; P[key] += pss[i]; U[key] += prv[i]; A[key] += anon[i]; C[key]++
                tr += rss[i]; tp += pss[i]; tu += prv[i]; ta += anon[i]
            }
            printf "  %-48s %5s %7s %7s %7s %7s\n", "mapping (kB)", "maps", "Rss", "Pss", "USS", "Anon"
            for (j = 1; j <= nk; j++) { k = order[j]; if (R[k] == 0 && C[k] == 1) continue
                printf "  %-48s %5d %7d %7d %7d %7d\n", k, C[k], R[k], P[k], U[k], A[k] }
            printf "  %-48s %5d %7d %7d %7d %7d\n", "total", n, tr, tp, tu, ta
        }' "/proc/$1/smaps"
    grep -E '^(RssAnon|RssFile|RssShmem|VmRSS|VmHWM|Threads):' "/proc/$1/status" | sed 's/^/  /'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# met / MISSED on the unrounded value.
ok() { awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
    if (v == "?" || v == "") { print "?"; exit }
    r = (op == ">=") ? (v + 0 >= t + 0) : (op == "<=") ? (v + 0 <= t + 0) : (v + 0 < t + 0)
    print r ? "met" : "MISSED" }'; }

# wrk's figures: "Requests/sec", the 99% latency (in ms), requests served, errors.
run_wrk() { # url outfile
    timeout $((seconds + 30)) wrk -t1 -c"$connections" -d"${seconds}s" --latency "$1" >"$2" 2>&1 ||
        die "wrk failed: $(cat "$2")"
}
wrk_rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
wrk_requests() { awk '/requests in/ {print $1}' "$1"; }
wrk_errors() {
    awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$1"
}
wrk_p99_ms() {
    awk '$1 == "99%" {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
        if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000
        printf "%.2f", v }' "$1"
}

# ---------------------------------------------------------------------
echo "load.sh: ${seconds}s per phase, ${connections} connections, $(nproc) CPUs; work dir $tmp" >&2

# The daemons trust what a user's would, and with --tls the run's CA.
roots=""
daemon_env=()
if [ "$tls" = 1 ]; then
    tls_setup
    roots="$tmp/roots.pem"
    daemon_env=(-u SSL_CERT_DIR "SSL_CERT_FILE=$roots")
fi
standin_port="$(free_port)"
start_standin standin "$standin_port"
instance_url "$standin_port"
write_config "$tmp/config.json" "$instance"
sock="$tmp/mastodon-comments.sock"
start_daemon daemon "$sock" fastcgi "$tmp/config.json"
main_pid=$daemon_pid
wait_for "the daemon's socket" test -S "$sock"
sleep 0.3
idle_rss="$(kib "$main_pid" VmRSS)"
smaps_breakdown "$main_pid" >"$tmp/breakdown-start.txt"

# nginx: the example's http and location parts, cache off, paths moved.
# The bare responder gets a copy of the example's upstream (same keepalive)
# and of its location (same fastcgi_keep_conn, params and log line).
nginx_port="$(free_port)"
static_port="$(free_port)"
bare_port="$(free_port)"
bare_sock="$tmp/bare.sock"
mkdir -p "$tmp/cache" "$tmp/static$article" "$tmp/nginx-temp"
cp /etc/nginx/fastcgi_params "$tmp/fastcgi_params"
sed -e "s#unix:/run/mastodon-comments.sock#unix:$sock#" \
    -e "s#/var/cache/nginx-mastodon-comments#$tmp/cache#" \
    "$repo/examples/nginx/http.conf" >"$tmp/http.conf"
sed -n '/^upstream mastodon_comments {/,/^}/p' "$repo/examples/nginx/http.conf" |
    sed -e 's/^upstream mastodon_comments {/upstream bare_fastcgi {/' \
        -e "s#unix:/run/mastodon-comments.sock#unix:$bare_sock#" >"$tmp/upstream-bare.conf"
grep -q "unix:$bare_sock" "$tmp/upstream-bare.conf" || die "could not copy the upstream block of http.conf"
sed -e 's#^\([[:space:]]*\)fastcgi_cache mastodon_comments;#\1fastcgi_cache off;#' \
    -e "s#/var/log/nginx/mastodon-comments.access.log#$tmp/access.log#" \
    "$repo/examples/nginx/location.conf" >"$tmp/location.conf"
grep -q 'fastcgi_cache off;' "$tmp/location.conf" || die "could not switch the cache off in location.conf"
sed -e 's#fastcgi_pass mastodon_comments;#fastcgi_pass bare_fastcgi;#' \
    -e "s#$tmp/access.log#$tmp/access-bare.log#" "$tmp/location.conf" >"$tmp/location-bare.conf"
grep -q 'fastcgi_pass bare_fastcgi;' "$tmp/location-bare.conf" || die "could not point location.conf at the bare responder"
media_sock="$tmp/media/mastodon-comments.sock"
media_cached_port="$(free_port)"
media_direct_port="$(free_port)"
sed -n '/^upstream mastodon_comments {/,/^}/p' "$repo/examples/nginx/http.conf" |
    sed -e 's/^upstream mastodon_comments {/upstream media_daemon {/' \
        -e "s#unix:/run/mastodon-comments.sock#unix:$media_sock#" >"$tmp/upstream-media.conf"
grep -q "unix:$media_sock" "$tmp/upstream-media.conf" || die "could not copy the upstream block of http.conf"
sed -e 's#fastcgi_pass mastodon_comments;#fastcgi_pass media_daemon;#' \
    -e "s#/var/log/nginx/mastodon-comments.access.log#$tmp/access-media.log#" \
    "$repo/examples/nginx/location.conf" >"$tmp/location-media.conf"
grep -q 'fastcgi_cache mastodon_comments_media;' "$tmp/location-media.conf" || die "location.conf has no image location with its cache"
sed -e 's#fastcgi_cache mastodon_comments_media;#fastcgi_cache off;#' "$tmp/location-media.conf" >"$tmp/location-media-nocache.conf"
cat >"$tmp/nginx.conf" <<NGINX
user root;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path $tmp/nginx-temp/body;
    fastcgi_temp_path $tmp/nginx-temp/fastcgi;
    proxy_temp_path $tmp/nginx-temp/proxy;
    uwsgi_temp_path $tmp/nginx-temp/uwsgi;
    scgi_temp_path $tmp/nginx-temp/scgi;
    access_log off;
    keepalive_requests 1000000;
    include $tmp/http.conf;
    include $tmp/upstream-bare.conf;
    include $tmp/upstream-media.conf;
    # The blog, with the example's location for the daemon.
    server {
        listen 127.0.0.1:$nginx_port;
        server_name blog.example.org;
        include $tmp/location.conf;
    }
    # The FastCGI ceiling: the same location, passed to the bare responder.
    server {
        listen 127.0.0.1:$bare_port;
        server_name blog.example.org;
        include $tmp/location-bare.conf;
    }
    # Images (h): the example's locations, passed to a daemon with
    # proxy_media; as shipped (image cache on), and with the image cache off.
    server {
        listen 127.0.0.1:$media_cached_port;
        server_name blog.example.org;
        include $tmp/location-media.conf;
    }
    server {
        listen 127.0.0.1:$media_direct_port;
        server_name blog.example.org;
        include $tmp/location-media-nocache.conf;
    }
    # The ceiling: the same bytes as a static file, logged the same way.
    server {
        listen 127.0.0.1:$static_port;
        server_name blog.example.org;
        root $tmp/static;
        location ~ ^/.+/comments\.json\$ {
            default_type application/json;
            access_log $tmp/access-static.log mastodon_comments;
        }
    }
}
NGINX
nginx -p "$tmp/" -t -c "$tmp/nginx.conf" >"$tmp/nginx-t.log" 2>&1 || die "nginx -t failed: $(cat "$tmp/nginx-t.log")"
nginx -p "$tmp/" -c "$tmp/nginx.conf" || die "nginx did not start: $(cat "$tmp/error.log" 2>/dev/null)"
wait_for "nginx" test -s "$tmp/nginx.pid"

url="http://127.0.0.1:$nginx_port$article/comments.json"
bare_url="http://127.0.0.1:$bare_port$article/comments.json"
static_url="http://127.0.0.1:$static_port$article/comments.json"

calls() {
    curl -sf --max-time 10 "http://127.0.0.1:$standin_port/__stand-in/calls" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])'
}

# (e, discovered) The first request on the fresh daemon, the stand-in 50 ms slow.
curl -sf --max-time 10 "http://127.0.0.1:$standin_port/__stand-in/delay?ms=50" >/dev/null ||
    die "cannot set the stand-in's delay"
calls0="$(calls)"
miss_discovered="$(curl -s --max-time 10 -o "$tmp/answer.json" -w '%{time_total}' "$url")"
calls1="$(calls)"
curl -sf --max-time 10 "http://127.0.0.1:$standin_port/__stand-in/delay?ms=0" >/dev/null
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); assert a["comments"], "no comments"' "$tmp/answer.json" ||
    die "the daemon's answer has no comments: $(head -c 300 "$tmp/answer.json")"
# (f) Idle after the first answer: the lists loaded, a thread rendered, and
# the blocking threads gone (tokio keeps an idle one 10 s).
sleep 11
idle_answered_rss="$(kib "$main_pid" VmRSS)"
idle_answered_uss="$(uss "$main_pid")"; idle_answered_pss="$(pss "$main_pid")"
smaps_breakdown "$main_pid" >"$tmp/breakdown.txt"
if [ "$memory_only" = 1 ]; then
    cat <<EOT

mastodon-comments memory after a first answer ($(date -u +%Y-%m-%dT%H:%MZ))

  RSS idle after start (MiB)               $(mib "$idle_rss")   ($idle_rss kB)
  RSS idle after a first answer (MiB)      $(mib "$idle_answered_rss")   ($idle_answered_rss kB; target <= 5 MiB: $(ok "$idle_answered_rss" "<=" $((5 * 1024))))
    of it the daemon's own (USS) (MiB)     $(mib "$idle_answered_uss")   ($idle_answered_uss kB)
    PSS (MiB)                              $(mib "$idle_answered_pss")   ($idle_answered_pss kB)
    threads                                $(awk '/^Threads:/ {print $2}' "/proc/$main_pid/status")

  Where it is after the first answer:
$(cat "$tmp/breakdown.txt")

  Where it was idle after start:
$(cat "$tmp/breakdown-start.txt")
EOT
    exit 0
fi

# (b) The identical bytes, static.
body="$tmp/static$article/comments.json"
curl -sf --max-time 10 -D "$tmp/headers-daemon.txt" -o "$body" "$url" || die "cannot fetch the answer through nginx"
cmp -s "$body" <(curl -sf --max-time 10 "$static_url") || die "the static copy differs"
bytes="$(wc -c <"$body")"

# (c) The bare responder: the daemon's headers (those nginx passes on from
# the FastCGI answer) and the same body bytes.
answer_headers() {
    tr -d '\r' <"$1" | awk 'NR > 1 && /: / {
        n = tolower(substr($0, 1, index($0, ":") - 1))
        if (n !~ /^(server|date|connection|keep-alive|transfer-encoding|content-length|x-cache-status)$/) print }'
}
mapfile -t bare_headers < <(answer_headers "$tmp/headers-daemon.txt")
"$bare_bin" "$bare_sock" "$body" "${bare_headers[@]}" >"$tmp/bare.log" 2>&1 &
bare_pid=$!
pids+=("$bare_pid")
wait_for "the bare responder's socket" test -S "$bare_sock"
curl -sf --max-time 10 -D "$tmp/headers-bare.txt" -o "$tmp/answer-bare.json" "$bare_url" ||
    die "cannot fetch the bare responder's answer through nginx: $(cat "$tmp/bare.log")"
cmp -s "$body" "$tmp/answer-bare.json" || die "the bare responder's body differs from the daemon's"
diff <(answer_headers "$tmp/headers-daemon.txt") <(answer_headers "$tmp/headers-bare.txt") >"$tmp/headers.diff" ||
    die "the bare responder's headers differ from the daemon's: $(cat "$tmp/headers.diff")"

# (a, c, d) Daemon path (cache warm), bare responder, static file, one
# after the other with the same load.
for _ in $(seq 1 50); do
    curl -sf --max-time 10 -o /dev/null "$url"
    curl -sf --max-time 10 -o /dev/null "$bare_url"
done
# nginx's one worker (the master's child), for its own CPU per request.
nginx_worker="$(ps -o pid= --ppid "$(cat "$tmp/nginx.pid")" | head -n 1 | tr -d ' ')"
ticks0="$(cpu_ticks "$main_pid")"
if [ -n "$nginx_worker" ]; then nginx_ticks0="$(cpu_ticks "$nginx_worker")"; fi
run_wrk "$url" "$tmp/wrk-daemon.txt"
ticks1="$(cpu_ticks "$main_pid")"
if [ -n "$nginx_worker" ]; then nginx_ticks1="$(cpu_ticks "$nginx_worker")"; fi
peak_rss_load="$(kib "$main_pid" VmHWM)"
rss_after="$(kib "$main_pid" VmRSS)"
bare_ticks0="$(cpu_ticks "$bare_pid")"
run_wrk "$bare_url" "$tmp/wrk-bare.txt"
bare_ticks1="$(cpu_ticks "$bare_pid")"
run_wrk "$static_url" "$tmp/wrk-static.txt"
nginx_ticks_daemon="?"
if [ -n "$nginx_worker" ]; then nginx_ticks_daemon=$((nginx_ticks1 - nginx_ticks0)); fi

# (g) Caddy → daemon: the example Caddyfile, the socket path moved, no
# admin endpoint, no automatic HTTPS, its state in the temporary directory.
caddy_rps="?"; caddy_p99="?"; caddy_req=0; caddy_err="?"; caddy_ticks=0; caddy_daemon_ticks=0
if command -v caddy >/dev/null; then
    caddy_port="$(free_port)"
    mkdir -p "$tmp/caddy"
    sed "s#unix//run/mastodon-comments.sock#unix/$sock#" "$repo/examples/caddy/mastodon-comments.caddyfile" \
        >"$tmp/mastodon-comments.caddyfile"
    grep -q "unix/$sock" "$tmp/mastodon-comments.caddyfile" || die "could not move the socket path in the example Caddyfile"
    printf '{\n\tadmin off\n\tauto_https off\n}\nhttp://127.0.0.1:%s {\n\timport %s\n}\n' \
        "$caddy_port" "$tmp/mastodon-comments.caddyfile" >"$tmp/Caddyfile"
    HOME="$tmp/caddy" XDG_DATA_HOME="$tmp/caddy" XDG_CONFIG_HOME="$tmp/caddy" \
        caddy run --config "$tmp/Caddyfile" --adapter caddyfile >"$tmp/caddy.log" 2>&1 &
    caddy_pid=$!
    pids+=("$caddy_pid")
    caddy_url="http://127.0.0.1:$caddy_port$article/comments.json"
    wait_for "Caddy" curl -sf --max-time 2 -o /dev/null "$caddy_url"
    cmp -s "$body" <(curl -sf --max-time 10 "$caddy_url") || die "the answer through Caddy differs from nginx's"
    for _ in $(seq 1 50); do curl -sf --max-time 10 -o /dev/null "$caddy_url"; done
    caddy_ticks0="$(cpu_ticks "$caddy_pid")"; daemon_ticks0="$(cpu_ticks "$main_pid")"
    run_wrk "$caddy_url" "$tmp/wrk-caddy.txt"
    caddy_ticks=$(($(cpu_ticks "$caddy_pid") - caddy_ticks0)); caddy_daemon_ticks=$(($(cpu_ticks "$main_pid") - daemon_ticks0))
    caddy_rps="$(wrk_rps "$tmp/wrk-caddy.txt")"; caddy_p99="$(wrk_p99_ms "$tmp/wrk-caddy.txt")"
    caddy_req="$(wrk_requests "$tmp/wrk-caddy.txt")"; caddy_err="$(wrk_errors "$tmp/wrk-caddy.txt")"
fi

d_rps="$(wrk_rps "$tmp/wrk-daemon.txt")"; b_rps="$(wrk_rps "$tmp/wrk-bare.txt")"; s_rps="$(wrk_rps "$tmp/wrk-static.txt")"
d_p99="$(wrk_p99_ms "$tmp/wrk-daemon.txt")"; b_p99="$(wrk_p99_ms "$tmp/wrk-bare.txt")"
s_p99="$(wrk_p99_ms "$tmp/wrk-static.txt")"
d_req="$(wrk_requests "$tmp/wrk-daemon.txt")"; b_req="$(wrk_requests "$tmp/wrk-bare.txt")"
s_req="$(wrk_requests "$tmp/wrk-static.txt")"
d_err="$(wrk_errors "$tmp/wrk-daemon.txt")"; b_err="$(wrk_errors "$tmp/wrk-bare.txt")"
s_err="$(wrk_errors "$tmp/wrk-static.txt")"
# Unrounded: the targets are judged on these; only the table rounds.
quot() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "" && a != "?") printf "%.6f", a / b; else print "?" }'; }
ratio="$(quot "$d_rps" "$s_rps")"
ratio_bare_static="$(quot "$b_rps" "$s_rps")"
ratio_daemon_bare="$(quot "$d_rps" "$b_rps")"
tck="$(getconf CLK_TCK)"
cpu_per_req() { # ticks requests
    awk -v t="$1" -v n="$2" -v hz="$tck" 'BEGIN { if (n > 0) printf "%.6f", t * 1e6 / hz / n; else print "?" }'
}
cpu_us="$(cpu_per_req $((ticks1 - ticks0)) "$d_req")"
bare_cpu_us="$(cpu_per_req $((bare_ticks1 - bare_ticks0)) "$b_req")"
nginx_cpu_us="?"
if [ "$nginx_ticks_daemon" != "?" ]; then nginx_cpu_us="$(cpu_per_req "$nginx_ticks_daemon" "$d_req")"; fi
caddy_cpu_us="$(cpu_per_req "$caddy_ticks" "$caddy_req")"
caddy_daemon_cpu_us="$(cpu_per_req "$caddy_daemon_ticks" "$caddy_req")"
ratio_caddy_nginx="$(quot "$caddy_rps" "$d_rps")"

# (e, known) Root from the config: a fresh HTTP daemon, the thread fetch only.
slow_port="$(free_port)"
start_standin standin-slow "$slow_port" 50
instance_url "$slow_port"
slow_url="$instance"
write_config "$tmp/config-known.json" "$slow_url" "{\"$article\": \"$root_id\"}"
known_port="$(free_port)"
start_daemon known "127.0.0.1:$known_port" http "$tmp/config-known.json"
wait_for "the HTTP daemon" curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$known_port/"
wait_lists "$slow_port"
miss_known="$(curl -s --max-time 10 -o "$tmp/answer-known.json" -w '%{time_total}' \
    "http://127.0.0.1:$known_port$article/comments.json")"
# One call as the daemon makes it (on a connection already open: with
# --tls, the time after the handshake).
upstream_one="$(curl -s --max-time 10 ${roots:+--cacert "$tmp/ca.pem"} -o /dev/null -w '%{time_total} %{time_appconnect} %{time_connect}' \
    "$slow_url/api/v1/statuses/$root_id" | awk '{ h = ($2 > 0) ? $2 : $3; printf "%.6f", $1 - h }')"

# (f) Peak resident size while the stand-in sends 300 MiB.
huge_port="$(free_port)"
start_standin standin-huge "$huge_port"
curl -sf --max-time 10 "http://127.0.0.1:$huge_port/__stand-in/mode?set=huge" >/dev/null || die "cannot set the huge mode"
instance_url "$huge_port"
write_config "$tmp/config-huge.json" "$instance" "{\"$article\": \"$root_id\"}"
huge_http="$(free_port)"
start_daemon huge "127.0.0.1:$huge_http" http "$tmp/config-huge.json"
huge_pid=$daemon_pid
wait_for "the HTTP daemon (huge)" curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$huge_http/"
huge_before="$(kib "$huge_pid" VmHWM)"
huge_status="$(curl -s -o "$tmp/answer-huge.json" -w '%{http_code} %{time_total}' --max-time 30 \
    "http://127.0.0.1:$huge_http$article/comments.json")"
huge_peak="$(kib "$huge_pid" VmHWM)"

# (h) A proxied image: a daemon with proxy_media, its instance a stand-in
# that serves the scenario's pictures.
# With --tls, the pictures' URLs name the TLS front's origin (the
# instance's), so they are fetched over TLS too.
pic_port="$(free_port)"
instance_url "$pic_port" start-only
"$tmp/standin-bin" stand-in --fixtures "$fixtures" --listen "127.0.0.1:$pic_port" --pictures --origin "$instance" \
    >"$tmp/standin-pictures.log" 2>&1 &
pids+=($!)
wait_for "stand-in (pictures)" curl -sf --max-time 2 ${roots:+--cacert "$tmp/ca.pem"} "$instance/__stand-in/calls"
mkdir -p "$tmp/media"
printf '{"url": "%s", "userid": "%s", "token": "load-test-token", "blog_url": "https://blog.example.org", "proxy_media": true}\n' \
    "$instance" "$userid" >"$tmp/config-media.json"
env "${daemon_env[@]}" "${wrap[@]}" "$bin" --listen "$media_sock" --protocol fastcgi "$tmp/config-media.json" "$tmp/media/state.json" >"$tmp/media.log" 2>&1 &
media_pid=$!
pids+=($media_pid)
wait_for "the image daemon's socket" test -S "$media_sock"
curl -sf --max-time 10 -o "$tmp/answer-media.json" "http://127.0.0.1:$media_direct_port$article/comments.json" ||
    die "cannot fetch the answer of the daemon with proxy_media"
image_path="$(python3 -c '
import json, sys, urllib.parse
a = json.load(open(sys.argv[1]))
print(urllib.parse.urlsplit(next(iter(a["comments"].values()))["author"]["avatar"]).path)' "$tmp/answer-media.json")"
case $image_path in /comments-media/*) ;; *) die "the answer's avatar is not proxied: $image_path" ;; esac
image_direct="http://127.0.0.1:$media_direct_port$image_path"
image_cached="http://127.0.0.1:$media_cached_port$image_path"
curl -sf --max-time 10 -D "$tmp/headers-image.txt" -o "$tmp/image.png" "$image_direct" || die "cannot fetch the proxied image"
grep -qi '^content-type: image/png' "$tmp/headers-image.txt" || die "the proxied image is not image/png: $(cat "$tmp/headers-image.txt")"
image_bytes="$(wc -c <"$tmp/image.png")"
curl -sf --max-time 10 -o /dev/null "$image_cached"
curl -sf --max-time 10 -D "$tmp/headers-image-cached.txt" -o /dev/null "$image_cached"
grep -qi '^x-cache-status: HIT' "$tmp/headers-image-cached.txt" || die "the image is not a cache hit the second time: $(cat "$tmp/headers-image-cached.txt")"
nginx_worker="$(ps -o pid= --ppid "$(cat "$tmp/nginx.pid")" | head -n 1 | tr -d ' ')"
nw_ticks() { if [ -n "$nginx_worker" ]; then cpu_ticks "$nginx_worker"; else echo 0; fi; }
m0="$(cpu_ticks "$media_pid")"; n0="$(nw_ticks)"
run_wrk "$image_direct" "$tmp/wrk-image-daemon.txt"
m1="$(cpu_ticks "$media_pid")"; n1="$(nw_ticks)"
run_wrk "$image_cached" "$tmp/wrk-image-cached.txt"
m2="$(cpu_ticks "$media_pid")"; n2="$(nw_ticks)"
media_peak="$(kib "$media_pid" VmHWM)"
i_rps="$(wrk_rps "$tmp/wrk-image-daemon.txt")"; ic_rps="$(wrk_rps "$tmp/wrk-image-cached.txt")"
i_p99="$(wrk_p99_ms "$tmp/wrk-image-daemon.txt")"; ic_p99="$(wrk_p99_ms "$tmp/wrk-image-cached.txt")"
i_req="$(wrk_requests "$tmp/wrk-image-daemon.txt")"; ic_req="$(wrk_requests "$tmp/wrk-image-cached.txt")"
i_err="$(wrk_errors "$tmp/wrk-image-daemon.txt")"; ic_err="$(wrk_errors "$tmp/wrk-image-cached.txt")"
image_cpu_us="$(cpu_per_req $((m1 - m0)) "$i_req")"
image_cached_daemon_cpu_us="$(cpu_per_req $((m2 - m1)) "$ic_req")"
image_nginx_cpu_us="$(cpu_per_req $((n1 - n0)) "$i_req")"
image_cached_nginx_cpu_us="$(cpu_per_req $((n2 - n1)) "$ic_req")"

# ---------------------------------------------------------------------
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { if (v == "?" || v == "") print "?"; else printf f, v }'; }
miss_known_ms="$(awk -v t="$miss_known" 'BEGIN { printf "%.1f", t * 1000 }')"
miss_disc_ms="$(awk -v t="$miss_discovered" 'BEGIN { printf "%.1f", t * 1000 }')"
upstream_ms="$(awk -v t="$upstream_one" 'BEGIN { printf "%.1f", t * 1000 }')"
miss_factor="$(quot "$miss_known" "$upstream_one")"
idle_mib="$(mib "$idle_rss")"; idle_answered_mib="$(mib "$idle_answered_rss")"; peak_load_mib="$(mib "$peak_rss_load")"; huge_mib="$(mib "$huge_peak")"
row() { printf '  %-44s %12s   %-12s  %s\n' "$@"; }

cat <<EOT

mastodon-comments load figures ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, wrk -t1 -c$connections -d${seconds}s, answer $bytes bytes)

  path                                   req/s        p99 ms    requests   errors
  nginx -> daemon (cache warm)      $(printf '%10s  %12s  %10s  %7s' "$d_rps" "$d_p99" "$d_req" "$d_err")
  nginx -> bare tokio-fastcgi       $(printf '%10s  %12s  %10s  %7s' "$b_rps" "$b_p99" "$b_req" "$b_err")
  nginx static file (ceiling)       $(printf '%10s  %12s  %10s  %7s' "$s_rps" "$s_p99" "$s_req" "$s_err")
  image, nginx's image cache (hit)  $(printf '%10s  %12s  %10s  %7s' "$ic_rps" "$ic_p99" "$ic_req" "$ic_err")
  image, nginx -> daemon (no cache) $(printf '%10s  %12s  %10s  %7s' "$i_rps" "$i_p99" "$i_req" "$i_err")
  Caddy -> daemon (no Caddy cache)  $(if command -v caddy >/dev/null; then printf '%10s  %12s  %10s  %7s' "$caddy_rps" "$caddy_p99" "$caddy_req" "$caddy_err"; else echo "skipped: caddy is not installed"; fi)

  figure                                           measured        target        result
EOT
row "throughput ratio daemon/static" "$(fmt "$ratio" %.3f)" ">= 0.3" "$(ok "$ratio" ">=" 0.3)"
row "throughput ratio daemon/bare responder" "$(fmt "$ratio_daemon_bare" %.3f)" ">= 0.85" \
    "$(ok "$ratio_daemon_bare" ">=" 0.85) (within 15% of the bare responder)"
row "throughput ratio bare responder/static" "$(fmt "$ratio_bare_static" %.3f)" "(info)" "the FastCGI ceiling"
row "daemon CPU per request (us)" "$(fmt "$cpu_us" %.1f)" "<= 65" "$(ok "$cpu_us" "<=" 65)"
row "bare responder CPU per request (us)" "$(fmt "$bare_cpu_us" %.1f)" "(info)" ""
row "nginx worker CPU per request (us)" "$(fmt "$nginx_cpu_us" %.1f)" "(info)" "on the daemon path"
row "throughput ratio Caddy/nginx -> daemon" "$(fmt "$ratio_caddy_nginx" %.3f)" "(info)" ""
row "daemon CPU per request behind Caddy (us)" "$(fmt "$caddy_daemon_cpu_us" %.1f)" "(info)" "a connection per request"
row "Caddy CPU per request (us)" "$(fmt "$caddy_cpu_us" %.1f)" "(info)" ""
row "image: daemon CPU per request (us)" "$(fmt "$image_cpu_us" %.1f)" "(info)" "a $image_bytes-byte PNG fetched from the stand-in each time"
row "image: nginx worker CPU per request (us)" "$(fmt "$image_nginx_cpu_us" %.1f)" "(info)" "through the daemon"
row "image from nginx's cache: nginx CPU/req (us)" "$(fmt "$image_cached_nginx_cpu_us" %.1f)" "(info)" "daemon $(fmt "$image_cached_daemon_cpu_us" %.1f) us/req"
row "image daemon RSS peak (MiB)" "$(mib "$media_peak")" "(info)" "after both image runs"
row "miss, root known, token, upstream +50ms (ms)" "$miss_known_ms" "< 1.2 x $upstream_ms" \
    "$(ok "$miss_factor" "<" 1.2) ($(fmt "$miss_factor" %.3f)x one call)"
row "miss, root discovered, fresh daemon (ms)" "$miss_disc_ms" "(info)" "$((calls1 - calls0)) upstream calls"
row "RSS idle after start (MiB)" "$idle_mib" "(info)" "before any request"
row "RSS idle after a first answer (MiB)" "$idle_answered_mib" "<= 5" "$(ok "$idle_answered_rss" "<=" $((5 * 1024)))"
row "  of it the daemon's own (USS) (MiB)" "$(mib "$idle_answered_uss")" "(info)" "PSS $(mib "$idle_answered_pss"); the rest is shared libraries' pages"
row "RSS peak after the load (MiB)" "$peak_load_mib" "(info)" "now $(mib "$rss_after")"
row "RSS peak, 300 MiB upstream body (MiB)" "$huge_mib" "< 64" \
    "$(ok "$huge_peak" "<" $((64 * 1024))) (HTTP $huge_status s, before $(mib "$huge_before"))"
printf '\n  Where the resident size idle after a first answer is, per mapping\n  (benches/load.sh --memory measures only this):\n'
cat "$tmp/breakdown.txt"
