#!/usr/bin/env python3
"""A minimal FastCGI client for the end-to-end scripts (standard library only).

One request per connection, responder role, with the parameters nginx sends
with fastcgi_params:

    python3 tests/e2e/fcgi.py [options] ADDRESS METHOD URI [BODY]

ADDRESS is a unix socket path (starts with "/") or HOST:PORT (TCP). URI may
carry a query string (?...), which becomes QUERY_STRING. BODY, if given and
not empty, is sent as FCGI_STDIN with CONTENT_LENGTH.

Options:
    --timeout S         socket timeout for connect, send and each receive
                        (default 10 s)
    --max-bytes N       give up once more than N bytes were received
                        (default 8 MiB)
    --content-type T    CONTENT_TYPE sent with a body (default: empty)
    --headers-out FILE  write the answer's headers there, one "name: value"
                        a line (names lowercased, the Status: line included)
    --body-out FILE     write the answer's body there (nothing on a failure)
    --print FIELDS      comma-separated fields printed on one line, separated
                        by spaces (default "status,comments"):
          status             the Status: header's code (200 without one)
          comments           the number of comments when the JSON answer's
                             "comments" is an object, else "-"
          comments-or-error  as comments, but "error" when the answer has an
                             "error" member
          root               the JSON answer's stats.root, or "-"

On any failure (connection refused, timeout, closed early, too much data,
a bad Status:) prints "000", a "-" for every further field, and the error;
the exit status is 0 either way, so the caller compares one line.
"""
import argparse
import json
import socket
import struct
import sys

FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT = 1, 3, 4, 5, 6
FIELDS = ("status", "comments", "comments-or-error", "root")


# The wire format (the daemon's is src/fastcgi/wire.rs); fuzz/seed.sh builds
# its conversations with these too.
def record(kind, request_id, content=b"", padding=0):
    """One record: header, content (at most 65535 bytes), padding."""
    return struct.pack(">BBHHBB", 1, kind, request_id, len(content), padding, 0) + content + b"\0" * padding


def stream(kind, request_id, content, size=65535):
    """A stream (PARAMS, STDIN): content in records of at most size bytes, then the empty record that ends it."""
    return b"".join(record(kind, request_id, content[i:i + size])
                    for i in range(0, len(content), size)) + record(kind, request_id)


def begin_request(request_id, keep_conn=False):
    """A BEGIN_REQUEST record for the responder role."""
    return record(FCGI_BEGIN_REQUEST, request_id, struct.pack(">HB5x", 1, 1 if keep_conn else 0))


def name_value_pair(name, value):
    """A name-value pair of bytes: each length in one byte below 128, else in four with the top bit set."""
    lengths = b"".join(bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000) for n in (len(name), len(value)))
    return lengths + name + value


def connect(address, timeout):
    if address.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(address)
        return s
    host, port = address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout)


def request(address, method, uri, body=b"", content_type="", timeout=10.0, max_bytes=8 << 20):
    """Returns (status, headers: lowercase name -> value, payload bytes)."""
    path, _, query = uri.partition("?")
    params = {
        "QUERY_STRING": query, "REQUEST_METHOD": method, "CONTENT_TYPE": content_type if body else "",
        "CONTENT_LENGTH": str(len(body)) if body else "", "SCRIPT_NAME": path,
        "REQUEST_URI": uri, "DOCUMENT_URI": path, "DOCUMENT_ROOT": "/srv/www",
        "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_SCHEME": "https",
        "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "nginx",
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000", "SERVER_ADDR": "127.0.0.1",
        "SERVER_PORT": "443", "SERVER_NAME": "blog.example.org", "HTTP_HOST": "blog.example.org",
    }
    pairs = b"".join(name_value_pair(k.encode(), v.encode()) for k, v in params.items())
    out = begin_request(1) + stream(FCGI_PARAMS, 1, pairs) + stream(FCGI_STDIN, 1, body)
    s = connect(address, timeout)
    try:
        s.sendall(out)
        data, stdout, received = b"", b"", 0

        def more(what):
            nonlocal data, received
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError("connection closed %s" % what)
            received += len(chunk)
            if received > max_bytes:
                raise ValueError("more than %d bytes received" % max_bytes)
            data += chunk

        while True:
            while len(data) < 8:
                more("before FCGI_END_REQUEST")
            _, kind, _, clen, plen, _ = struct.unpack(">BBHHBB", data[:8])
            while len(data) < 8 + clen + plen:
                more("inside a record")
            content, data = data[8:8 + clen], data[8 + clen + plen:]
            if kind == FCGI_STDOUT:
                stdout += content
            elif kind == FCGI_END_REQUEST:
                break
    finally:
        s.close()
    head, _, payload = stdout.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n"):
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    status = int(headers["status"].split()[0]) if "status" in headers else 200
    return status, headers, payload


def fields(status, payload, names):
    try:
        j = json.loads(payload)
    except Exception:
        j = None
    if not isinstance(j, dict):
        j = {}
    comments = j.get("comments")
    stats = j.get("stats")
    values = {
        "status": str(status),
        "comments": str(len(comments)) if isinstance(comments, dict) else "-",
        "comments-or-error": str(len(comments)) if isinstance(comments, dict) else ("error" if "error" in j else "-"),
        "root": str((stats.get("root") if isinstance(stats, dict) else None) or "-"),
    }
    return [values[n] for n in names]


def main():
    p = argparse.ArgumentParser(description="A minimal FastCGI client (one request, one line out).")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--max-bytes", type=int, default=8 << 20)
    p.add_argument("--content-type", default="")
    p.add_argument("--print", dest="fields", default="status,comments")
    p.add_argument("--headers-out")
    p.add_argument("--body-out")
    p.add_argument("address")
    p.add_argument("method")
    p.add_argument("uri")
    p.add_argument("body", nargs="?", default="")
    a = p.parse_args()
    names = a.fields.split(",")
    unknown = [n for n in names if n not in FIELDS]
    if unknown or names[0] != "status":
        p.error("--print: fields are %s, the first one status" % ", ".join(FIELDS))
    try:
        status, headers, payload = request(a.address, a.method, a.uri, a.body.encode(), a.content_type,
                                           a.timeout, a.max_bytes)
    except Exception as e:
        print(" ".join(["000"] + ["-"] * (len(names) - 1)), e)
        return
    if a.headers_out:
        with open(a.headers_out, "w", encoding="latin-1") as f:
            f.write("".join("%s: %s\n" % kv for kv in headers.items()))
    if a.body_out:
        with open(a.body_out, "wb") as f:
            f.write(payload)
    print(" ".join(fields(status, payload, names)))


if __name__ == "__main__":
    main()
