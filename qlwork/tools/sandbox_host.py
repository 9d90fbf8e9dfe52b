"""Host-side resources of a code_interpreter kernel: its cgroups, its work-dir quota, killing the processes
a call leaves behind, and sweeping what a killed host left behind (see docs/sandbox.md).

Cgroup names are random (``qlwork-<hex>``): they reveal neither the thread nor the kernel's directories.
Each kernel's temp dir holds ``host/owner.json`` (host pid + start time, cgroups, kernel pid), which is
how a later host recognises the leftovers of one that died.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
TEMP_PREFIX = "qlwork-ci-"
RUN_DIR_BYTES = 64 * 1024 ** 2  # the kernel's other writable dir (ipc sockets, IPython / matplotlib caches)
_libc = ctypes.CDLL(None, use_errno=True)


# -- cgroups -------------------------------------------------------------------------------------

def _own_cgroups() -> dict[str, str]:
    """{controller: path of this process's cgroup} (v1 per controller; v2 under the key '')."""
    found = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        _, ctrls, path = line.split(":", 2)
        for c in ctrls.split(",") if ctrls else [""]:
            found[c] = path
    return found


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


class KernelCgroups:
    """One kernel's cgroups: pids (task cap) and memory (total memory of the kernel and its children)."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths

    @classmethod
    def create(cls, max_pids: int, memory_bytes: int) -> "KernelCgroups":
        name = f"qlwork-{secrets.token_hex(8)}"
        own, paths = _own_cgroups(), {}
        if (CGROUP_ROOT / "cgroup.controllers").exists():  # cgroup v2 only
            base = CGROUP_ROOT / own.get("", "/").lstrip("/")
            if _writable(base):
                paths["v2"] = base / name
        else:
            for ctrl in ("pids", "memory"):
                base = CGROUP_ROOT / ctrl / own.get(ctrl, "/").lstrip("/")
                if ctrl in own and _writable(base):
                    paths[ctrl] = base / name
        settings = {"pids": {"pids.max": max_pids},
                    "memory": {"memory.limit_in_bytes": memory_bytes, "memory.memsw.limit_in_bytes": memory_bytes},
                    "v2": {"pids.max": max_pids, "memory.max": memory_bytes, "memory.swap.max": 0}}
        made = {}
        for ctrl, path in paths.items():
            try:
                path.mkdir()
            except OSError:
                continue
            made[ctrl] = path
            for key, value in settings[ctrl].items():
                try:
                    (path / key).write_text(str(value))
                except OSError:
                    pass  # memsw / swap files are absent without swap accounting
            limit_file = {"pids": "pids.max", "memory": "memory.limit_in_bytes", "v2": "memory.max"}[ctrl]
            if ctrl == "v2" and not (path / limit_file).exists():
                made.pop(ctrl)
                _rmdir(path)
        return cls(made)

    def launcher_paths(self) -> dict[str, str]:
        return {ctrl: str(path) for ctrl, path in self.paths.items()}

    def has_memory_limit(self) -> bool:
        return "memory" in self.paths or "v2" in self.paths

    def procs(self) -> set[int]:
        pids: set[int] = set()
        for path in self.paths.values():
            try:
                pids.update(int(p) for p in (path / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return pids

    def peak_memory(self) -> int | None:
        for ctrl, key in (("memory", "memory.max_usage_in_bytes"), ("v2", "memory.peak")):
            if ctrl in self.paths:
                try:
                    return int((self.paths[ctrl] / key).read_text())
                except (OSError, ValueError):
                    return None
        return None

    def kill(self, keep: set[int] | int | None = None, remove: bool = False) -> list[int]:
        """SIGKILL every process in these cgroups except ``keep``; returns the pids killed."""
        killed: list[int] = []
        keep = {keep} if isinstance(keep, int) else set(keep or ())
        for _ in range(100):
            pids = self.procs() - keep
            if not pids:
                break
            for pid in pids:
                _kill(pid)
            killed.extend(p for p in pids if p not in killed)
            time.sleep(0.02)
        if remove:
            for path in self.paths.values():
                _rmdir(path)
        return killed


def _rmdir(path: Path) -> None:
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)  # tasks still exiting


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def descendants(pid: int) -> set[int]:
    """Every live process whose parent chain leads to ``pid`` or that shares its session/process group
    (a ``setsid`` child whose parent exited is out of reach: the cgroup covers that case)."""
    parent: dict[int, int] = {}
    group: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parent[int(entry)] = int(fields[1])
        if pid in (int(fields[2]), int(fields[3])):
            group.add(int(entry))
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier and p not in found}
        found |= frontier
    return (found | group) - {pid}


def kill_strays(kernel_pid: int | None, cgroups: KernelCgroups | None, keep: set[int] = frozenset()) -> list[int]:
    """Kill what the last call left running: everything in the kernel's cgroups but ``keep`` (bubblewrap)
    and the kernel, or (without cgroups) its descendants, process group and session."""
    if kernel_pid is None:
        return []
    if cgroups is not None and cgroups.paths:
        return cgroups.kill(keep={kernel_pid, *keep})
    strays = descendants(kernel_pid)
    for pid in strays:
        _kill(pid)
    return sorted(strays)


def sandboxed_pid(launcher_pid: int) -> tuple[int, set[int]]:
    """(pid of the sandboxed command, the pids from the launcher down to it): under bubblewrap the
    launcher's pid runs bubblewrap, whose child (the namespace's init) runs the command."""
    chain, pid = [launcher_pid], launcher_pid
    for _ in range(3):
        if _comm(pid) != "bwrap":
            break
        children = [p for p, pp in _parents().items() if pp == pid]
        if len(children) != 1:
            break
        pid = children[0]
        chain.append(pid)
    return pid, set(chain)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _parents() -> dict[int, int]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                found[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return found


def signal_pid(pid: int | None, signum: int) -> None:
    if pid:
        try:
            os.kill(pid, signum)
        except OSError:
            pass


def pause(pid: int | None) -> None:
    """Stop the kernel between calls (all its threads): nothing it started keeps using the CPU."""
    signal_pid(pid, signal.SIGSTOP)


def resume(pid: int | None) -> None:
    signal_pid(pid, signal.SIGCONT)


@contextlib.contextmanager
def cpu_watch(pid: int | None, seconds: float | None, every: float = 0.1):
    """Enforce ``seconds`` more CPU time on ``pid`` from the host while the block runs: SIGXCPU when
    they are used, SIGKILL 5 CPU seconds later (RLIMIT_CPU's contract). For when the host may not set
    the kernel's rlimit (as root without CAP_SYS_RESOURCE on a kernel of another uid); None: no watch."""
    if not pid or seconds is None:
        yield
        return
    from .sandbox import cpu_seconds_used

    limit, done = cpu_seconds_used(pid) + seconds, threading.Event()

    def watch() -> None:
        sent = False
        while not done.wait(every):
            used = cpu_seconds_used(pid)
            if used >= limit + 5:
                signal_pid(pid, signal.SIGKILL)
                return
            if used >= limit and not sent:
                signal_pid(pid, signal.SIGXCPU)
                sent = True

    watcher = threading.Thread(target=watch, name="qlwork-cpu-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


# -- work-dir quota ------------------------------------------------------------------------------

def mount_quota(work_dir: Path, size_bytes: int) -> str:
    """Mount a tmpfs of ``size_bytes`` on ``work_dir`` (a total quota for the kernel's files; its pages are
    memory, charged to the writer's memory cgroup). Needs CAP_SYS_ADMIN: as another user -> 'unavailable'."""
    opts = f"size={int(size_bytes)},mode=0700,uid={os.getuid()},gid={os.getgid()}".encode()
    flags = 0x2 | 0x4 | 0x8  # MS_NOSUID | MS_NODEV | MS_NOEXEC
    if _libc.mount(b"tmpfs", str(work_dir).encode(), b"tmpfs", flags, opts) != 0:
        return f"unavailable ({os.strerror(ctypes.get_errno())})"
    return f"enforced ({size_bytes} bytes, tmpfs)"


def unmount(path: Path) -> None:
    if os.path.ismount(path):
        _libc.umount2(str(path).encode(), 2)  # MNT_DETACH


def remove_kernel_dir(base: Path) -> None:
    unmount(base / "work")
    unmount(base / "run")
    shutil.rmtree(base, ignore_errors=True)


# -- ownership records and the stale sweep -------------------------------------------------------

def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _in_use(base: Path) -> bool:
    """Whether a running process names ``base`` on its command line (a kernel started from it)."""
    needle = str(base).encode()
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and needle in Path(f"/proc/{entry}/cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


def write_owner(host_dir: Path, cgroups: KernelCgroups | None, kernel_pid: int | None) -> None:
    record = {"pid": os.getpid(), "start": _start_time(os.getpid()), "kernel_pid": kernel_pid,
              "kernel_start": _start_time(kernel_pid) if kernel_pid else None,
              "cgroups": [str(p) for p in (cgroups.paths.values() if cgroups else [])]}
    tmp = host_dir / "owner.json.tmp"
    tmp.write_text(json.dumps(record))
    tmp.replace(host_dir / "owner.json")


def sweep_stale(temp_root: Path | None = None) -> list[str]:
    """Remove the kernels, cgroups and temp dirs of qlwork hosts that are gone (killed without cleanup).

    A kernel dir belongs to a live host while the pid in its owner record runs with the same start time;
    anything else owned by this user is swept: its kernel (if the pid still runs that kernel) and every
    process in its cgroups are killed, the cgroups and the work-dir mount removed, the dir deleted."""
    root = Path(temp_root or tempfile.gettempdir())
    swept = []
    for base in root.glob(f"{TEMP_PREFIX}*"):
        try:
            if base.is_symlink() or not base.is_dir() or base.stat().st_uid != os.getuid():
                continue
            record = json.loads((base / "host" / "owner.json").read_text())
        except (OSError, ValueError):
            record = None
        if record is None:  # no owner record: being set up now, or made by an older qlwork
            if time.time() - base.stat().st_mtime < 300 or _in_use(base):
                continue
            record = {}
        if record.get("pid") and _start_time(record["pid"]) == record.get("start"):
            continue
        pid = record.get("kernel_pid")
        if pid and record.get("kernel_start") and _start_time(pid) == record["kernel_start"]:
            _kill(pid)
        groups = KernelCgroups({str(i): Path(p) for i, p in enumerate(record.get("cgroups", []))
                                if Path(p).name.startswith("qlwork-") and str(p).startswith(str(CGROUP_ROOT))})
        groups.kill(remove=True)
        remove_kernel_dir(base)
        swept.append(str(base))
    return swept + _sweep_empty_cgroups()


def _sweep_empty_cgroups(min_age: float = 300.0) -> list[str]:
    """qlwork cgroups with no process left for ``min_age`` seconds (a live kernel is always in its own)."""
    own, removed = _own_cgroups(), []
    parents = [CGROUP_ROOT / own.get("", "/").lstrip("/")] if (CGROUP_ROOT / "cgroup.controllers").exists() else \
        [CGROUP_ROOT / c / own[c].lstrip("/") for c in ("pids", "memory") if c in own]
    for parent in parents:
        for path in parent.glob("qlwork-*"):
            try:
                if (path / "cgroup.procs").read_text().strip() or time.time() - path.stat().st_mtime < min_age:
                    continue
                path.rmdir()
                removed.append(str(path))
            except OSError:
                continue
    return removed
