"""Sandbox settings for code_interpreter kernels: limits, scrubbed environment, filesystem rules.

The kernel process is started through ``_sandbox_launch.py`` which applies these settings before it
becomes the kernel (see docs/sandbox.md for the threat model and what each layer enforces).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import site
import stat
import subprocess
import sys
import sysconfig
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InputError

LAUNCHER = Path(__file__).resolve().parent / "_sandbox_launch.py"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
SYSTEM_READ = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"]
# of /dev only these (no /dev/kmsg, disks, loop devices, ...); /sys not at all
DEV_FILES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]
# not all of /proc: other processes' /proc/<pid>/environ would show the host's API keys. The launcher
# adds /proc/<its own pid> (the kernel keeps that pid), which is what /proc/self resolves to.
PROC_READ = ["/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/loadavg", "/proc/uptime", "/proc/version",
             "/proc/filesystems", "/proc/sys"]
ETC_READ = ["/etc/ld.so.cache", "/etc/localtime", "/etc/fonts", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
            "/etc/mime.types", "/etc/timezone", "/etc/os-release", "/etc/ssl/certs", "/etc/matplotlibrc"]


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


@dataclass
class SandboxLimits:
    """Per-kernel limits (environment overrides: ``QLWORK_CI_<FIELD>`` in upper case)."""

    timeout_seconds: float = 60.0      # wall clock per call, then interrupt (and restart if stuck)
    interrupt_grace_seconds: float = 3.0
    cpu_seconds: int = 60              # CPU time per call (RLIMIT_CPU re-armed before each call)
    memory_bytes: int = 2 * 1024 ** 3  # memory cgroup (kernel + children) and RLIMIT_AS of each process
    max_processes: int = 128           # pids cgroup (tasks incl. threads) and RLIMIT_NPROC
    disk_bytes: int = 512 * 1024 ** 2  # total size of the working directory (tmpfs quota, root only)
    file_size_bytes: int = 200 * 1024 ** 2
    open_files: int = 1024
    output_chars: int = 20_000         # stdout/stderr/result text returned per call
    max_images: int = 8
    max_kernels: int = 4
    idle_seconds: float = 600.0        # idle kernels are shut down after this
    isolate_network: bool = True      # user + network namespace
    landlock: bool = True
    seccomp: bool = True
    startup_timeout: float = 60.0

    @classmethod
    def from_env(cls, **overrides) -> "SandboxLimits":
        values = {}
        for name, default in asdict(cls()).items():
            raw = os.environ.get(f"QLWORK_CI_{name.upper()}")
            if raw is not None:
                values[name] = (raw.lower() in ("1", "true", "yes")) if isinstance(default, bool) else type(default)(float(raw))
        return cls(**{**values, **overrides})


def scrubbed_env(run_dir: Path, work_dir: Path, extra: dict | None = None) -> dict:
    """The kernel's whole environment: an allow-list, so no API key or broker token is inherited."""
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": str(work_dir), "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8", "TZ": "Asia/Kolkata", "TMPDIR": str(work_dir / ".tmp"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline", "MPLCONFIGDIR": str(run_dir / "mpl"),
        "IPYTHONDIR": str(run_dir / "ipython"), "JUPYTER_RUNTIME_DIR": str(run_dir),
        "JUPYTER_DATA_DIR": str(run_dir / "jupyter"), "JUPYTER_CONFIG_DIR": str(run_dir / "jupyter"),
        "NUMBA_CACHE_DIR": str(run_dir / "numba"), "QLWORK_HOME": str(run_dir / "home"),
        "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1", "MALLOC_ARENA_MAX": "2",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_MAX_THREADS": "1",
        "QLWORK_SANDBOX": "1", "QLWORK_SANDBOX_PACKAGE": str(PACKAGE_DIR),
    }
    for name in ("TZ", "LANG"):
        env.setdefault(name, os.environ.get(name, ""))
    env.update({k: str(v) for k, v in (extra or {}).items() if v is not None})
    return env


def read_paths() -> list[str]:
    """Paths the kernel may read (and execute): the OS libraries, Python, site-packages, qlwork."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(sys.executable).resolve().parent.parent),
             str(PACKAGE_DIR), *site.getsitepackages(), sysconfig.get_paths()["stdlib"]}
    paths.update(p for p in SYSTEM_READ + ETC_READ + PROC_READ if os.path.exists(p))
    return sorted(p for p in paths if p and os.path.exists(p))


def launcher_config(host_dir: Path, run_dir: Path, work_dir: Path, limits: SandboxLimits, cgroups: dict,
                    read_files: tuple = (), status: dict | None = None) -> Path:
    """Write a kernel's launcher config (and the seccomp BPF program) into ``host_dir``; returns its path.

    ``host_dir`` (this config, the connection file, kernel.log) is not among the kernel's writable
    paths, so the kernel cannot swap these files for symlinks; ``read_files`` (the connection file)
    are bound read-only. Raises InputError ``sandbox_unavailable`` when bubblewrap cannot isolate the
    kernel and ``QLWORK_SANDBOX_ALLOW_UNISOLATED`` is not set (see :func:`isolation`)."""
    rlimits = {"memory_bytes": limits.memory_bytes, "cpu_seconds": limits.cpu_seconds + 30,
               "max_processes": _nproc_limit(limits.max_processes), "file_size_bytes": limits.file_size_bytes,
               "open_files": limits.open_files}
    return sandbox_config(host_dir, [run_dir, work_dir], rlimits, cgroups=cgroups, read_files=read_files,
                          status=status, landlock=limits.landlock, seccomp=limits.seccomp,
                          isolate=limits.isolate_network, make_dirs=[work_dir / ".tmp"])


def sandbox_config(host_dir: Path, write_dirs: list[Path], rlimits: dict, *, cgroups: dict | None = None,
                   read_files: tuple = (), status: dict | None = None, landlock: bool = True, seccomp: bool = True,
                   isolate: bool = True, make_dirs: tuple = ()) -> Path:
    """The launcher config of any sandboxed process (kernels, the parser): ``write_dirs`` are its only
    writable directories (the last is its working directory), everything else it sees is read-only."""
    bwrap = isolation()
    config_path = host_dir / "launcher.json"
    bpf = None
    if seccomp:
        from . import sandbox_seccomp

        bpf = str(write_file_nofollow(host_dir, "seccomp.bpf", sandbox_seccomp.bpf(), mode=0o600))
    outer = sandbox_uid() if os.getuid() == 0 else None
    reads = read_paths() + [str(p) for p in read_files]
    cfg = {
        "bwrap": bwrap, "seccomp_bpf": bpf, "outer_uid": outer, "outer_gid": outer, "cgroups": cgroups or {},
        "bind_read": [p for p in reads if not p.startswith("/proc")] + [str(config_path)],
        "give_files": [str(p) for p in read_files] + [str(config_path)],
        "cwd": str(write_dirs[-1]),
        "isolate": isolate, "landlock": landlock, "make_dirs": [str(d) for d in make_dirs], "status": status or {},
        "rlimits": rlimits, "read_paths": reads, "write_paths": [str(d) for d in write_dirs],
        "file_paths": [p for p in DEV_FILES if os.path.exists(p)],
    }
    if bpf is not None:
        from . import sandbox_seccomp

        cfg["seccomp_rules"] = sandbox_seccomp.rule_count()
    return write_file_nofollow(host_dir, "launcher.json", json.dumps(cfg).encode(), mode=0o640)


# -- which isolation this machine gives ---------------------------------------------------------

UNISOLATED_ENV = "QLWORK_SANDBOX_ALLOW_UNISOLATED"
SANDBOX_UID_ENV = "QLWORK_SANDBOX_UID"


def sandbox_uid() -> int:
    """The host uid/gid sandboxed processes run as when qlwork runs as root (default 65534, nobody)."""
    return int(os.environ.get(SANDBOX_UID_ENV, "") or 65534)


@functools.lru_cache(maxsize=1)
def bubblewrap_problem() -> str | None:
    """None when bubblewrap starts a process in new user, pid, mount, ipc, uts and network namespaces
    here (as the sandbox uid when root), else what is missing."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    ids = {"user": sandbox_uid(), "group": sandbox_uid(), "extra_groups": []} if os.getuid() == 0 else {}
    try:
        proc = subprocess.run([bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
                               "--", "/bin/true"], capture_output=True, timeout=30, **ids)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap could not run ({exc})"
    if proc.returncode != 0:
        return f"bubblewrap cannot create namespaces here ({proc.stderr.decode(errors='replace').strip()[:200]})"
    return None


def isolation() -> str | None:
    """The bubblewrap to launch through, or None with the documented override; InputError otherwise."""
    problem = bubblewrap_problem()
    if problem is None:
        return shutil.which("bwrap")
    if os.environ.get(UNISOLATED_ENV, "").strip().lower() in ("1", "true", "yes"):
        return None
    raise InputError(f"The code sandbox will not start without isolation: {problem}.",
                     fix=f"Install bubblewrap with user namespaces enabled, or set {UNISOLATED_ENV}=1 to run with "
                         "the weaker launcher (no pid or mount namespace; see docs/sandbox.md).",
                     code="sandbox_unavailable", layer="bubblewrap")


# -- host-side file access next to kernel-writable paths ----------------------------------------
# The kernel can create symlinks (and directories, FIFOs, ...) anywhere it can write. The host never
# follows a symlink there: it replaces the directory entry and opens with O_NOFOLLOW, relative to a
# directory fd, so a planted link cannot redirect a host write or read to a file outside the sandbox.

def check_entry_name(name: str) -> str:
    """``name`` if it is a single directory entry (no separator, not '.' or '..'), else InputError."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\0" in name:
        raise InputError(f"Refusing the unsafe file name {name!r} in the sandbox directory.",
                         code="unsafe_file_name")
    return name


def write_file_nofollow(directory: Path, name: str, data: bytes | None = None, source: Path | None = None,
                        mode: int = 0o644) -> Path:
    """Create ``directory/name`` afresh with ``data`` (or the bytes of ``source``), never following a symlink.

    An existing entry of that name (a symlink, FIFO, file, ...) is unlinked first; a directory is refused.
    The new file is created with O_CREAT | O_EXCL | O_NOFOLLOW, so an entry re-created in between fails
    instead of being followed."""
    check_entry_name(name)
    path = Path(directory) / name
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        try:
            if stat.S_ISDIR(os.lstat(name, dir_fd=dfd).st_mode):
                raise IsADirectoryError(name)
            os.unlink(name, dir_fd=dfd)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            raise InputError(f"Cannot copy {name} into the sandbox: a directory of that name is in the way.",
                             fix=f"Remove or rename the directory {name!r} in the working directory (e.g. with "
                                 "shutil.rmtree), then try again.", code="sandbox_path_in_use") from None
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                         dir_fd=dfd)
        except FileExistsError:
            raise InputError(f"Cannot copy {name} into the sandbox: the name was re-created while copying.",
                             fix="Do not create files of that name while it is being loaded; try again.",
                             code="sandbox_path_in_use") from None
    finally:
        os.close(dfd)
    with os.fdopen(fd, "wb") as out:
        if source is not None:
            with open(source, "rb") as src:
                shutil.copyfileobj(src, out)
        else:
            out.write(data or b"")
    return path


def open_append_nofollow(path: Path, mode: int = 0o600):
    """``path`` opened for appending (created if missing); a symlink or non-regular file is refused."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path} is not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "ab")


def read_tail_nofollow(path: Path, chars: int) -> str:
    """The last ``chars`` characters of a regular file, never following a symlink ('' if unreadable)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(fd)
        if not stat.S_ISREG(size.st_mode):
            return ""
        f.seek(max(0, size.st_size - 4 * chars))
        return f.read(4 * chars).decode("utf-8", errors="replace")[-chars:]


def _nproc_limit(n: int) -> int | None:
    """RLIMIT_NPROC counts every process of the user: add the user's current count (ignored for root)."""
    if os.getuid() == 0:
        return None  # root is exempt from RLIMIT_NPROC; the pids cgroup enforces the cap instead
    try:
        mine = sum(1 for d in os.listdir("/proc") if d.isdigit() and os.stat(f"/proc/{d}").st_uid == os.getuid())
    except OSError:
        mine = 0
    return mine + n


def cpu_seconds_used(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def arm_cpu_limit(pid: int, seconds: int) -> bool:
    """Allow the kernel ``seconds`` more CPU time from now (SIGXCPU, then SIGKILL 5 s later)."""
    import resource

    soft = int(cpu_seconds_used(pid)) + 1 + int(seconds)
    try:
        resource.prlimit(pid, resource.RLIMIT_CPU, (soft, soft + 5))
        return True
    except (OSError, ValueError, AttributeError):
        return False
