"""Sandbox settings for code_interpreter kernels: limits, scrubbed environment, filesystem rules, cgroups.

The kernel process is started through ``_sandbox_launch.py`` which applies these settings before it
becomes the kernel (see docs/sandbox.md for the threat model and what each layer enforces).
"""

from __future__ import annotations

import json
import os
import signal
import site
import sys
import sysconfig
import time
from dataclasses import asdict, dataclass
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parent / "_sandbox_launch.py"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
CGROUP_V1_PIDS = Path("/sys/fs/cgroup/pids")
SYSTEM_READ = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/sys", "/dev"]
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
    memory_bytes: int = 2 * 1024 ** 3  # RLIMIT_AS of the kernel and each child
    max_processes: int = 128           # pids cgroup (tasks incl. threads) and RLIMIT_NPROC
    file_size_bytes: int = 200 * 1024 ** 2
    open_files: int = 1024
    output_chars: int = 20_000         # stdout/stderr/result text returned per call
    max_images: int = 8
    max_kernels: int = 4
    idle_seconds: float = 600.0        # idle kernels are shut down after this
    isolate_network: bool = True
    landlock: bool = True
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
        "QLWORK_SANDBOX": "1",
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


def launcher_config(run_dir: Path, work_dir: Path, limits: SandboxLimits, cgroup: Path | None) -> Path:
    """Write the launcher's JSON config into ``run_dir`` and return its path."""
    cfg = {
        "cgroup": str(cgroup) if cgroup else None, "isolate_network": limits.isolate_network,
        "landlock": limits.landlock,
        "rlimits": {"memory_bytes": limits.memory_bytes, "cpu_seconds": limits.cpu_seconds + 30,
                    "max_processes": _nproc_limit(limits.max_processes), "file_size_bytes": limits.file_size_bytes,
                    "open_files": limits.open_files},
        "read_paths": read_paths(), "write_paths": [str(run_dir), str(work_dir)], "file_paths": ["/dev/null"],
    }
    path = run_dir / "launcher.json"
    path.write_text(json.dumps(cfg))
    return path


def _nproc_limit(n: int) -> int | None:
    """RLIMIT_NPROC counts every process of the user: add the user's current count (ignored for root)."""
    if os.getuid() == 0:
        return None  # root is exempt from RLIMIT_NPROC; the pids cgroup enforces the cap instead
    try:
        mine = sum(1 for d in os.listdir("/proc") if d.isdigit() and os.stat(f"/proc/{d}").st_uid == os.getuid())
    except OSError:
        mine = 0
    return mine + n


# -- pids cgroup ---------------------------------------------------------------------------------

def make_cgroup(name: str, max_pids: int) -> Path | None:
    """A pids cgroup (v1 hierarchy) capping tasks at ``max_pids``, or None where not permitted."""
    if not CGROUP_V1_PIDS.is_dir():
        return None
    path = CGROUP_V1_PIDS / name
    try:
        path.mkdir(exist_ok=True)
        (path / "pids.max").write_text(str(max_pids))
        return path
    except OSError:
        return None


def kill_cgroup(path: Path | None, remove: bool = True) -> None:
    """SIGKILL every process left in the cgroup (children that escaped the process group too)."""
    if path is None or not path.exists():
        return
    for _ in range(50):
        try:
            pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)
    if remove:
        try:
            path.rmdir()
        except OSError:
            pass


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
