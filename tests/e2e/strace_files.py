#!/usr/bin/env python3
"""What the daemon touched, from an strace trace, for tests/e2e/apparmor-trace.sh.

    strace_files.py TRACE_DIR INSTALLED UID OUT.json [INHERITED.json]

Reads an strace -f -ff -yy trace (one file per process, RUN.PID) and
writes what the daemon (the process tree from its execve of INSTALLED on)
did: paths with the permission each access needs as AppArmor sees it
(resolved now, as the kernel resolved them, so run it right after the run),
sockets and their operations, calls that failed with EPERM/EACCES. UID is
the process's own (the service's dynamic user, or 0 for a command an
operator runs as root). INHERITED.json (tests/e2e/pty_run.py) lists the
open files it inherited, which AppArmor checks at the execve: the
operator's terminal; without it, stdout and stderr are taken for the
journal's stream socket, as under systemd.
tests/e2e/apparmor_check.py checks the result against the profile; the
kernel here cannot load the profile, so this trace is what stands in for
its decisions.
"""
import json
import os
import re
import sys

from apparmor_rules import PROFILE_NAME
from strace_log import deco, inode_of, read_trace, split_args, unescape, unquote

# path-taking calls AppArmor mediates as getattr (r) or setattr (w):
# name -> (index of the dirfd argument or None, index of the path, permission)
PATHCALLS = {
    "stat": (None, 0, "r"), "lstat": (None, 0, "r"), "newfstatat": (0, 1, "r"), "fstatat64": (0, 1, "r"),
    "statx": (0, 1, "r"), "access": (None, 0, "r"), "faccessat": (0, 1, "r"), "faccessat2": (0, 1, "r"),
    "readlink": (None, 0, "r"), "readlinkat": (0, 1, "r"),
    "truncate": (None, 0, "w"), "chmod": (None, 0, "w"), "fchmodat": (0, 1, "w"), "chown": (None, 0, "w"),
    "lchown": (None, 0, "w"), "fchownat": (0, 1, "w"), "utimensat": (0, 1, "w"), "utimes": (None, 0, "w"),
}
NOFOLLOW = {"lstat", "readlink", "readlinkat", "lchown"}
FDCALLS = {"fstat": "r", "fchmod": "w", "fchown": "w", "ftruncate": "w"}
SOCKIO = {"read": "receive", "readv": "receive", "recvfrom": "receive", "recvmsg": "receive",
          "recvmmsg": "receive", "write": "send", "writev": "send", "sendto": "send", "sendmsg": "send",
          "sendmmsg": "send", "getsockopt": "getopt", "setsockopt": "setopt", "getsockname": "getattr",
          "getpeername": "getattr", "shutdown": "shutdown", "listen": "listen", "accept": "accept",
          "accept4": "accept", "connect": "connect", "bind": "bind"}
PRIVILEGED = {"ptrace", "mount", "umount2", "pivot_root", "chroot", "setuid", "setgid", "setresuid", "setresgid",
              "setgroups", "capset", "init_module", "finit_module", "bpf", "perf_event_open", "io_uring_setup",
              "unshare", "setns", "personality", "iopl", "ioperm", "reboot", "swapon", "settimeofday",
              "clock_settime", "adjtimex", "mknod", "mknodat", "keyctl", "add_key", "process_vm_readv",
              "process_vm_writev", "kcmp", "quotactl", "sethostname", "setdomainname", "acct"}


def extract(trace_dir, installed, daemon_uid, out_file, inherited_file=None):
    daemon_uid = int(daemon_uid)
    res = {"uid": daemon_uid, "summary": [], "notes": [], "accesses": [], "sockets": [], "unix": [], "failed": [],
           "execs": []}
    calls, children = read_trace(trace_dir)
    unparsed = 0

    # The daemon: the process that execs the installed binary (AppArmor
    # attaches the profile there), its threads and children.
    start = {}
    for pid, lines in calls.items():
        for i, (name, args, ret, rdeco, err) in enumerate(lines):
            if name == "execve" and ret == "0" and unquote(split_args(args)[0]) == installed:
                start[pid] = i
    if len(start) != 1:
        res["summary"].append(["FAIL", "%d successful execve(%s) in %s, expected 1" % (len(start), installed, trace_dir)])
        json.dump(res, open(out_file, "w"))
        return
    root = next(iter(start))
    scope = [root]
    i = 0
    while i < len(scope):
        for c in children.get(scope[i], []):
            if c in calls and c not in scope:
                scope.append(c)
        i += 1
    n_calls = sum(len(calls[p]) - start.get(p, 0) for p in scope)
    res["summary"].append(["OK", "%s: traced the daemon (pid %d, %d threads/children), %d system calls from its execve on"
                           % (os.path.basename(trace_dir), root, len(scope) - 1, n_calls)])
    mine = set(scope)

    def resolve_proc(path, pid):
        path = re.sub(r"^/proc/self(?=/|$)", "/proc/%d" % root, path)
        return re.sub(r"^/proc/thread-self(?=/|$)", "/proc/%d/task/%d" % (root, pid), path)

    def full(dirarg, p, pid):
        if p is None:
            return None
        if not p.startswith("/"):
            d = unescape(deco(dirarg)[1] or "") if dirarg else "/"
            if not d or not d.startswith("/"):
                d = "/"   # the daemon runs in / and never changes directory
            p = d.rstrip("/") + "/" + p if p else d
        return resolve_proc(os.path.normpath(p), pid)

    def owner(kp, created):
        m = re.match(r"^/proc/(\d+)", kp)
        if m:
            return daemon_uid if int(m.group(1)) in mine else 0
        try:
            return os.lstat(kp.rstrip("/") or "/").st_uid
        except OSError:
            return daemon_uid if created else None

    def add(path, perms, what, pid, ok=True, created=False, follow=True, decorated=None, isdir=False):
        if not path or not path.startswith("/"):
            return
        if decorated:   # a path shown in an fd decoration, escaped like strings
            if path == decorated:
                path = unescape(decorated)
            decorated = unescape(decorated)
        if decorated and decorated.startswith("/") and ok:
            kp = resolve_proc(re.sub(r" \(deleted\)$", "", decorated), pid)   # what the kernel opened
        elif path.startswith("/proc/"):
            kp = path
        elif follow:
            kp = os.path.realpath(path)
        else:
            head, tail = os.path.split(path)
            kp = os.path.join(os.path.realpath(head), tail)
        # AppArmor names directories with a trailing slash.
        if isdir or (not kp.startswith("/proc/") and os.path.isdir(kp)) \
                or re.fullmatch(r"/proc/\d+(/task/\d+)?(/fd|/fdinfo|/net|/attr|/ns)?", kp):
            kp = kp.rstrip("/") + "/"
        res["accesses"].append({"path": kp, "as": path, "perms": "".join(sorted(perms)), "what": what,
                                "ok": ok, "owner": owner(kp, created)})

    sock_type, self_inodes, fd_kind = {}, set(), {}

    def sockkind(d, fd=None):
        m = re.match(r"^(UNIX-STREAM|UNIX-DGRAM|UNIX-SEQPACKET|UNIX|TCPv6|UDPv6|TCP|UDP|NETLINK|socket)(?=[:\[])", d or "")
        if not m:
            return None
        kind = {"UNIX": ("unix", "?"), "UNIX-STREAM": ("unix", "stream"), "UNIX-DGRAM": ("unix", "dgram"),
                "UNIX-SEQPACKET": ("unix", "seqpacket"), "TCP": ("inet", "stream"), "UDP": ("inet", "dgram"),
                "TCPv6": ("inet6", "stream"), "UDPv6": ("inet6", "dgram"), "NETLINK": ("netlink", "?"),
                "socket": ("?", "?")}[m.group(1)]
        if "?" in kind and inode_of(d) in sock_type:
            kind = sock_type[inode_of(d)]
        if "?" in kind and fd in fd_kind:   # e.g. a bound netlink socket shows its port id, not its inode
            kind = fd_kind[fd]
        return kind

    def sock(kind, op, ok, peer=None, where=""):
        res["sockets"].append([kind[0], kind[1], op, ok])
        if kind[0] == "unix":
            res["unix"].append([kind[1], op, peer, where, ok])

    logged = False
    interp_done = False
    for pid in scope:
        for name, args, ret, rdeco, err in calls[pid][start.get(pid, 0):]:
            if name == "?":
                unparsed += 1
                continue
            a = split_args(args)
            ok = err is None and not ret.startswith("-")
            if err in ("EPERM", "EACCES"):
                res["failed"].append("%s(%s) = %s %s" % (name, args[:160], ret, err))
            rd = rdeco[1:-1] if rdeco else None
            if name in ("open", "openat", "openat2", "creat"):
                if name == "open":
                    dirarg, p, flags = None, unquote(a[0]), a[1] if len(a) > 1 else "O_RDONLY"
                elif name == "creat":
                    dirarg, p, flags = None, unquote(a[0]), "O_WRONLY|O_CREAT|O_TRUNC"
                else:
                    dirarg, p, flags = a[0], unquote(a[1]), a[2] if len(a) > 2 else "O_RDONLY"
                if "O_PATH" in flags:
                    continue   # no file_open check for O_PATH
                perms = set()
                if "O_WRONLY" in flags:
                    perms.add("a" if "O_APPEND" in flags and "O_TRUNC" not in flags else "w")
                elif "O_RDWR" in flags:
                    perms |= {"r", "w"}
                else:
                    perms.add("r")
                if "O_CREAT" in flags or "O_TRUNC" in flags:
                    perms.add("w")
                add(full(dirarg, p, pid), perms, "%s %s" % (name, flags.split("|")[0]), pid, ok,
                    created="O_CREAT" in flags, follow="O_NOFOLLOW" not in flags, decorated=rd,
                    isdir="O_DIRECTORY" in flags)
            elif name in ("execve", "execveat"):
                p = unquote(a[0] if name == "execve" else a[1])
                if pid in start and not interp_done:
                    interp_done = True
                    add(p, {"r", "m"}, "execve: the daemon's binary, mapped", pid, ok)
                    # The kernel maps the ELF interpreter (ld.so) too: not a
                    # system call in the trace, needed all the same.
                    try:
                        m = re.search(rb"(/lib[^\0]*/ld-linux[^\0]*)\0", open(installed, "rb").read(65536))
                        if m:
                            add(m.group(1).decode(), {"r", "m"}, "ELF interpreter, mapped", pid, True)
                    except OSError:
                        pass
                else:
                    res["execs"].append(p)
                    add(full(None if name == "execve" else a[0], p, pid), {"x"}, name, pid, ok)
            elif name in PATHCALLS:
                di, pi, perm = PATHCALLS[name]
                dirarg = a[di] if di is not None else None
                p = unquote(a[pi]) if len(a) > pi else None
                rest = " ".join(a[pi + 1:])
                if p == "" and "AT_EMPTY_PATH" in rest:
                    d = deco(dirarg)[1]
                    if d and d.startswith("/"):
                        add(d, {perm}, name + " (on an open file)", pid, ok, decorated=d)
                    continue
                follow = name not in NOFOLLOW and "AT_SYMLINK_NOFOLLOW" not in rest
                add(full(dirarg, p, pid), {perm}, name, pid, ok, follow=follow)
            elif name in FDCALLS:
                d = deco(a[0])[1]
                if d and d.startswith("/"):
                    add(d, {FDCALLS[name]}, name, pid, ok, decorated=d)
            elif name == "flock" or (name == "fcntl" and re.search(r"F_(OFD_)?SETLKW?\b", args)):
                d = deco(a[0])[1]
                if d and d.startswith("/"):
                    add(d, {"k"}, name + " (lock)", pid, ok, decorated=d)
            elif name in ("rename", "renameat", "renameat2"):
                if name == "rename":
                    src, dst = full(None, unquote(a[0]), pid), full(None, unquote(a[1]), pid)
                else:
                    src, dst = full(a[0], unquote(a[1]), pid), full(a[2], unquote(a[3]), pid)
                # AppArmor: read+write(delete) on the source, write(create) on the target
                add(src, {"r", "w"}, name + " (source)", pid, ok, follow=False)
                add(dst, {"w"}, name + " (target)", pid, ok, created=True, follow=False)
            elif name in ("unlink", "unlinkat", "rmdir"):
                p = full(a[0], unquote(a[1]), pid) if name == "unlinkat" else full(None, unquote(a[0]), pid)
                add(p, {"w"}, name, pid, ok, follow=False, isdir=name == "rmdir" or "AT_REMOVEDIR" in args)
            elif name in ("mkdir", "mkdirat"):
                p = full(a[0], unquote(a[1]), pid) if name == "mkdirat" else full(None, unquote(a[0]), pid)
                add(p, {"w"}, name, pid, ok, created=True, follow=False, isdir=True)
            elif name in ("link", "linkat", "symlink", "symlinkat"):
                dst = {"link": lambda: full(None, unquote(a[1]), pid),
                       "linkat": lambda: full(a[2], unquote(a[3]), pid),
                       "symlink": lambda: full(None, unquote(a[1]), pid),
                       "symlinkat": lambda: full(a[1], unquote(a[2]), pid)}[name]()
                add(dst, {"l"} if name.startswith("link") else {"w"}, name, pid, ok, created=True, follow=False)
            elif name == "mmap" and len(a) >= 5 and "PROT_EXEC" in a[2]:
                d = deco(a[4])[1]
                if d and d.startswith("/"):
                    add(d, {"m"}, "mmap PROT_EXEC", pid, ok, decorated=d)
            elif name == "mprotect" and "PROT_EXEC" in args:
                res["notes"].append("mprotect(PROT_EXEC) (not checked: file mappings are checked at mmap): %s" % args[:80])
            elif name in ("socket", "socketpair"):
                fam = a[0].replace("AF_", "").lower().replace("local", "unix")
                typ = re.sub(r"\|.*", "", a[1]).replace("SOCK_", "").lower()
                sock((fam, typ), "create", ok or err not in ("EACCES", "EPERM"), where="%s(%s)" % (name, args[:80]))
                if name == "socket" and rd:
                    sock_type[inode_of(rd)] = (fam, typ)
                    fd_kind[ret] = (fam, typ)
                elif name == "socketpair" and len(a) > 3:
                    for ino in re.findall(r"<[\w-]+:\[(\d+)", a[3]):
                        sock_type[int(ino)] = (fam, typ)
                        self_inodes.add(int(ino))
            elif name in SOCKIO and a:
                num, d = deco(a[0])
                if name in ("write", "writev") and num in ("1", "2"):
                    logged = True
                kind = sockkind(d, num)
                if kind is None:
                    continue
                op = SOCKIO[name]
                peer = None
                if op not in ("getopt", "setopt", "getattr", "shutdown", "listen", "bind"):
                    # accepted connections: nginx; the notify socket: systemd
                    # (both unconfined); socketpair(): the daemon itself
                    peer = PROFILE_NAME if inode_of(d) in self_inodes else "unconfined"
                if name in ("bind", "connect", "sendto", "sendmsg"):
                    m = re.search(r'sun_path="((?:[^"\\]|\\.)*)"', args)
                    if m:
                        sp = unquote('"%s"' % m.group(1))
                        add(full(None, sp, pid), {"w"}, "%s (unix socket path)" % name, pid, ok,
                            created=name == "bind")
                        if name in ("sendto", "sendmsg"):
                            sock(kind, "connect", ok, peer, "%s to %s" % (name, sp))
                    elif re.search(r"sun_path=@", args):
                        res["notes"].append("abstract unix socket address: %s(%s)" % (name, args[:120]))
                # A socket bound to a path (the listening socket, the
                # connections accepted on it): kernels with AF_UNIX mediation
                # check its operations against the file rules of that path.
                m = re.search(r',"((?:[^"\\]|\\.)*)"\]$', d or "")
                if kind[0] == "unix" and m and ok:
                    add(unquote('"%s"' % m.group(1)), {"w"} if op in ("send", "connect", "setopt", "shutdown") else {"r"},
                        "%s on a socket bound to this path" % op, pid, True)
                # The network check (socket_* hooks) comes before the protocol's
                # own work: a connect refused or in progress was allowed.
                sock(kind, op, ok or err in ("EINPROGRESS", "EAGAIN", "ECONNREFUSED", "ENETUNREACH", "EADDRNOTAVAIL")
                     and not (kind[0] == "unix" and err == "ECONNREFUSED"), peer, "%s(%s)" % (name, args[:80]))
            elif name == "close" and a:
                fd_kind.pop(deco(a[0])[0], None)
            elif name in ("kill", "tgkill", "tkill"):
                if not a[0].lstrip("-").isdigit() or int(a[0]) not in mine:
                    res["notes"].append("signal to another process: %s(%s)" % (name, args))
            elif name in PRIVILEGED:
                res["notes"].append("privileged system call: %s(%s) = %s %s" % (name, args[:100], ret, err or ""))
    if inherited_file:
        # Checked by AppArmor at the execve, whether the program uses them
        # or not; the terminal is gone by now, so its owner comes recorded.
        for f in json.load(open(inherited_file)):
            res["accesses"].append({"path": f["path"], "as": f["path"], "perms": "".join(sorted(f["perms"])),
                                    "what": "inherited fd %d, checked at exec" % f["fd"], "ok": True,
                                    "owner": f["owner"], "inherited": True})
    elif logged:
        # In production stdout/stderr are the journal's stream socket (unix
        # stream, journald unconfined), inherited: each log line is a send.
        res["sockets"].append(["unix", "stream", "send", True])
        res["unix"].append(["stream", "send", "unconfined", "log lines on stdout/stderr (the journal stream in production)", True])
        res["unix"].append(["stream", "getattr", None, "stdout/stderr, the journal stream, revalidated at exec", True])
    if unparsed:
        res["notes"].append("%d trace lines not understood (not checked)" % unparsed)
    json.dump(res, open(out_file, "w"))



if __name__ == "__main__":
    extract(*sys.argv[1:])
