"""Sandbox launcher for code_interpreter kernels (standard library only; run as a script, not imported).

Usage: python -S _sandbox_launch.py CONFIG.json -- KERNEL COMMAND...

Before exec'ing the kernel it, in order: joins the kernel's cgroups (pids: fork-bomb cap; memory: total
of the kernel and its children), sets rlimits (address space, CPU, processes, file size, no core dumps),
enters a new user + network namespace (unprivileged uid inside; no interface up: no network), drops every
capability, sets PR_SET_NO_NEW_PRIVS, applies a Landlock ruleset (read-only access to the Python
installation, read-write only in the sandbox directories, no TCP bind/connect, no signals or abstract
sockets to processes outside the sandbox) and a seccomp filter (``_sandbox_seccomp.py``). What succeeded
is passed to the kernel in ``QLWORK_SANDBOX_STATUS``.
"""

import ctypes
import json
import os
import resource
import sys

import _sandbox_seccomp  # next to this script (sys.path[0])

INNER_ID = 1000
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
SYS_CREATE, SYS_ADD, SYS_RESTRICT = 444, 445, 446
FS_READ = (1 << 0) | (1 << 2) | (1 << 3)  # execute, read_file, read_dir
FILE_RIGHTS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)  # exec, write, read, truncate, ioctl_dev
FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def _err() -> str:
    return os.strerror(ctypes.get_errno())


def join_cgroup(path: str | None) -> str:
    if not path:
        return "not configured"
    try:
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
        return "enforced"
    except OSError as exc:
        return f"unavailable ({exc.strerror})"


def new_namespaces() -> str:
    """User + network namespace (the kernel's uid inside is INNER_ID, unprivileged, and maps to the host's
    uid outside); where user namespaces are refused, root falls back to a network namespace alone."""
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"{INNER_ID} {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"{INNER_ID} {gid} 1")
        return f"enforced (user + network namespace; uid {INNER_ID} inside, {uid} outside)"
    why = _err()
    if libc.unshare(CLONE_NEWNET) == 0:
        return f"enforced (network namespace only; user namespace refused: {why})"
    return f"unavailable ({_err()})"


def drop_capabilities() -> str:
    """No capability left, none regained on exec: securebits locked (where permitted), bounding and
    ambient sets cleared, permitted/effective/inheritable set to zero."""
    libc.prctl(28, 0x2F, 0, 0, 0)  # PR_SET_SECUREBITS: NOROOT, NO_SETUID_FIXUP, KEEP_CAPS (all locked)
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP
    libc.prctl(47, 4, 0, 0, 0)  # PR_CAP_AMBIENT_CLEAR_ALL
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    if libc.capset(header, data) != 0:
        return f"failed ({_err()})"
    with open("/proc/self/status") as f:
        caps = {k: v.strip() for k, v in (line.split(":", 1) for line in f if line.startswith("Cap"))}
    left = [k for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh") if int(caps.get(k, "0"), 16)]
    return "enforced (none left)" if not left else f"failed ({', '.join(left)} not empty)"


def set_limits(cfg: dict) -> dict:
    done = {}
    limits = {"memory_bytes": resource.RLIMIT_AS, "cpu_seconds": resource.RLIMIT_CPU,
              "max_processes": resource.RLIMIT_NPROC, "file_size_bytes": resource.RLIMIT_FSIZE,
              "core": resource.RLIMIT_CORE, "open_files": resource.RLIMIT_NOFILE}
    for key, res in limits.items():
        value = 0 if key == "core" else cfg.get(key)
        if value is None:
            continue
        try:
            hard = value + 5 if key == "cpu_seconds" else value
            resource.setrlimit(res, (value, hard))
            done[key] = value
        except (ValueError, OSError) as exc:
            done[key] = f"failed: {exc}"
    return done


def landlock(read_paths: list, write_paths: list, file_paths: list) -> str:
    abi = libc.syscall(SYS_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        return f"unavailable ({_err()})"
    fs_all = FS_BY_ABI.get(abi, FS_BY_ABI[5])
    net = 3 if abi >= 4 else 0  # bind_tcp | connect_tcp, with no allow rules
    scoped = 3 if abi >= 6 else 0  # abstract unix sockets | signals
    attr = (ctypes.c_uint64 * 3)(fs_all, net, scoped)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    fd = libc.syscall(SYS_CREATE, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        return f"unavailable ({_err()})"

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    skipped = []
    for paths, rights in ((read_paths, FS_READ), (write_paths, fs_all), (file_paths, None)):
        for p in paths:
            try:
                pfd = os.open(p, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                skipped.append(p)
                continue
            allowed = rights if rights is not None else (FILE_RIGHTS & fs_all & ~(1 << 0))
            if not os.path.isdir(p):
                allowed &= FILE_RIGHTS
            rule = PathBeneath(allowed & fs_all, pfd)
            if libc.syscall(SYS_ADD, ctypes.c_int(fd), ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                skipped.append(p)
            os.close(pfd)
    if libc.syscall(SYS_RESTRICT, ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
        return f"failed ({_err()})"
    os.close(fd)
    parts = ["filesystem"] + (["tcp"] if net else []) + (["signals"] if scoped else [])
    return f"enforced (ABI {abi}: {', '.join(parts)})"


def main(argv: list) -> None:
    split = argv.index("--")
    with open(argv[1]) as f:
        cfg = json.load(f)
    status = {"cgroups": {name: join_cgroup(path) for name, path in cfg.get("cgroups", {}).items()},
              "rlimits": set_limits(cfg.get("rlimits", {}))}
    status["namespaces"] = new_namespaces() if cfg.get("isolate", True) else "disabled"
    status["capabilities"] = drop_capabilities()
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    if cfg.get("landlock", True):
        status["landlock"] = landlock(cfg.get("read_paths", []) + [f"/proc/{os.getpid()}"], cfg.get("write_paths", []),
                                      cfg.get("file_paths", []))
    else:
        status["landlock"] = "disabled"
    for path in cfg.get("make_dirs", []):  # inside the sandbox already: a planted symlink leads nowhere
        try:
            os.mkdir(path, 0o700)
        except OSError:
            pass
    status["seccomp"] = _sandbox_seccomp.install() if cfg.get("seccomp", True) else "disabled"
    status.update(cfg.get("status", {}))
    env = dict(os.environ)
    env["QLWORK_SANDBOX_STATUS"] = json.dumps(status)
    cmd = argv[split + 1:]
    os.execve(cmd[0], cmd, env)


if __name__ == "__main__":
    main(sys.argv)
