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
#   (d) the daemon's CPU time per request on that path (utime+stime from
#       /proc/PID/stat across the wrk run / requests served);
#   (e) the latency of one cache miss with the stand-in adding 50 ms to
#       every call: root known from the config (the thread fetch alone),
#       and root discovered on a fresh daemon;
#   (f) the daemon's resident size idle after start, its peak after the
#       load, and its peak while the stand-in sends a 300 MiB body.
#
#   benches/load.sh [SECONDS_PER_PHASE]      (default 10; env: CONNECTIONS=16)
#
# Prints a summary table with the targets. Never fails on a figure: it
# exits non-zero only when the setup itself fails (build, nginx, wrk).
# Everything runs on 127.0.0.1 and a temporary directory, and every
# process it starts is stopped on exit.
set -euo pipefail

seconds="${1:-10}"
connections="${CONNECTIONS:-16}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="$repo/target/release/mastodon-comments"
fixtures="$repo/tests/fixtures/mastodon/a-simple-thread"
article="/2026/07/01/slow-bread"
root_id="116843781319371281"
userid="109308551561216011"

die() { echo "load.sh: $*" >&2; exit 1; }
for tool in nginx wrk curl python3; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y nginx wrk curl python3)"
done
[ -f /etc/nginx/fastcgi_params ] || die "/etc/nginx/fastcgi_params is missing (Debian's nginx-common has it)"
[ -f "$repo/examples/nginx/http.conf" ] && [ -f "$repo/examples/nginx/location.conf" ] ||
    die "examples/nginx/{http,location}.conf are missing"
if [ ! -x "$bin" ]; then
    echo "load.sh: building the release binary" >&2
    (cd "$repo" && cargo build --release --quiet) || die "cargo build --release failed"
fi

tmp="$(mktemp -d /tmp/mastodon-comments-load.XXXXXX)"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
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

start_standin() { # name port [delay_ms]
    "$bin" stand-in --fixtures "$fixtures" --listen "127.0.0.1:$2" --delay-ms "${3:-0}" \
        >"$tmp/$1.log" 2>&1 &
    pids+=($!)
    wait_for "stand-in $1" curl -sf "http://127.0.0.1:$2/__stand-in/calls"
}

write_config() { # file standin_port [roots_json]
    printf '{"url": "http://127.0.0.1:%s", "userid": "%s", "blog_url": "https://blog.example.org"%s}\n' \
        "$2" "$userid" "${3:+, \"roots\": $3}" >"$1"
}

# Starts a daemon; sets $daemon_pid. Args: name listen protocol config
start_daemon() {
    "$bin" --listen "$2" --protocol "$3" "$4" "$tmp/$1.state.json" >"$tmp/$1.log" 2>&1 &
    daemon_pid=$!
    pids+=($daemon_pid)
}

kib() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# wrk's figures: "Requests/sec", the 99% latency (in ms), requests served, errors.
run_wrk() { # url outfile
    wrk -t1 -c"$connections" -d"${seconds}s" --latency "$1" >"$2" 2>&1 || die "wrk failed: $(cat "$2")"
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

standin_port="$(free_port)"
start_standin standin "$standin_port"
write_config "$tmp/config.json" "$standin_port"
sock="$tmp/mastodon-comments.sock"
start_daemon daemon "$sock" fastcgi "$tmp/config.json"
main_pid=$daemon_pid
wait_for "the daemon's socket" test -S "$sock"
sleep 0.3
idle_rss="$(kib "$main_pid" VmRSS)"

# nginx: the example's http and location parts, cache off, paths moved.
nginx_port="$(free_port)"
static_port="$(free_port)"
mkdir -p "$tmp/cache" "$tmp/static$article" "$tmp/nginx-temp"
cp /etc/nginx/fastcgi_params "$tmp/fastcgi_params"
sed -e "s#unix:/run/mastodon-comments.sock#unix:$sock#" \
    -e "s#/var/cache/nginx-mastodon-comments#$tmp/cache#" \
    "$repo/examples/nginx/http.conf" >"$tmp/http.conf"
sed -e 's#^\([[:space:]]*\)fastcgi_cache mastodon_comments;#\1fastcgi_cache off;#' \
    -e "s#/var/log/nginx/mastodon-comments.access.log#$tmp/access.log#" \
    "$repo/examples/nginx/location.conf" >"$tmp/location.conf"
grep -q 'fastcgi_cache off;' "$tmp/location.conf" || die "could not switch the cache off in location.conf"
cat >"$tmp/nginx.conf" <<EOF
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
    # The blog, with the example's location for the daemon.
    server {
        listen 127.0.0.1:$nginx_port;
        server_name blog.example.org;
        include $tmp/location.conf;
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
EOF
nginx -p "$tmp/" -t -c "$tmp/nginx.conf" >"$tmp/nginx-t.log" 2>&1 || die "nginx -t failed: $(cat "$tmp/nginx-t.log")"
nginx -p "$tmp/" -c "$tmp/nginx.conf" || die "nginx did not start: $(cat "$tmp/error.log" 2>/dev/null)"
wait_for "nginx" test -s "$tmp/nginx.pid"

url="http://127.0.0.1:$nginx_port$article/comments.json"
static_url="http://127.0.0.1:$static_port$article/comments.json"

# (e, discovered) The first request on the fresh daemon, the stand-in 50 ms slow.
curl -sf "http://127.0.0.1:$standin_port/__stand-in/delay?ms=50" >/dev/null || die "cannot set the stand-in's delay"
calls0="$(curl -sf "http://127.0.0.1:$standin_port/__stand-in/calls" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')"
miss_discovered="$(curl -s -o "$tmp/answer.json" -w '%{time_total}' "$url")"
calls1="$(curl -sf "http://127.0.0.1:$standin_port/__stand-in/calls" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')"
curl -sf "http://127.0.0.1:$standin_port/__stand-in/delay?ms=0" >/dev/null
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); assert a["comments"], "no comments"' "$tmp/answer.json" ||
    die "the daemon's answer has no comments: $(head -c 300 "$tmp/answer.json")"

# (b) The identical bytes, static.
curl -sf -o "$tmp/static$article/comments.json" "$url" || die "cannot fetch the answer through nginx"
cmp -s "$tmp/static$article/comments.json" <(curl -sf "$static_url") || die "the static copy differs"
bytes="$(wc -c <"$tmp/static$article/comments.json")"

# (a, d) Daemon path, cache warm.
for _ in $(seq 1 50); do curl -sf -o /dev/null "$url"; done
ticks0="$(cpu_ticks "$main_pid")"
run_wrk "$url" "$tmp/wrk-daemon.txt"
ticks1="$(cpu_ticks "$main_pid")"
peak_rss_load="$(kib "$main_pid" VmHWM)"
rss_after="$(kib "$main_pid" VmRSS)"
run_wrk "$static_url" "$tmp/wrk-static.txt"

d_rps="$(wrk_rps "$tmp/wrk-daemon.txt")"; s_rps="$(wrk_rps "$tmp/wrk-static.txt")"
d_p99="$(wrk_p99_ms "$tmp/wrk-daemon.txt")"; s_p99="$(wrk_p99_ms "$tmp/wrk-static.txt")"
d_req="$(wrk_requests "$tmp/wrk-daemon.txt")"
d_err="$(wrk_errors "$tmp/wrk-daemon.txt")"; s_err="$(wrk_errors "$tmp/wrk-static.txt")"
ratio="$(awk -v d="$d_rps" -v s="$s_rps" 'BEGIN { if (s > 0) printf "%.2f", d / s; else print "?" }')"
tck="$(getconf CLK_TCK)"
cpu_us="$(awk -v t=$((ticks1 - ticks0)) -v n="$d_req" -v hz="$tck" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "?" }')"

# (e, known) Root from the config: a fresh HTTP daemon, the thread fetch only.
slow_port="$(free_port)"
start_standin standin-slow "$slow_port" 50
write_config "$tmp/config-known.json" "$slow_port" "{\"$article\": \"$root_id\"}"
known_port="$(free_port)"
start_daemon known "127.0.0.1:$known_port" http "$tmp/config-known.json"
wait_for "the HTTP daemon" curl -s -o /dev/null "http://127.0.0.1:$known_port/"
miss_known="$(curl -s -o "$tmp/answer-known.json" -w '%{time_total}' "http://127.0.0.1:$known_port$article/comments.json")"
upstream_one="$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$slow_port/api/v1/statuses/$root_id")"

# (f) Peak resident size while the stand-in sends 300 MiB.
huge_port="$(free_port)"
start_standin standin-huge "$huge_port"
curl -sf "http://127.0.0.1:$huge_port/__stand-in/mode?set=huge" >/dev/null || die "cannot set the huge mode"
write_config "$tmp/config-huge.json" "$huge_port" "{\"$article\": \"$root_id\"}"
huge_http="$(free_port)"
start_daemon huge "127.0.0.1:$huge_http" http "$tmp/config-huge.json"
huge_pid=$daemon_pid
wait_for "the HTTP daemon (huge)" curl -s -o /dev/null "http://127.0.0.1:$huge_http/"
huge_before="$(kib "$huge_pid" VmHWM)"
huge_status="$(curl -s -o "$tmp/answer-huge.json" -w '%{http_code} %{time_total}' --max-time 30 \
    "http://127.0.0.1:$huge_http$article/comments.json")"
huge_peak="$(kib "$huge_pid" VmHWM)"

# ---------------------------------------------------------------------
ok() { awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
    if (v == "?" || v == "") { print "?"; exit }
    r = (op == ">=") ? (v + 0 >= t + 0) : (v + 0 < t + 0 || (op == "<=" && v + 0 == t + 0))
    print r ? "met" : "MISSED" }'; }
miss_known_ms="$(awk -v t="$miss_known" 'BEGIN { printf "%.1f", t * 1000 }')"
miss_disc_ms="$(awk -v t="$miss_discovered" 'BEGIN { printf "%.1f", t * 1000 }')"
upstream_ms="$(awk -v t="$upstream_one" 'BEGIN { printf "%.1f", t * 1000 }')"
miss_factor="$(awk -v m="$miss_known" -v u="$upstream_one" 'BEGIN { if (u > 0) printf "%.2f", m / u; else print "?" }')"
idle_mib="$(mib "$idle_rss")"; peak_load_mib="$(mib "$peak_rss_load")"; huge_mib="$(mib "$huge_peak")"

cat <<EOF

mastodon-comments load figures ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, wrk -t1 -c$connections -d${seconds}s, answer $bytes bytes)

  path                                   req/s        p99 ms    requests   errors
  nginx -> daemon (cache warm)      $(printf '%10s  %12s  %10s  %7s' "$d_rps" "$d_p99" "$d_req" "$d_err")
  nginx static file (ceiling)       $(printf '%10s  %12s  %10s  %7s' "$s_rps" "$s_p99" "$(wrk_requests "$tmp/wrk-static.txt")" "$s_err")

  figure                                           measured        target        result
  $(printf '%-44s %12s   %-12s  %s' "throughput ratio daemon/static" "$ratio" ">= 0.3" "$(ok "$ratio" ">=" 0.3)")
  $(printf '%-44s %12s   %-12s  %s' "daemon CPU per request (us)" "$cpu_us" "<= 65" "$(ok "$cpu_us" "<=" 65)")
  $(printf '%-44s %12s   %-12s  %s' "miss, root known, upstream +50ms (ms)" "$miss_known_ms" "< 1.2 x $upstream_ms" "$(ok "$miss_factor" "<" 1.2) (${miss_factor}x one call)")
  $(printf '%-44s %12s   %-12s  %s' "miss, root discovered, fresh daemon (ms)" "$miss_disc_ms" "(info)" "$((calls1 - calls0)) upstream calls")
  $(printf '%-44s %12s   %-12s  %s' "RSS idle after start (MiB)" "$idle_mib" "<= 5" "$(ok "$idle_mib" "<=" 5)")
  $(printf '%-44s %12s   %-12s  %s' "RSS peak after the load (MiB)" "$peak_load_mib" "(info)" "now $(mib "$rss_after")")
  $(printf '%-44s %12s   %-12s  %s' "RSS peak, 300 MiB upstream body (MiB)" "$huge_mib" "< 64" "$(ok "$huge_mib" "<" 64) (HTTP $huge_status s, before $(mib "$huge_before"))")
EOF
