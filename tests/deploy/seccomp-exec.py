#!/usr/bin/python3
"""Runs a command under a seccomp filter, as systemd or a container runtime would install it.

  seccomp-exec.py --oci PROFILE.json [--drop NAME]... -- CMD ARGS...
      a Kubernetes/OCI seccomp profile (defaultAction, syscalls[].names/action/args/errnoRet);
      --drop removes a call from every rule (to see the agent without the io_uring additions).
  seccomp-exec.py --systemd '@system-service ~@privileged' [--errno EPERM] [--mdwe] -- CMD ...
      a SystemCallFilter= allow-list expanded by `systemd-analyze syscall-filter`; --mdwe adds
      MemoryDenyWriteExecute= (no writable+executable mapping, no mprotect to executable).

Needs Debian's python3-seccomp (libseccomp). The filter survives execve, with no_new_privs set.
"""
import errno
import json
import os
import subprocess
import sys

import seccomp


def systemd_group(name, seen):
    """The calls of a systemd syscall group, nested groups expanded."""
    if name in seen:
        return set()
    seen.add(name)
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], check=True,
                         capture_output=True, text=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        calls |= systemd_group(item, seen) if item.startswith("@") else {item}
    return calls


def add(f, action, name, *args):
    try:
        f.add_rule(action, name, *args)
    except (RuntimeError, ValueError, OSError):
        pass  # not a call of this architecture (e.g. the 32-bit variants)


OPS = {"SCMP_CMP_NE": seccomp.NE, "SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_LT": seccomp.LT,
       "SCMP_CMP_LE": seccomp.LE, "SCMP_CMP_GT": seccomp.GT, "SCMP_CMP_GE": seccomp.GE,
       "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ}


def oci_action(rule, default_errno):
    a = rule["action"]
    if a == "SCMP_ACT_ALLOW":
        return seccomp.ALLOW
    if a == "SCMP_ACT_ERRNO":
        return seccomp.ERRNO(rule.get("errnoRet", default_errno))
    if a == "SCMP_ACT_KILL" or a == "SCMP_ACT_KILL_THREAD":
        return seccomp.KILL
    if a == "SCMP_ACT_KILL_PROCESS":
        return seccomp.KILL_PROCESS
    raise SystemExit(f"seccomp-exec: unsupported action {a}")


def oci_filter(path, drop):
    prof = json.load(open(path))
    default_errno = prof.get("defaultErrnoRet", errno.EPERM)
    f = seccomp.SyscallFilter(defaction=oci_action({"action": prof["defaultAction"],
                                                    "errnoRet": default_errno}, default_errno))
    for rule in prof["syscalls"]:
        action = oci_action(rule, default_errno)
        args = []
        for a in rule.get("args") or []:
            op = OPS[a["op"]]
            if op == seccomp.MASKED_EQ:
                args.append(seccomp.Arg(a["index"], op, a["value"], a.get("valueTwo", 0)))
            else:
                args.append(seccomp.Arg(a["index"], op, a["value"]))
        for name in rule["names"]:
            if name not in drop:
                add(f, action, name, *args)
    return f


def systemd_filter(spec, err, mdwe):
    allow, deny = set(), set()
    for item in spec.split():
        target = deny if item.startswith("~") else allow
        name = item.lstrip("~")
        target |= systemd_group(name, set()) if name.startswith("@") else {name}
    allow -= deny
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(getattr(errno, err)))
    guarded = {"mmap", "mmap2", "mprotect", "pkey_mprotect", "shmat"} if mdwe else set()
    for name in sorted(allow - guarded):
        add(f, seccomp.ALLOW, name)
    if mdwe:
        prot_wx, prot_x, shm_exec = 0x6, 0x4, 0o100000
        for name in ("mmap", "mmap2"):
            for ok in (0x0, 0x2, 0x4):  # PROT_WRITE and PROT_EXEC never together
                add(f, seccomp.ALLOW, name, seccomp.Arg(2, seccomp.MASKED_EQ, prot_wx, ok))
        add(f, seccomp.ALLOW, "mprotect", seccomp.Arg(2, seccomp.MASKED_EQ, prot_x, 0))
        add(f, seccomp.ALLOW, "pkey_mprotect", seccomp.Arg(2, seccomp.MASKED_EQ, prot_x, 0))
        add(f, seccomp.ALLOW, "shmat", seccomp.Arg(2, seccomp.MASKED_EQ, shm_exec, 0))
    return f


def main(argv):
    if "--" not in argv:
        raise SystemExit(__doc__)
    opts, cmd = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    oci = systemd = None
    drop, err, mdwe = set(), "EPERM", False
    it = iter(opts)
    for o in it:
        if o == "--oci":
            oci = next(it)
        elif o == "--drop":
            drop.add(next(it))
        elif o == "--systemd":
            systemd = next(it)
        elif o == "--errno":
            err = next(it)
        elif o == "--mdwe":
            mdwe = True
        else:
            raise SystemExit(f"seccomp-exec: unknown option {o}\n{__doc__}")
    f = oci_filter(oci, drop) if oci else systemd_filter(systemd, err, mdwe)
    f.load()
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
