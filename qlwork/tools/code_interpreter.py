"""code_interpreter: Python in a sandboxed Jupyter kernel per thread (state persists within a thread).

Each thread gets its own kernel (jupyter_client, ``transport="ipc"`` in a private directory) with a
per-thread working directory, started through the sandbox launcher (see :mod:`qlwork.tools.sandbox`
and docs/sandbox.md). A call returns stdout/stderr, the last value, the exception if any, and PNG
figures stored as file objects (referenced by ``file_id``). Calls time out (interrupt, then restart);
idle kernels are shut down; all kernels stop at process exit; at most ``max_kernels`` run at once.
"""

from __future__ import annotations

import atexit
import base64
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from queue import Empty
from typing import Callable

import zmq
from jupyter_client import KernelManager

from ..errors import InputError
from . import sandbox, sandbox_host
from .files import created_file, readable_file, store_of
from .registry import ToolContext, tool

BOOTSTRAP = (Path(__file__).resolve().parent / "_kernel_bootstrap.py").read_text()
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_KERNEL_MARK = re.compile(r"\n\.\.\. \[truncated: (\d+) more characters\]\n?$")
MAX_MESSAGE_BYTES = 16 * 1024 ** 2  # host zmq sockets refuse (disconnect) larger kernel messages unread
SIGNAL_NAMES = {9: "SIGKILL (memory or CPU hard limit)", 24: "SIGXCPU (CPU time limit exceeded)", 6: "SIGABRT"}


class _SandboxedKernelManager(KernelManager):
    """A KernelManager whose kernel command runs through the sandbox launcher."""

    launcher_config: str = ""

    def format_kernel_cmd(self, extra_arguments=None):
        return [sys.executable, "-S", "-E", str(sandbox.LAUNCHER), self.launcher_config, "--", sys.executable, "-m",
                "ipykernel_launcher", "-f", self.connection_file, "--HistoryManager.enabled=False",
                *(extra_arguments or [])]


class Kernel:
    """One sandboxed kernel with its directories; not thread-safe on its own (use ``lock``)."""

    def __init__(self, key: str, limits: sandbox.SandboxLimits, env: dict | None = None) -> None:
        self.key, self.limits, self.extra_env = key, limits, dict(env or {})
        self.base = Path(tempfile.mkdtemp(prefix=sandbox_host.TEMP_PREFIX))
        # host_dir (launcher.json, connection file, kernel.log) is not writable by the kernel; run_dir
        # (ipc sockets, matplotlib / IPython caches) and work_dir are.
        self.host_dir, self.run_dir, self.work_dir = self.base / "host", self.base / "run", self.base / "work"
        self.log_path = self.host_dir / "kernel.log"
        for d in (self.host_dir, self.run_dir, self.work_dir):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        sandbox_host.write_owner(self.host_dir, None, None)
        self.quota = sandbox_host.mount_quota(self.work_dir, limits.disk_bytes)
        sandbox_host.mount_quota(self.run_dir, sandbox_host.RUN_DIR_BYTES)  # sockets and caches: small
        self.lock = threading.Lock()
        self.last_used = time.monotonic()
        self.loaded_files: set[str] = set()
        self.km: _SandboxedKernelManager | None = None
        self.client = None
        self.cgroups: sandbox_host.KernelCgroups | None = None
        self.context: zmq.Context | None = None
        self.restarts = 0
        self.pid, self.keep = None, set()  # the kernel process; it and bubblewrap's two (kill_strays spares them)
        try:
            self.start()
        except BaseException:
            self.close()  # no kernel, mount, cgroup or temp dir left behind
            raise

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self.cgroups = sandbox_host.KernelCgroups.create(self.limits.max_processes, self.limits.memory_bytes)
        sandbox_host.write_owner(self.host_dir, self.cgroups, None)  # a sweep finds them if the host dies now
        # the host's sockets refuse oversized kernel messages before they reach host memory
        self.context = zmq.Context()
        self.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        km = _SandboxedKernelManager(transport="ipc", ip=str(self.run_dir / "k"), context=self.context,
                                     connection_file=str(self.host_dir / "kernel.json"))
        status = {"disk_quota": self.quota, "memory_cgroup": "enforced" if self.cgroups.has_memory_limit()
                  else "unavailable (RLIMIT_AS per process only)"}
        km.launcher_config = str(sandbox.launcher_config(self.host_dir, self.run_dir, self.work_dir, self.limits,
                                                         self.cgroups.launcher_paths(), read_files=(km.connection_file,),
                                                         status=status))
        log = sandbox.open_append_nofollow(self.log_path)
        try:
            km.start_kernel(env=sandbox.scrubbed_env(self.run_dir, self.work_dir, self.extra_env),
                            cwd=str(self.work_dir), stdout=log, stderr=log)
        finally:
            log.close()
        self.km, self.client = km, km.client(context=self.context)
        sandbox_host.write_owner(self.host_dir, self.cgroups, km.provisioner.pid)
        self.client.start_channels()
        try:
            self.client.wait_for_ready(timeout=self.limits.startup_timeout)
            self.pid, self.keep = sandbox_host.sandboxed_pid(km.provisioner.pid)
            boot = self._run(BOOTSTRAP.replace("OUTPUT_CHARS = 20_000", f"OUTPUT_CHARS = {self.limits.output_chars}"),
                             self.limits.startup_timeout, silent=True)
        except RuntimeError as exc:
            self.stop()
            raise InputError(f"The code sandbox could not start: {exc}. {self.log_tail()}",
                             code="sandbox_unavailable") from None
        if boot.get("exception"):
            self.stop()
            raise InputError(f"The code sandbox failed to initialise: {boot['exception']}", code="sandbox_unavailable")

    def log_tail(self, chars: int = 1500) -> str:
        return sandbox.read_tail_nofollow(self.log_path, chars)

    def stop(self) -> None:
        """Shut the kernel down at once and kill anything left in its cgroup / process group."""
        if self.km is not None:
            sandbox_host.resume(self.pid)
            sandbox_host.kill_strays(self.pid, self.cgroups, self.keep)
        if self.client is not None:
            self.client.stop_channels()
        if self.km is not None:
            try:
                self.km.shutdown_kernel(now=True)
            except Exception:  # noqa: BLE001 - already dead
                pass
            self.km.cleanup_resources()
        if self.cgroups is not None:
            self.cgroups.kill(remove=True)
        if self.context is not None:
            self.context.destroy(linger=0)
        self.km = self.client = self.context = None

    def restart(self) -> None:
        self.stop()
        self.restarts += 1
        self.loaded_files.clear()
        self.start()

    def close(self) -> None:
        self.stop()
        sandbox_host.remove_kernel_dir(self.base)

    def alive(self) -> bool:
        return self.km is not None and self.km.is_alive()

    def exit_reason(self) -> str:
        proc = getattr(self.km.provisioner, "process", None) if self.km else None
        code = proc.poll() if proc is not None else None
        if code is None:
            return "the kernel stopped responding"
        code = -(code - 128) if code > 128 and self.keep else code  # bubblewrap exits 128 + the kernel's signal
        return f"the kernel was killed by {SIGNAL_NAMES.get(-code, f'signal {-code}')}" if code < 0 \
            else f"the kernel exited with status {code}"

    # -- execution -----------------------------------------------------------------------------
    def execute(self, code: str, timeout: float | None = None, cpu_seconds: int | None = None,
                save_image: Callable[[bytes, str], dict] | None = None) -> dict:
        """Run ``code``; returns status (ok | error | timeout | killed), output and notes."""
        if not self.alive():
            self.restart()
        sandbox_host.resume(self.pid)  # stopped since the last call returned
        cpu = cpu_seconds or self.limits.cpu_seconds
        with sandbox_host.cpu_watch(self.pid, None if sandbox.arm_cpu_limit(self.pid, cpu) else cpu):
            out = self._run(code, timeout or self.limits.timeout_seconds, save_image=save_image)
        if self.alive():  # nothing the call started runs after it: the kernel stops, its processes die
            sandbox_host.pause(self.pid)
            strays = sandbox_host.kill_strays(self.pid, self.cgroups, self.keep)
            if strays:
                out["notes"].append(f"Stopped {len(strays)} process(es) this call left running; only the kernel "
                                    "persists between calls.")
        self.last_used = time.monotonic()
        return out

    def _run(self, code: str, timeout: float, silent: bool = False, save_image=None) -> dict:
        kc, cap = self.client, self.limits.output_chars
        msg_id = kc.execute(code, silent=silent, store_history=not silent, allow_stdin=False)
        out: dict = {"status": "ok", "stdout": "", "stderr": "", "result": None, "images": [], "notes": []}
        deadline = time.monotonic() + timeout
        interrupted_at = None
        while True:
            now = time.monotonic()
            if interrupted_at is None and now > deadline:
                out["status"] = "timeout"
                out["notes"].append(f"Stopped after the {timeout:g} s time limit.")
                sandbox_host.signal_pid(self.pid, 2)  # SIGINT to the kernel itself, never to bubblewrap
                interrupted_at = now
            elif interrupted_at is not None and now > interrupted_at + self.limits.interrupt_grace_seconds:
                out["notes"].append("The kernel ignored the interrupt, so it was restarted: variables from "
                                    "earlier calls in this thread are gone (files in the working directory remain).")
                self.restart()
                out["kernel_restarted"] = True
                return _finish(out, cap)
            try:
                msg = kc.get_iopub_msg(timeout=0.2)
            except Empty:
                if not self.alive():
                    out["status"] = "killed"
                    reason = self.exit_reason()
                    out["notes"].append(f"{reason[0].upper()}{reason[1:]}; it was restarted and earlier "
                                        "variables are gone.")
                    self.restart()
                    out["kernel_restarted"] = True
                    return _finish(out, cap)
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                key = "stdout" if content.get("name") == "stdout" else "stderr"
                if len(out[key]) <= cap:
                    out[key] += content.get("text", "")
            elif kind in ("execute_result", "display_data"):
                data = content.get("data", {})
                if "image/png" in data:
                    self._image(out, data["image/png"], save_image)
                elif kind == "execute_result" and "text/plain" in data:
                    out["result"] = data["text/plain"]
                elif "text/plain" in data and len(out["stdout"]) <= cap:
                    out["stdout"] += data["text/plain"] + "\n"
            elif kind == "error":
                if out["status"] != "timeout":
                    out["status"] = "error"
                tb = _ANSI.sub("", "\n".join(content.get("traceback", [])))
                out["exception"] = {"ename": content.get("ename"), "evalue": _ANSI.sub("", content.get("evalue", "")),
                                    "traceback": tb[-4000:]}
            elif kind == "status" and content.get("execution_state") == "idle":
                return _finish(out, cap)

    def _image(self, out: dict, b64: str, save_image) -> None:
        if len(out["images"]) >= self.limits.max_images:
            out["notes"].append(f"More than {self.limits.max_images} images; the rest were dropped.")
            return
        name = f"figure_{len(out['images']) + 1}.png"
        raw = base64.b64decode(b64)
        out["images"].append(save_image(raw, name) if save_image else {"filename": name, "bytes": len(raw)})


def _finish(out: dict, cap: int) -> dict:
    for key in ("stdout", "stderr", "result"):
        text = out.get(key)
        mark = _KERNEL_MARK.search(text) if text else None
        dropped = int(mark[1]) if mark else 0  # the kernel already dropped this much before sending
        if mark:
            text = text[:mark.start()]
        if text and len(text) + dropped > cap:
            out[key] = text[:cap] + f"\n... [truncated: {max(0, len(text) - cap) + dropped} more characters]"
            out["truncated"] = True
    out["notes"] = list(dict.fromkeys(out["notes"]))
    return out


class KernelPool:
    """Kernels keyed by thread id, with a concurrency limit, idle shutdown and shutdown at exit."""

    def __init__(self, limits: sandbox.SandboxLimits | None = None) -> None:
        self.limits = limits or sandbox.SandboxLimits.from_env()
        self._kernels: dict[str, Kernel] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._reaper: threading.Thread | None = None
        atexit.register(self.shutdown)
        _sweep_once()

    def kernel(self, key: str, env: dict | None = None) -> Kernel:
        """The kernel for ``key``, starting one (and evicting the least recently used idle one) if needed."""
        self.reap_idle()
        with self._lock:
            if key in self._kernels:
                return self._kernels[key]
            if len(self._kernels) >= self.limits.max_kernels:
                idle = [k for k in self._kernels.values() if not k.lock.locked()]
                if not idle:
                    raise InputError(f"All {self.limits.max_kernels} code sandboxes are busy.",
                                     fix="Try again when a running calculation has finished.",
                                     code="too_many_kernels")
                victim = min(idle, key=lambda k: k.last_used)
                del self._kernels[victim.key]
                victim.close()
            self._kernels[key] = kernel = Kernel(key, self.limits, env)
            self._start_reaper()
            return kernel

    def execute(self, key: str, code: str, env: dict | None = None, **kw) -> dict:
        k = self.kernel(key, env)
        with k.lock:
            result = k.execute(code, **kw)
            result["working_directory"] = str(k.work_dir)
            return result

    def interrupt(self, key: str) -> bool:
        """Interrupt the cell running in ``key``'s kernel (a chat's Stop); False when none is running."""
        with self._lock:
            k = self._kernels.get(key)
        if k is None or not k.lock.locked():
            return False
        sandbox_host.signal_pid(k.pid, 2)  # SIGINT
        return True

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._kernels)

    def reap_idle(self, now: float | None = None) -> list[str]:
        """Shut down kernels idle for longer than ``limits.idle_seconds``; returns their keys."""
        now = time.monotonic() if now is None else now
        with self._lock:
            stale = [k for k in self._kernels.values()
                     if now - k.last_used > self.limits.idle_seconds and not k.lock.locked()]
            for k in stale:
                del self._kernels[k.key]
        for k in stale:
            k.close()
        return [k.key for k in stale]

    def _start_reaper(self) -> None:
        if self._reaper is None or not self._reaper.is_alive():
            self._reaper = threading.Thread(target=self._reap_loop, name="qlwork-kernel-reaper", daemon=True)
            self._reaper.start()

    def _reap_loop(self) -> None:
        while not self._closed.wait(max(0.5, min(30.0, self.limits.idle_seconds / 2))):
            self.reap_idle()

    def shutdown(self, key: str | None = None) -> None:
        """Stop one thread's kernel, or all of them (also runs at interpreter exit)."""
        with self._lock:
            victims = [self._kernels.pop(key)] if key in self._kernels else [] if key else list(self._kernels.values())
            if key is None:
                self._kernels.clear()
                self._closed.set()
        for k in victims:
            k.close()


_SWEPT = threading.Event()


def _sweep_once() -> None:
    """At the first pool of this process: remove what hosts killed without cleanup left behind."""
    if not _SWEPT.is_set():
        _SWEPT.set()
        sandbox_host.sweep_stale()


_POOL: KernelPool | None = None
_POOL_LOCK = threading.Lock()


def default_pool() -> KernelPool:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._closed.is_set():
            _POOL = KernelPool()
        return _POOL


def _provider_env(ctx: ToolContext) -> dict:
    market = ctx.market
    name = "demo" if market is None or "demo" in type(market).__module__ else getattr(market, "name", "external")
    return {"QLWORK_SANDBOX_PROVIDER": name, "QLWORK_SANDBOX_AS_OF": str(ctx.as_of) if ctx.as_of else None}


def _load_files(ctx: ToolContext, kernel: Kernel, file_ids: list[str], attached: set[str]) -> list[dict]:
    """Copy files into the kernel's working directory. Ids the model names itself must be readable
    in this context; the thread's attachments were checked when their message was stored."""
    fs = store_of(ctx)
    loaded = []
    for fid in file_ids:
        obj = fs.get(fid) if fid in attached else readable_file(ctx, fid)
        if fid not in kernel.loaded_files:
            # the kernel can plant a symlink (or directory) under this name: never follow it
            sandbox.write_file_nofollow(kernel.work_dir, obj.filename, source=fs.path(fid))
            kernel.loaded_files.add(fid)
        loaded.append({"file_id": fid, "filename": obj.filename, "kind": obj.kind})
    return loaded


@tool(name="code_interpreter")
def code_interpreter(ctx: ToolContext, code: str, file_ids: list[str] | None = None) -> dict:
    """Run Python in this thread's sandboxed Jupyter kernel (variables persist between calls). pandas as pd,
    numpy as np, matplotlib.pyplot as plt, get_historical_prices(symbol), get_close_prices(symbols, days)
    and read_file(name) are preloaded; attached files are in the working directory; no network.

    Args:
        code: Python source to execute; the value of the last line is returned, figures become images.
        file_ids: Extra uploaded files to copy into the working directory (attachments are copied already).
    """
    pool = ctx.extra.get("kernel_pool") if ctx.extra else None
    pool = pool if isinstance(pool, KernelPool) else default_pool()
    key = ctx.thread_id or "default"
    attached = [a["file_id"] for a in (ctx.extra or {}).get("attachments", []) if "code_interpreter" in a.get("tools", [])]
    fs = store_of(ctx)
    kernel = pool.kernel(key, _provider_env(ctx))
    trusted = set(attached)
    files = _load_files(ctx, kernel, list(dict.fromkeys(file_ids or [])), trusted)
    others = _load_files(ctx, kernel, [i for i in dict.fromkeys(attached) if i not in (file_ids or [])], trusted)

    def save_image(raw: bytes, name: str) -> dict:
        obj = created_file(ctx, fs.create(raw, name, purpose="assistants_output"))
        return {"type": "image", "file_id": obj.id, "filename": obj.filename, "bytes": obj.bytes}

    result = pool.execute(key, code, save_image=save_image)
    result.pop("working_directory", None)
    result["files"] = files  # the files this call asked for (cite these)
    result["other_files_in_directory"] = others
    return result
