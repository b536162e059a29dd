#!/usr/bin/env python3
"""A stand-in DNS server (UDP) for tests/e2e/apparmor-trace.sh.

    dns_stub.py ADDRESS OUT_FILE SECONDS [NAME=IPV4 ...]

Serves port 53 on ADDRESS so that glibc in the daemon resolves the instance
by name, as in production (files, then DNS over UDP), and the trace holds
those accesses too. mastodon.test has A 127.0.0.1 and AAAA ::1 (two
addresses: glibc sorts them and the daemon tries ::1 first); each NAME=IPV4
has that A record only (an image host, resolved by the image proxy); every
other name is NXDOMAIN. Writes "ready", then one "query NAME TYPE" line per query
to OUT_FILE. Stops after SECONDS.
"""
import socket, struct, sys, time
addr, out, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
extra = dict(a.lower().split("=", 1) for a in sys.argv[4:])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, 53))
s.settimeout(0.2)
log = open(out, "a", buffering=1)
log.write("ready\n")
TYPES = {1: "A", 28: "AAAA"}
end = time.monotonic() + limit
while time.monotonic() < end:
    try:
        data, peer = s.recvfrom(512)
    except socket.timeout:
        continue
    try:
        qid, = struct.unpack(">H", data[:2])
        i, labels = 12, []
        while data[i]:
            labels.append(data[i + 1:i + 1 + data[i]].decode("ascii", "replace"))
            i += 1 + data[i]
        qtype, _ = struct.unpack(">HH", data[i + 1:i + 5])
        question = data[12:i + 5]
    except (IndexError, struct.error):
        continue
    name = ".".join(labels).lower()
    log.write("query %s %s\n" % (name, TYPES.get(qtype, qtype)))
    answer, count, rcode = b"", 0, 0
    if name == "mastodon.test":
        if qtype == 1:
            answer, count = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("127.0.0.1"), 1
        elif qtype == 28:
            answer, count = b"\xc0\x0c" + struct.pack(">HHIH", 28, 1, 60, 16) + socket.inet_pton(socket.AF_INET6, "::1"), 1
    elif name in extra:
        if qtype == 1:
            answer, count = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(extra[name]), 1
    else:
        rcode = 3
    s.sendto(struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, count, 0, 0) + question + answer, peer)
