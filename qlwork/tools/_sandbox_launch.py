"""Sandbox launcher for code_interpreter kernels and the PDF/PNG parser (standard library only; run as
a script, not imported).

Usage: python -S -E _sandbox_launch.py CONFIG.json [--inner] -- COMMAND...

On the host (first stage) it joins the process's cgroups (pids: fork-bomb cap; memory: total of the
process and its children), sets rlimits (address space, CPU, processes, file size, no core dumps),
drops to the unprivileged sandbox uid when started as root, and execs **bubblewrap** with new user,
pid, mount, ipc, uts, cgroup and network namespaces (uid 1000 inside; a fresh root holding read-only
binds of the OS libraries, the Python runtime and qlwork, a private /proc and /tmp, and read-write
binds of the process's own run and work directories only), ``--die-with-parent``, ``--new-session``
and the libseccomp allow-list (``sandbox_seccomp.py``) as ``--seccomp FD``. Inside (``--inner``) it
drops every capability, sets PR_SET_NO_NEW_PRIVS, applies a Landlock ruleset (read-only access to the
Python installation, read-write only in the sandbox directories, no TCP bind/connect, no signals or
abstract sockets outside) and execs COMMAND with what succeeded in ``QLWORK_SANDBOX_STATUS``.

Without bubblewrap (only with the documented override ``QLWORK_SANDBOX_ALLOW_UNISOLATED=1``) the first
stage does the inner stage's work itself after a user + network namespace of its own, and loads the
same allow-list with prctl (``_sandbox_seccomp.py``).
"""

import ctypes
import json
import os
import resource
import sys

import _sandbox_seccomp  # next to this script (sys.path[0])

INNER_ID = 1000
CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWNS = 0x10000000, 0x40000000, 0x00020000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x1000, 0x4000, 0x40000
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


def drop_to_sandbox_user(cfg: dict) -> str:
    """As root: become the sandbox uid/gid (owns nothing on the host) before bubblewrap runs."""
    uid, gid = cfg.get("outer_uid"), cfg.get("outer_gid")
    if os.getuid() != 0 or uid is None:
        return str(os.getuid())
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    return str(uid)


def share_with_sandbox_user(cfg: dict) -> None:
    """As root, before dropping to the sandbox uid: give it its writable directories and the files it
    reads inside (the connection file, this config)."""
    uid, gid = cfg.get("outer_uid"), cfg.get("outer_gid")
    if os.getuid() != 0 or uid is None:
        return
    for path in cfg.get("write_paths", []) + cfg.get("give_files", []):
        os.chown(path, uid, gid, follow_symlinks=False)


def expose_to_sandbox_user(cfg: dict) -> str:
    """As root, before dropping to the sandbox uid: where a path the sandbox binds lies below a directory
    that uid cannot search (``/root`` holding the Python runtime, the 0700 temp dir holding the kernel's
    directories), give this process a private mount namespace with a tmpfs over that directory holding
    bind mounts of just those paths. The host's view is unchanged; bubblewrap binds from this view."""
    if os.getuid() != 0 or cfg.get("outer_uid") is None:
        return "not needed"
    paths = [p for p in cfg.get("bind_read", []) + cfg.get("write_paths", []) if os.path.exists(p)]
    blocked = {p: _blocked_ancestor(p) for p in paths}
    hidden = {p: a for p, a in blocked.items() if a is not None}
    if not hidden:
        return "not needed"
    if libc.unshare(CLONE_NEWNS) != 0 or libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return f"failed ({_err()})"
    # opened in the new namespace (a bind source must be a mount of the caller's own namespace)
    fds = {p: os.open(p, os.O_PATH | os.O_CLOEXEC) for p in sorted(hidden, key=len)}
    os.umask(0o022)
    for top in sorted(set(hidden.values()), key=len):
        if libc.mount(b"tmpfs", top.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=1m") != 0:
            return f"failed ({_err()})"
    for path, fd in fds.items():
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        if libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND | MS_REC, None) != 0:
            return f"failed ({_err()})"
        os.close(fd)
    return "enforced"


def _blocked_ancestor(path: str) -> str | None:
    """The topmost directory above ``path`` that other users cannot search, or None."""
    current = ""
    for part in os.path.abspath(path).split("/")[1:-1]:
        current += "/" + part
        if not os.stat(current).st_mode & 0o001:
            return current
    return None


def bwrap_argv(cfg: dict, seccomp_fd: int | None, inner: list) -> list:
    """bubblewrap's command line: namespaces, the filesystem view, the seccomp fd, then ``inner``."""
    argv = [cfg["bwrap"], "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
            "--unshare-cgroup-try", "--uid", str(INNER_ID), "--gid", str(INNER_ID), "--hostname", "sandbox",
            "--die-with-parent", "--new-session", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/dev/shm"]
    for path in cfg.get("bind_read", []):
        argv += ["--ro-bind-try", path, path]
    for path in cfg.get("file_paths", []):  # /dev/null, /dev/urandom, ...
        argv += ["--dev-bind-try", path, path]
    for path in cfg.get("write_paths", []):
        argv += ["--bind", path, path]
    argv += ["--chdir", cfg.get("cwd") or cfg["write_paths"][-1]]
    argv += ["--seccomp", str(seccomp_fd)] if seccomp_fd is not None else []
    argv += ["--", *inner]
    return argv


def outer(argv: list, cfg: dict, split: int) -> None:
    status = {"cgroups": {name: join_cgroup(path) for name, path in cfg.get("cgroups", {}).items()},
              "rlimits": set_limits(cfg.get("rlimits", {}))}
    if not cfg.get("bwrap"):
        return inner(argv, cfg, split, status, unisolated=True)
    fd = None
    if cfg.get("seccomp_bpf"):
        fd = os.open(cfg["seccomp_bpf"], os.O_RDONLY)  # opened before dropping privileges; bwrap reads the fd
        os.set_inheritable(fd, True)
    share_with_sandbox_user(cfg)
    status["host_view"] = expose_to_sandbox_user(cfg)
    outside = drop_to_sandbox_user(cfg)
    status["bubblewrap"] = (f"enforced (user, pid, mount, ipc, uts, network namespaces; uid {INNER_ID} inside, "
                            f"{outside} outside)")
    status["namespaces"] = status["bubblewrap"]
    status["seccomp"] = (f"enforced (libseccomp allow-list, {cfg.get('seccomp_rules', '?')} rules, via bubblewrap)"
                         if fd is not None else "disabled")
    cfg_status = dict(cfg.get("status", {}), **status)
    me = [sys.executable, "-S", "-E", os.path.abspath(argv[0]), argv[1], "--inner", json.dumps(cfg_status), "--"]
    cmd = bwrap_argv(cfg, fd, me + argv[split + 1:])
    os.execv(cmd[0], cmd)


def inner(argv: list, cfg: dict, split: int, status: dict, unisolated: bool = False) -> None:
    if unisolated:
        bpf = None
        if cfg.get("seccomp_bpf"):
            with open(cfg["seccomp_bpf"], "rb") as f:  # before Landlock closes the host dir
                bpf = f.read()
        status["bubblewrap"] = "disabled (QLWORK_SANDBOX_ALLOW_UNISOLATED)"
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
    if unisolated:
        status["seccomp"] = _sandbox_seccomp.install(bpf) if bpf else "disabled"
        status.update(cfg.get("status", {}))
    env = dict(os.environ)
    if not unisolated:  # in the pid namespace the parent is pid 1: ipykernel would take that as its parent gone
        env.pop("JPY_PARENT_PID", None)  # (--die-with-parent ends the sandbox with its parent instead)
    env["QLWORK_SANDBOX_STATUS"] = json.dumps(status)
    cmd = argv[split + 1:]
    os.execve(cmd[0], cmd, env)


def main(argv: list) -> None:
    split = argv.index("--")
    with open(argv[1]) as f:
        cfg = json.load(f)
    if len(argv) > 2 and argv[2] == "--inner":
        inner(argv, cfg, split, json.loads(argv[3]))
    else:
        outer(argv, cfg, split)


if __name__ == "__main__":
    main(sys.argv)
