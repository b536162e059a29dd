"""The rules of an expanded AppArmor profile, for tests/e2e/apparmor_check.py.

Reads `apparmor_parser -p` output (includes inlined) into file, network and
unix rules. File rules become Python regular expressions the way the parser
compiles AppArmor globs (**, *, ?, {a,b}, [...], @{variables} in every
combination), since this machine's kernel cannot load the profile and the
test has to decide for it. Each rule remembers where it comes from (the
project's profile or an include) so unused rules of our own can be listed.
"""
import os
import re

PROFILE_NAME = "mastodon-comments"

FILE_PERMS = set("rwamkl")


def parse_profile(pp_file, own_profile):
    variables = {"profile_name": [PROFILE_NAME]}
    statements, include_files, depth, buf = [], [], 0, ""
    for raw in open(pp_file, encoding="utf-8"):
        m = re.match(r"\s*##included <([^>]*)>", raw)
        if m:
            include_files.append(m.group(1))
            continue
        line = re.sub(r"(^|\s)#.*", "", raw).strip()
        if not line:
            continue
        m = re.match(r"^@\{(\w+)\}\s*(\+?=)\s*(.*)$", line)
        if m and depth == 0 and not buf:
            vals = [v.strip('"') for v in re.findall(r'"[^"]*"|\S+', m.group(3))]
            if m.group(2) == "=":
                variables[m.group(1)] = vals
            else:
                variables.setdefault(m.group(1), []).extend(vals)
            continue
        buf = (buf + " " + line).strip()
        if buf.endswith("{"):
            depth += 1   # the profile (a nested profile or hat would be depth 2: ignored)
            buf = ""
        elif buf == "}":
            depth -= 1
            buf = ""
        elif buf.endswith(","):
            if depth == 1:
                statements.append(buf[:-1].strip())
            buf = ""

    # Where a rule comes from: the project's profile, or the first included
    # file with the same line.
    def norm(s):
        return re.sub(r"\s+", " ", s.strip().rstrip(",").strip())

    def lines_of(path):
        out = set()
        for raw in open(path, encoding="utf-8", errors="replace"):
            l = re.sub(r"(^|\s)#.*", "", raw).strip()
            if l:
                out.add(norm(l))
        return out
    own = lines_of(own_profile)
    incs = [(n, lines_of(os.path.join("/etc/apparmor.d", n))) for n in include_files
            if os.path.isfile(os.path.join("/etc/apparmor.d", n))]

    def origin(st):
        n = norm(st)
        if n in own:
            return "profile"
        return next((name for name, lines in incs if n in lines), "include")
    return variables, statements, origin


def expand_vars(s, variables, seen=()):
    """@{var} -> every combination of the variables' values."""
    m = re.search(r"@\{(\w+)\}", s)
    if not m:
        return [s]
    name = m.group(1)
    if name not in variables or name in seen:
        raise ValueError("undefined variable @{%s}" % name)
    out = []
    for v in variables[name]:
        for e in expand_vars(v, variables, seen + (name,)):
            out.extend(expand_vars(s[:m.start()] + e + s[m.end():], variables, seen))
    return out


def aare_to_regex(s):
    """AppArmor glob -> Python regex, as the parser converts it: ** any
    characters, * and ? any but /, {a,b} alternatives, [...] classes; a
    * or ** that is a whole path component matches at least one character."""
    o, i, depth = [], 0, 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            o.append(re.escape(s[i + 1])); i += 2
            continue
        if c == "*":
            j = i
            while j < len(s) and s[j] == "*":
                j += 1
            if i > 0 and s[i - 1] == "/" and (j == len(s) or s[j] == "/"):
                o.append("[^/]")
            o.append(".*" if j - i >= 2 else "[^/]*")
            i = j
            continue
        if c == "?":
            o.append("[^/]")
        elif c == "{":
            o.append("(?:"); depth += 1
        elif c == "}" and depth:
            o.append(")"); depth -= 1
        elif c == "," and depth:
            o.append("|")
        elif c == "[":
            j = s.index("]", i + 2 if s[i + 1:i + 2] in ("^", "!") else i + 1)
            body = s[i + 1:j]
            neg = body[:1] in ("^", "!")
            if neg:
                body = body[1:]
            o.append("[" + ("^" if neg else "") + body.replace("\\", "\\\\") + "]")
            i = j
        else:
            o.append(re.escape(c))
        i += 1
    return "".join(o)


class FileRule:
    def __init__(self, text, origin, deny, owner, path, perms, variables):
        self.text, self.origin, self.deny, self.owner, self.perms = text, origin, deny, owner, perms
        self.regexes = [re.compile(aare_to_regex(re.sub(r"/+", "/", e)), re.S) for e in expand_vars(path, variables)]
        self.used = False

    def matches(self, path):
        return any(r.fullmatch(path) for r in self.regexes)


def parse_perms(p):
    perms = set(c for c in p if c in FILE_PERMS)
    if "x" in p:
        perms.add("x")   # ix, px, Px, ux, Ux, cx, Cx, pix, ...
    return perms


UNIX_SHORT = {"r": {"receive", "getattr", "getopt"}, "w": {"create", "connect", "send", "setattr", "setopt"}}
UNIX_SHORT["rw"] = UNIX_SHORT["r"] | UNIX_SHORT["w"]
SOCK_TYPES = ("stream", "dgram", "raw", "seqpacket", "rdm", "packet")


def rules_of(statements, origin, variables):
    files, nets, unixes, caps, others, notes = [], [], [], [], [], []
    for st in statements:
        m = re.match(r"^(audit\s+)?(?:(deny|allow)\s+)?(owner\s+)?(.*)$", st, re.S)
        deny, owner, body = m.group(2) == "deny", bool(m.group(3)), m.group(4).strip()
        word = body.split()[0] if body else ""
        if word in ("abi", "include"):
            continue
        if word == "capability":
            caps.append(st)
            continue
        if word == "network":
            nets.append({"deny": deny, "words": body.split()[1:], "text": st, "origin": origin(st), "used": False})
            continue
        if word == "unix":
            rest = body[4:].strip()
            access = None
            mm = re.match(r"^\(([^)]*)\)\s*(.*)$", rest, re.S) or re.match(r"^([a-z]+)\b(?!=)\s*(.*)$", rest, re.S)
            if mm:
                access = set()
                for x in re.split(r"[\s,]+", mm.group(1)):
                    if x:
                        access |= UNIX_SHORT.get(x, {x})
                rest = mm.group(2)
            rest = rest.replace("@{profile_name}", PROFILE_NAME)
            t = re.search(r"\btype=(\w+)", rest)
            peer = re.search(r"peer=\(\s*label=([^,)\s]+)", rest)
            unixes.append({"deny": deny, "access": access, "type": t.group(1) if t else None,
                           "peer": peer.group(1) if peer else None,
                           "addr": bool(re.search(r"(^|\s)addr=", rest)) or "peer=(addr" in rest,
                           "text": st, "origin": origin(st), "used": False})
            continue
        if word in ("signal", "ptrace", "dbus", "mount", "umount", "remount", "pivot_root", "change_profile",
                    "set", "rlimit", "mqueue", "io_uring", "userns", "link"):
            others.append(st)
            continue
        body = re.sub(r"^file\s+", "", body)
        if body == "file":
            files.append(FileRule(st, origin(st), deny, owner, "/**", set("rwamklx"), variables))
            continue
        mm = re.match(r'^("[^"]*"|[/@]\S*)\s+([a-zA-Z]+)(\s*->.*)?$', body)
        if mm:
            path, perms = mm.group(1).strip('"'), mm.group(2)
        else:
            mm = re.match(r'^([a-zA-Z]+)\s+("[^"]*"|[/@]\S*)(\s*->.*)?$', body)
            if not mm:
                notes.append("rule not understood, ignored: %s" % st)
                continue
            perms, path = mm.group(1), mm.group(2).strip('"')
        files.append(FileRule(st, origin(st), deny, owner, path, parse_perms(perms), variables))
    return files, nets, unixes, caps, others, notes

