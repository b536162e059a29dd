#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seed inputs built from the Mastodon
# fixtures and from FastCGI conversations as nginx has them. Idempotent:
# seeds are named after their content. Needs python3.
#
#   fuzz/seed.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fixtures="$here/../tests/fixtures/mastodon"
corpus="$here/corpus"
mkdir -p "$corpus"/{fastcgi_params,fastcgi_stream,query_clean,render,fast_paths}

python3 - "$fixtures" "$corpus" "$here/../tests/e2e" <<'PY'
import glob, hashlib, json, os, struct, sys

fixtures, corpus = sys.argv[1], sys.argv[2]
# The FastCGI encoding of the end-to-end tests' client.
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[3])
from fcgi import begin_request, name_value_pair as nv, record, stream

def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(corpus, target, name), "wb") as f:
        f.write(data)

# query_clean: paths as they reach the cleaner.
paths = [
    "/", "", ".", "..", "/2026/07/01/slow-bread/", "/2026/07/01/slow-bread", "//a/./b/../c/",
    "/a/../../b", "/../etc/passwd", "a/b/../../..", "/caf\u00e9/", "/a//b///c/.", "/./", "/a/b/..",
    "/2026/07/01/slow-bread/comments.json", "/x\u0000y", "/\u202eevil/", "/a/./../b/./c/..//d/",
]
# ... and every article path and link the fixtures hold, as the timeline
# scan and requests see them.
import re
from urllib.parse import urlparse
for scenario in sorted(glob.glob(os.path.join(fixtures, "*", ""))):
    try:
        article = json.load(open(os.path.join(scenario, "expect.json"))).get("article") or {}
    except (OSError, ValueError):
        article = {}
    for key in ("path", "url"):
        if article.get(key):
            paths.append(urlparse(article[key]).path or article[key])
    for f in sorted(glob.glob(os.path.join(scenario, "statuses", "*.json"))):
        content = json.load(open(f)).get("content") or ""
        for href in re.findall(r'href="([^"]*)"', content)[:4]:
            paths.append(urlparse(href).path or href)
for p in sorted(set(paths)):
    put("query_clean", p)

# Every status content of the fixtures, for the fast HTML path.
for f in sorted(glob.glob(os.path.join(fixtures, "*", "statuses", "*.json"))):
    content = json.load(open(f)).get("content") or ""
    if content:
        put("fast_paths", content)
    for href in re.findall(r'href="([^"]*)"', content)[:4]:
        put("fast_paths", href)

# fastcgi_params: name-value pairs in FastCGI's length encoding.
def params(uri, query="", method="GET", extra=()):
    doc = uri.split("?")[0]
    pairs = [
        (b"QUERY_STRING", query.encode()), (b"REQUEST_METHOD", method.encode()),
        (b"CONTENT_TYPE", b""), (b"CONTENT_LENGTH", b""), (b"SCRIPT_NAME", doc.encode()),
        (b"REQUEST_URI", uri.encode()), (b"DOCUMENT_URI", doc.encode()),
        (b"DOCUMENT_ROOT", b"/var/www/blog"), (b"SERVER_PROTOCOL", b"HTTP/1.1"),
        (b"REQUEST_SCHEME", b"https"), (b"GATEWAY_INTERFACE", b"CGI/1.1"),
        (b"SERVER_SOFTWARE", b"nginx/1.22.1"), (b"REMOTE_ADDR", b"127.0.0.1"),
        (b"REMOTE_PORT", b"53422"), (b"SERVER_ADDR", b"127.0.0.1"), (b"SERVER_PORT", b"443"),
        (b"SERVER_NAME", b"blog.example.org"), (b"REDIRECT_STATUS", b"200"),
        (b"HTTP_HOST", b"blog.example.org"), (b"HTTP_USER_AGENT", b"Mozilla/5.0"),
        (b"HTTP_ACCEPT", b"application/json"),
    ] + list(extra)
    return b"".join(nv(k, v) for k, v in pairs)

requests = [
    ("/2026/07/01/slow-bread/comments.json", "", "GET"),
    ("/x/comments.json?search=%2F2026%2F07%2F01%2Fslow-bread%2F", "search=%2F2026%2F07%2F01%2Fslow-bread%2F", "GET"),
    ("/2026/07/01/slow-bread/comments.json", "", "HEAD"),
    ("/2026/07/01/slow-bread/comments.json", "", "POST"),
    ("/a/../../b/comments.json", "", "GET"),
    ("/a%FFb/comments.json", "", "GET"),
    ("/x/comments.json?search=/p&search=/q", "search=/p&search=/q", "GET"),
]
for uri, q, m in requests:
    put("fastcgi_params", params(uri, q, m))
put("fastcgi_params", nv(b"DOCUMENT_URI", b"/a/b/comments.json") + nv(b"QUERY_STRING", b"search=/c"))

# fastcgi_stream: whole client sides of connections.
def conversation(rid, uri, q="", m="GET", body=b"", keep=True, split=65535):
    return begin_request(rid, keep) + stream(4, rid, params(uri, q, m), split) + stream(5, rid, body)

put("fastcgi_stream", conversation(1, *requests[0][:2]))
put("fastcgi_stream", conversation(1, *requests[1][:2], keep=False))
put("fastcgi_stream", conversation(1, requests[2][0], m="HEAD"))
put("fastcgi_stream", conversation(1, requests[3][0], m="POST", body=b"a=1&b=2"))
put("fastcgi_stream", conversation(1, requests[4][0]) + conversation(1, requests[5][0]))
put("fastcgi_stream", conversation(1, requests[0][0], split=7))
# Two requests multiplexed on one connection, records interleaved.
a, b = params(requests[0][0]), params("/b/comments.json")
put("fastcgi_stream", begin_request(1, True) + begin_request(2, True) + record(4, 1, a) + record(4, 2, b)
    + record(4, 2) + record(4, 1) + record(5, 2) + record(5, 1))
# Management record, abort, padding.
put("fastcgi_stream", record(9, 0, nv(b"FCGI_MAX_CONNS", b"") + nv(b"FCGI_MPXS_CONNS", b"")))
put("fastcgi_stream", begin_request(1, True) + record(4, 1, a, padding=5) + record(2, 1))
put("fastcgi_stream", begin_request(1, True) + record(4, 1, a[:40]))

# render: 2-byte length of the status JSON, the status JSON, the context JSON.
def render_seed(status, context):
    put("render", struct.pack(">H", len(status)) + status + context)

for scenario in sorted(glob.glob(os.path.join(fixtures, "*", ""))):
    for ctx_file in glob.glob(os.path.join(scenario, "context", "*.json")):
        root = os.path.basename(ctx_file)
        status_file = os.path.join(scenario, "statuses", root)
        ctx = open(ctx_file, "rb").read()
        if not os.path.exists(status_file) or len(ctx) > 60000:
            continue
        render_seed(json.dumps(json.load(open(status_file))).encode(), json.dumps(json.load(open(ctx_file))).encode())
    # Each status alone as a one-reply thread under the scenario's root: small seeds.
    statuses = sorted(glob.glob(os.path.join(scenario, "statuses", "*.json")))[:12]
    for f in statuses:
        s = json.load(open(f))
        body = json.dumps(s, separators=(",", ":")).encode()
        render_seed(body, json.dumps({"ancestors": [], "descendants": [s]}, separators=(",", ":")).encode())
PY
for t in fastcgi_params fastcgi_stream query_clean render; do
    echo "seed: $t: $(find "$corpus/$t" -type f | wc -l) inputs"
done
