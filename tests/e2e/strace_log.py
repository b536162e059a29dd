"""Reading strace output, for tests/e2e/strace_files.py.

The trace is what `strace -f -ff -yy` writes: one file per process
(NAME.PID), file descriptors decorated with what they are (3</path>,
4<UNIX-STREAM:[123]>), strings in strace's escapes. AppArmor decides on
the paths and sockets behind each call, so the call's arguments have to be
read back exactly, including decorations that hold brackets or "->".
"""
import os
import re

def split_args(s):
    """Top-level arguments of an strace line ("->" in socket decorations is
    not a closing bracket)."""
    args, cur, depth, q, i = [], [], 0, False, 0
    while i < len(s):
        c = s[i]
        if q:
            cur.append(c)
            if c == "\\" and i + 1 < len(s):
                cur.append(s[i + 1]); i += 1
            elif c == '"':
                q = False
        elif c == '"':
            q = True; cur.append(c)
        elif c in "([{<":
            depth += 1; cur.append(c)
        elif c in ")]}>" and not (c == ">" and i > 0 and s[i - 1] == "-"):
            depth -= 1; cur.append(c)
        elif c == "," and depth == 0:
            args.append("".join(cur).strip()); cur = []
        else:
            cur.append(c)
        i += 1
    if cur or args:
        args.append("".join(cur).strip())
    return args


def unescape(s):
    """strace's escapes (\\ooo octal bytes, \\n, ...) -> str."""
    if "\\" not in s:
        return s
    raw = s.encode("latin-1", "backslashreplace").decode("unicode_escape")
    return raw.encode("latin-1").decode("utf-8", "replace")


def unquote(a):
    """strace string literal -> str (None if not a string)."""
    m = re.match(r'^"(.*)"(\.\.\.)?$', a or "", re.S)
    return unescape(m.group(1)) if m else None


def deco(a):
    """'3</path>' -> ('3', '/path'); 'AT_FDCWD</>' -> ('AT_FDCWD', '/')."""
    m = re.match(r"^([^<]*)<(.*)>$", a or "", re.S)
    return (m.group(1), m.group(2)) if m else (a, None)


def inode_of(d):
    m = re.match(r"^[\w-]+:\[(?:[A-Z_]+:)?(\d+)", d or "")   # UNIX:[123...], NETLINK:[ROUTE:123]
    return int(m.group(1)) if m else None


LINE = re.compile(r"^(\w+)\((.*)\)\s+=\s+(\S+?)(<.*?>)?(?:\s+(E[A-Z0-9]+)\s+\(.*\))?(?:\s+\(.*\))?$", re.S)


def read_trace(trace_dir):
    """Every process's calls, as (name, args, ret, ret_decoration, errno)
    tuples ("?" as the name for a line not understood), and the children
    each process cloned: ({pid: [call...]}, {pid: [child pid...]})."""
    calls, children = {}, {}
    for f in sorted(os.listdir(trace_dir)):
        if not re.fullmatch(r"[\w-]+\.\d+", f):
            continue
        pid = int(f.rsplit(".", 1)[1])
        lines, pending = [], None
        for raw in open(os.path.join(trace_dir, f), encoding="latin-1"):
            raw = raw.rstrip("\n")
            if raw.endswith("<unfinished ...>"):
                pending = raw[: -len("<unfinished ...>")].rstrip()
                continue
            m = re.match(r"^<\.\.\. \w+ resumed>\s?(.*)$", raw)
            if m and pending is not None:
                raw, pending = pending + m.group(1), None
            if raw.startswith(("---", "+++")):
                continue
            m = LINE.match(raw)
            if m:
                lines.append(m.groups())
            elif not re.match(r"^(exit|exit_group)\(", raw):
                lines.append(("?", raw, "?", None, None))
        calls[pid] = lines
        for name, args, ret, rdeco, err in lines:
            if name in ("clone", "clone3", "fork", "vfork") and ret.isdigit():
                children.setdefault(pid, []).append(int(ret))

    return calls, children
