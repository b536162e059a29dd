#!/usr/bin/env python3
"""A stand-in for systemd's notify socket, for the end-to-end tests.

    notify.py SOCKET_PATH OUT_FILE SECONDS

Binds a unix datagram socket at SOCKET_PATH (mode 0777, as systemd's
/run/systemd/notify, so a daemon running as another user can send) and
appends each sd_notify datagram to OUT_FILE as one line: the monotonic time,
a space, the message with "|" between its fields. Stops after SECONDS.
"""
import os
import socket
import sys
import time

path, out, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o777)
s.settimeout(0.2)
end = time.monotonic() + limit
with open(out, "a", buffering=1) as f:
    while time.monotonic() < end:
        try:
            msg = s.recv(4096)
        except socket.timeout:
            continue
        f.write("%.3f %s\n" % (time.monotonic(), msg.decode("utf-8", "replace").replace("\n", "|")))
