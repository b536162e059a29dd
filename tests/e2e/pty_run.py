#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal of its own, as from an operator's
shell, for tests/e2e/apparmor-trace.sh.

    pty_run.py TRANSCRIPT INHERITED.json TIMEOUT COMMAND...

The command's stdin, stdout and stderr are the terminal (its controlling
terminal, as in a login shell); everything written to it is copied to
TRANSCRIPT. INHERITED.json lists what the command inherits at its execve:
AppArmor checks those open files against the profile there, which no
system call in an strace trace shows (fd, path, the permission its open
mode needs, the file's owner). Exits with the command's status, 124 when
it did not end within TIMEOUT seconds.
"""
import fcntl
import json
import os
import select
import subprocess
import sys
import termios
import time

MAX_TRANSCRIPT = 1 << 20


def main(transcript, inherited, timeout, *cmd):
    master, slave = os.openpty()   # both close-on-exec: only 0, 1, 2 are passed on
    name = os.ttyname(slave)
    owner = os.stat(name).st_uid
    with open(inherited, "w") as f:
        json.dump([{"fd": fd, "path": name, "perms": "rw", "owner": owner} for fd in (0, 1, 2)], f)

    def controlling_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, preexec_fn=controlling_terminal)
    os.close(slave)
    out, rc = bytearray(), None
    deadline = time.monotonic() + float(timeout)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            p.kill()
            rc = 124
            break
        ready, _, _ = select.select([master], [], [], min(left, 0.5))
        if not ready:
            continue
        try:
            data = os.read(master, 65536)
        except OSError:   # EIO: the command and all it started closed the terminal
            data = b""
        if not data:
            break
        if len(out) < MAX_TRANSCRIPT:
            out += data[:MAX_TRANSCRIPT - len(out)]
    try:
        status = p.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        p.kill()
        status = 124
    with open(transcript, "wb") as f:
        f.write(bytes(out))
    sys.exit(rc if rc is not None else status)


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
