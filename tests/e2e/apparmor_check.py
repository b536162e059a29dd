#!/usr/bin/env python3
"""The daemon's accesses against the AppArmor profile, for tests/e2e/apparmor-trace.sh.

    apparmor_check.py PREPROCESSED_PROFILE PROFILE UID RUN.json...

Checks what tests/e2e/strace_files.py recorded (RUN.json, one per run)
against the rules of apparmor_parser -p output (PREPROCESSED_PROFILE; the
project's PROFILE tells its own rules from included ones): every file
access with the permission it needed, every socket by the network rules,
every unix socket operation by the unix rules, no EPERM/EACCES; owner
rules hold for files of the run's own uid (UID unless the run names its
own: a command run as root). An inherited terminal must also be one the
profile refuses to a process that does not own it. Prints
OK/FAIL/NOTE lines, and PATH/USED/UNUSED lines for the report; the script
turns them into its tally.
"""
import json
import sys

from apparmor_rules import SOCK_TYPES, parse_profile, rules_of

def check(pp_file, own_profile, daemon_uid, *run_files):
    daemon_uid = int(daemon_uid)
    out = []
    emit = lambda kind, text: out.append("%s %s" % (kind, text))
    variables, statements, origin = parse_profile(pp_file, own_profile)
    files, nets, unixes, caps, others, notes = rules_of(statements, origin, variables)
    for n in notes:
        emit("NOTE", n)
    if caps:
        emit("NOTE", "capability rules in the profile: %s" % "; ".join(caps))
    emit("OK", "profile: %d file rules (%d deny, %d owner), %d network and %d unix rules, %d capability rules, "
         "%d signal/ptrace/other rules (not checked)"
         % (len(files), sum(r.deny for r in files), sum(r.owner for r in files), len(nets), len(unixes), len(caps),
            len(others)))

    runs = [json.load(open(f)) for f in run_files]
    for r in runs:
        for kind, text in r["summary"]:
            emit(kind, text)
        for n in r["notes"]:
            emit("NOTE", n)

    # --- files
    def decide(path, need, owned, ok):
        allowed, denied, matched = set(), set(), []
        for r in files:
            if not r.matches(path):
                continue
            if r.owner and not owned:
                continue
            if r.deny:
                denied |= r.perms
            else:
                allowed |= r.perms
                matched.append(r)
        missing = set()
        for p in need:
            if p == "a":   # append: a or w
                if not ({"a", "w"} & allowed) or ({"a", "w"} & denied):
                    missing.add(p)
            elif p not in allowed or p in denied:
                missing.add(p)
        if not missing and ok:
            for r in matched:
                if r.perms & (need | ({"w"} if "a" in need else set())):
                    r.used = True
        return missing, denied & need

    seen = {}
    for r in runs:
        for acc in r["accesses"]:
            owned = acc["owner"] is not None and acc["owner"] == r.get("uid", daemon_uid)
            seen.setdefault((acc["path"], acc["perms"], acc["ok"], owned), acc)
    n_ok, gaps, absent, by_path, others_terminal = 0, [], [], {}, []
    for (path, perms, ok, owned), acc in sorted(seen.items(), key=lambda x: (x[0][0], x[0][1], x[0][2], x[0][3])):
        missing, denied = decide(path, set(perms), owned, ok)
        if acc.get("inherited") and owned:
            # The same terminal, to a process that does not own it (the
            # service's dynamic user): refused.
            if not decide(path, set(perms), False, False)[0]:
                others_terminal.append(path)
        shown = path if acc["as"].rstrip("/") == path.rstrip("/") else "%s (as %s)" % (path, acc["as"])
        entry = "%s %s [%s]" % (shown, perms, acc["what"])
        if not missing:
            n_ok += 1
        elif missing <= denied:
            # The profile refuses it on purpose (a deny rule, quiet): the
            # daemon has to do without it; listed for review.
            emit("NOTE", "denied on purpose by a deny rule%s: %s" % ("" if ok else " (and not found here)", entry))
        elif ok:
            gaps.append("%s: needs %s" % (entry, "".join(sorted(missing))))
        else:
            absent.append(entry)
        if ok:
            by_path.setdefault(path, set()).update(perms)
    emit("OK" if not gaps else "FAIL", "file accesses allowed by the file rules: %d distinct (path, permission) pairs%s"
         % (n_ok, "" if not gaps else "; NOT allowed:\n    " + "\n    ".join(gaps)))
    terminals = sorted({a["path"] for r in runs for a in r["accesses"] if a.get("inherited")})
    if terminals:
        emit("OK" if not others_terminal else "FAIL",
             "the inherited terminal%s %s: refused to a process that does not own %s (the service's dynamic user)%s"
             % ("s" if len(terminals) > 1 else "", ", ".join(terminals), "them" if len(terminals) > 1 else "it",
                "" if not others_terminal else "; NOT refused: " + ", ".join(others_terminal)))
    for a in absent:
        emit("NOTE", "failed look-up (AppArmor decides only on existing files), no rule would allow it: %s" % a)

    # --- network: upstream kernels mediate socket creation and every later
    # operation (accept, send, receive, shutdown, ...) by the network rules.
    def net_decision(fam, typ):
        """'allow', 'deny' (a deny rule) or 'none'."""
        allow = deny = False
        for r in nets:
            fams = [x for x in r["words"] if x not in SOCK_TYPES and x not in ("tcp", "udp", "icmp")]
            types = [x for x in r["words"] if x in SOCK_TYPES]
            if (not fams or fam in fams) and (not types or typ in types):
                if r["deny"]:
                    deny = True
                else:
                    allow = True
        if allow and not deny:
            for r in nets:
                fams = [x for x in r["words"] if x not in SOCK_TYPES and x not in ("tcp", "udp", "icmp")]
                types = [x for x in r["words"] if x in SOCK_TYPES]
                if not r["deny"] and (not fams or fam in fams) and (not types or typ in types):
                    r["used"] = True
            return "allow"
        return "deny" if deny else "none"
    used_socks = {}
    for r in runs:
        for fam, typ, op, ok in r["sockets"]:
            # every attempt counts: the socket hooks run before the protocol
            # can fail (a refused connect, an nscd socket not there)
            if fam != "?":
                used_socks.setdefault((fam, typ), set()).add(op)
    allowed, bad = [], []
    for (f, t), o in sorted(used_socks.items()):
        d = net_decision(f, t)
        text = "%s %s (%s)" % (f, t, ", ".join(sorted(o)))
        if d == "allow":
            allowed.append(text)
        elif d == "deny":
            emit("NOTE", "denied on purpose by a deny rule: network %s: the daemon has to do without it" % text)
        else:
            bad.append(text)
    emit("OK" if not bad else "FAIL", "network rules allow every socket the daemon used: %s%s"
         % ("; ".join(allowed) or "none", "" if not bad else "; NOT allowed: " + "; ".join(bad)))

    # --- unix rules (kernels with fine-grained AF_UNIX mediation)
    def unix_ok(typ, op, peer, mark=True):
        allow, deny, matched = False, False, []
        for r in unixes:
            if r["type"] and typ != "?" and r["type"] != typ:
                continue
            if r["access"] is not None and op not in r["access"]:
                continue
            if r["addr"]:
                continue   # the daemon's sockets have no address rule to meet
            if r["peer"] is not None and r["peer"] != peer:
                continue
            if r["deny"]:
                deny = True
            else:
                allow = True
                matched.append(r)
        if allow and not deny and mark:
            for r in matched:
                r["used"] = True
        return allow and not deny
    ops, failed_ops = {}, {}
    for r in runs:
        for typ, op, peer, where, ok in r["unix"]:
            (ops if ok else failed_ops).setdefault((typ, op, peer), where)
    for (t, o, p), w in sorted(failed_ops.items(), key=str):
        if (t, o, p) not in ops and not unix_ok(t, o, p, mark=False):
            emit("NOTE", "a failed unix socket operation no unix rule allows (refused here already): %s %s%s (%s)"
                 % (t, o, " peer=" + p if p else "", w))
    bad = ["%s %s%s (%s)" % (t, o, " peer=" + p if p else "", w) for (t, o, p), w in sorted(ops.items(), key=str)
           if not unix_ok(t, o, p)]
    emit("OK" if not bad else "FAIL", "unix rules allow every unix socket operation: %s%s"
         % (", ".join("%s %s%s" % (t, o, " (peer %s)" % p if p else "") for t, o, p in sorted(ops, key=str)),
            "" if not bad else "; NOT allowed: " + "; ".join(bad)))

    failed = [f for r in runs for f in r["failed"]]
    emit("OK" if not failed else "FAIL", "no system call failed with EPERM/EACCES: nothing needed a capability "
         "(the daemon had none) or a permission it lacked%s" % ("" if not failed else ": " + "; ".join(failed[:20])))
    execs = [e for r in runs for e in r["execs"]]
    if execs:
        emit("NOTE", "the daemon ran other programs: %s" % ", ".join(execs))

    for path in sorted(by_path):
        emit("PATH", "%s %s" % ("".join(sorted(by_path[path])), path))
    for r in files:
        if r.used:
            emit("USED", "%s [%s]" % (r.text, r.origin))
    for r in [r for r in files if r.origin == "profile" and not r.used and not r.deny]:
        emit("UNUSED", r.text)
    for r in nets + unixes:
        if r["origin"] == "profile" and not r["used"] and not r["deny"]:
            emit("UNUSED", r["text"])
    print("\n".join(out))




if __name__ == "__main__":
    check(*sys.argv[1:])
