#!/usr/bin/env python3
"""A TLS front for the stand-in Mastodon, for tests/e2e/apparmor-trace.sh.

    tls_proxy.py [ADDRESS:]PORT TARGET CERT KEY OUT_FILE SECONDS

Listens on ADDRESS:PORT (default 127.0.0.1) with the certificate CERT (key KEY) and forwards
each connection to 127.0.0.1:TARGET (the plain-HTTP stand-in), so the
daemon speaks HTTPS and verifies a certificate against the system CA bundle
as in production, and the trace holds those accesses too. Writes "ready",
then "handshake SNI VERSION" (or "error ...") per connection to OUT_FILE.
Stops accepting after SECONDS.
"""
import socket, ssl, sys, threading, time
bind, target, cert, key, out, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6])
host, _, port = bind.rpartition(":")
log = open(out, "a", buffering=1)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
names = {}
def on_sni(sock, name, _ctx):
    names[id(sock)] = name
ctx.sni_callback = on_sni
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host or "127.0.0.1", int(port)))
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
