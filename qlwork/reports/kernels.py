"""Kernels for a local batch: a batch-owned runtime folder, and warm kernels reused across users.

**Runtime folder.** Every kernel's IPC sockets and every job's scratch files live under one folder
per batch, ``<tmp>/qlwork-batch-<pid>-<random>/``, created by :class:`BatchRuntime` and removed when
the batch ends. The batch holds an exclusive ``flock`` on ``.lock`` inside it for its whole life, so a
folder whose lock can be taken belongs to a batch that died (killed, crashed machine): the next batch
removes such stale folders (and the ``qlwork-kernel-*`` folders older batches left) before it starts.

**Warm kernels.** Starting a kernel and importing the review stack costs more than a review itself, so
each local worker thread keeps one kernel and runs its users one after another in it. Nothing of one
user reaches the next: before every job :func:`reset_kernel` runs inside the kernel and

- clears the IPython namespace and output history (``%reset``) and collects garbage (what survives,
  modules and their data, is then frozen with ``gc.freeze`` so the next collection is quick);
- closes every :class:`qlwork.assistant.store.Store` left open (its SQLite connections);
- empties qlwork's in-process caches (``functools`` caches) except the pure, read-only market
  universe (:data:`SHARED_CACHES`, a function of the provider's seed, never of a user);
- restores the environment variables, working directory, ``sys.path`` and matplotlib rcParams
  captured when the kernel started;
- points ``tempfile`` (and ``TMPDIR``) at a new empty scratch folder for the job, and the previous
  job's scratch folder is deleted.

A kernel is replaced after any failed job (its state is unknown after an error or a timeout), after
:data:`MAX_USES` jobs, or when a job needs another environment or kernel. ``tests/test_reports.py``
proves the isolation: a second user's notebook in the same kernel process sees none of the first
one's variables, files, environment or store handles.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import InputError

BATCH_PREFIX = "qlwork-batch-"
LEGACY_PREFIX = "qlwork-kernel-"  # per-job folders of earlier versions (and of Dask jobs)
LEGACY_MAX_AGE_S = 24 * 3600
MAX_USES = 50
SHARED_CACHES = {"qlwork.market.demo._generate"}
"""``module.function`` caches kept across users: pure functions of non-user inputs."""


# -- runtime folder --------------------------------------------------------------------------------

def sweep_stale(root: str | os.PathLike | None = None) -> list[str]:
    """Remove runtime folders of batches that are no longer running; returns the removed paths."""
    base = Path(root or tempfile.gettempdir())
    removed = []
    for path in sorted(base.glob(BATCH_PREFIX + "*")):
        if path.is_dir() and not _locked(path / ".lock"):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    cutoff = time.time() - LEGACY_MAX_AGE_S
    for path in sorted(base.glob(LEGACY_PREFIX + "*")):
        try:
            old = path.is_dir() and path.stat().st_mtime < cutoff
        except OSError:
            continue
        if old:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    return removed


def _locked(lock: Path) -> bool:
    """Whether a live process holds ``lock`` (a folder without one is being created: leave it)."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        try:  # no lock file: a folder from a batch that died while creating it, or one starting now
            return time.time() - lock.parent.stat().st_mtime < 60
        except OSError:
            return True
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


class BatchRuntime:
    """The batch-owned runtime folder (a context manager): created locked, removed on exit."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = root
        self.path: Path | None = None
        self._fd: int | None = None
        self._count = 0

    def __enter__(self) -> BatchRuntime:
        sweep_stale(self.root)
        base = str(self.root or tempfile.gettempdir())
        if len(base) > 60:  # room for "/qlwork-batch-PID-XXXXXXXX/k1/k-N-shell" within 107 bytes
            raise InputError(f"The temporary folder {base} has too long a path for kernel sockets.",
                             fix="Set TMPDIR to a short path such as /tmp.")
        self.path = Path(tempfile.mkdtemp(prefix=f"{BATCH_PREFIX}{os.getpid()}-", dir=base))
        # lock the file before it is visible under its name: a sweep by another batch between create
        # and flock would find ".lock" unlocked and delete this folder (a folder without ".lock" is
        # young and left alone; rename keeps the inode, so the lock holds under the final name)
        pending = self.path / ".lock-pending"
        self._fd = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.rename(pending, self.path / ".lock")
        return self

    def folder(self, kind: str) -> str:
        """A new private folder inside the runtime folder (kernel sockets, job scratch). Names stay
        short: an IPC socket path must fit in 107 bytes (``sockaddr_un``)."""
        self._count += 1
        path = self.path / f"{kind[0]}{self._count}"
        path.mkdir(mode=0o700)
        return str(path)

    def __exit__(self, *exc) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# -- kernels ---------------------------------------------------------------------------------------

def kernel_manager(kernel_name: str, socket_dir: str, env: dict[str, str] | None = None):
    """An AsyncKernelManager on IPC transport with a socket path unique to ``socket_dir``; ``env``
    replaces the kernel's environment (defaults to this process's)."""
    from jupyter_client.manager import AsyncKernelManager

    launch_env = dict(os.environ if env is None else env)

    class _ReviewKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            kw.setdefault("env", launch_env)
            await super().start_kernel(**kw)

    return _ReviewKernelManager(kernel_name=kernel_name, transport="ipc", ip=os.path.join(socket_dir, "k"))


def reset_kernel(scratch: str, first: bool) -> None:
    """Inside a kernel: forget everything of the previous job (see the module docstring) and point
    ``tempfile`` at ``scratch``. ``first``: the kernel's first job, whose starting state is recorded."""
    import functools
    import gc
    import sys

    ip = get_ipython()  # noqa: F821 - runs inside an IPython kernel
    state = ip.__dict__.setdefault("_qlwork_baseline", {})
    if first:
        import matplotlib

        state.update(env=dict(os.environ), cwd=os.getcwd(), path=list(sys.path),
                     rc=dict(matplotlib.rcParams))
    else:
        ip.reset(new_session=False)
        store_mod = sys.modules.get("qlwork.assistant.store.store")
        if store_mod is not None:
            for obj in gc.get_objects():
                if isinstance(obj, store_mod.Store):
                    obj.close()
        for name, mod in list(sys.modules.items()):
            if not name.startswith("qlwork") or mod is None:
                continue
            for attr, value in list(vars(mod).items()):
                if isinstance(value, functools._lru_cache_wrapper) and f"{name}.{attr}" not in SHARED_CACHES:
                    value.cache_clear()
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
        import matplotlib

        matplotlib.rcParams.update(state["rc"])
        os.environ.clear()
        os.environ.update(state["env"])
        os.chdir(state["cwd"])
        sys.path[:] = state["path"]
        gc.collect()  # the previous job's garbage (cycles included) is gone here; what survives is
        gc.freeze()  # modules and their data: frozen, so later collections skip them (cheap resets)
    os.environ["TMPDIR"] = scratch
    tempfile.tempdir = scratch


RESET_CODE = "__import__('qlwork.reports.kernels', fromlist=['reset_kernel']).reset_kernel({scratch!r}, {first!r})"
ENGINE = "qlwork-warm"


class WarmKernel:
    """One kernel kept by one worker thread (every call from that thread: the kernel manager is
    bound to the thread's event loop). :meth:`prepare` readies it for a job, which
    :func:`qlwork.reports.job.run_user_job` then runs in it through :attr:`kc`."""

    def __init__(self, runtime: BatchRuntime, kernel_name: str, env: dict[str, str]):
        self.runtime, self.kernel_name, self.env = runtime, kernel_name, env
        self.km = kernel_manager(kernel_name, runtime.folder("kernel"), env)
        self.uses = 0
        self.scratch: str | None = None
        self.kc = None  # one client for the kernel's life (a client per job costs ~0.5 s of handshakes)

    def fits(self, kernel_name: str, env: dict[str, str]) -> bool:
        return self.kernel_name == kernel_name and self.env == env and self.uses < MAX_USES

    @property
    def pid(self) -> int | None:
        proc = getattr(self.km, "provisioner", None)
        return getattr(getattr(proc, "process", None), "pid", None)

    def prepare(self, start_timeout: float, while_starting=None) -> None:
        """Start the kernel (and its one client) if needed and reset it for the next job.
        ``while_starting()`` runs here while a new kernel process boots (the two overlap)."""
        from jupyter_core.utils import run_sync

        run_sync(self._prepare)(start_timeout, while_starting)

    async def _prepare(self, timeout: float, while_starting=None) -> None:
        if not self.km.has_kernel:
            await self.km.start_kernel()
            if while_starting is not None:
                while_starting()
        if self.kc is None:
            self.kc = self.km.client()
            self.kc.start_channels()
            await self.kc.wait_for_ready(timeout=timeout)
            self.kc.allow_stdin = False
        old, self.scratch = self.scratch, self.runtime.folder("job")
        code = RESET_CODE.format(scratch=self.scratch, first=self.uses == 0)
        reply = await self.kc.execute_interactive(code, timeout=timeout, store_history=False,
                                                  output_hook=lambda msg: None)
        if old:
            shutil.rmtree(old, ignore_errors=True)
        if reply["content"].get("status") != "ok":
            content = reply["content"]
            raise RuntimeError(f"kernel reset failed: {content.get('ename')}: {content.get('evalue')}")

    def shutdown(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
        shutdown_kernel(self.km)
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)


def shutdown_kernel(km) -> None:
    """Shut down ``km``'s kernel now (from the thread whose event loop started it)."""
    from jupyter_core.utils import run_sync

    try:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
    except Exception:  # noqa: BLE001 - a kernel that is already gone is shut down
        pass


def register_engine() -> str:
    """Register (once) the papermill engine of the batch. It hands the executed notebook back in memory
    (``holder["nb"]``, also when a cell failed) and, for a warm kernel, runs through that kernel's
    long-lived client (``warm_client=``), which it leaves open for the next job."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.utils import remove_args

    if ENGINE in papermill_engines._engines:
        return ENGINE

    class WarmEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
            import logging

            kc = kwargs.pop("warm_client", None)
            kwargs.pop("holder", {})["nb"] = nb_man.nb  # the caller reads the notebook from memory
            kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            client = PapermillNotebookClient(nb_man, timeout=execution_timeout, startup_timeout=start_timeout,
                                             kernel_name=kernel_name, log=logging.getLogger("papermill"),
                                             log_output=log_output, stdout_file=stdout_file,
                                             stderr_file=stderr_file, **kwargs)
            client.kc = kc  # a warm kernel's own client: nbclient then neither creates nor closes one
            try:
                return client.execute()
            finally:
                if kc is None and client.kc is not None:  # the client nbclient made for a one-off kernel
                    client.kc.stop_channels()

    papermill_engines.register(ENGINE, WarmEngine)
    return ENGINE


def run_local(jobs: list[dict], workers: int, runtime: BatchRuntime, crashed, runner):
    """Run ``jobs`` on ``workers`` threads, each keeping one warm kernel; yields each outcome as it
    finishes. ``runner(job, kernel)`` runs one job (:func:`qlwork.reports.job.run_user_job`);
    ``crashed(job, exc)`` turns an exception escaping it into a failed outcome."""
    import queue
    import threading

    todo: queue.Queue = queue.Queue()
    for job in jobs:
        todo.put(job)
    done: queue.Queue = queue.Queue()

    def worker() -> None:
        kernel = None
        try:
            while True:
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                env = {**os.environ, **(job.get("env") or {})}
                name = job.get("kernel_name", "python3")
                try:
                    if kernel is None or not kernel.fits(name, env):
                        if kernel is not None:
                            kernel.shutdown()
                        kernel = WarmKernel(runtime, name, env)
                    outcome = runner({**job, "runtime_dir": str(runtime.path)}, kernel)
                except Exception as exc:  # noqa: BLE001 - one user's crash is that user's failure
                    outcome = crashed(job, exc)
                if outcome.get("status") != "ok" and kernel is not None:  # state unknown: a new kernel
                    kernel.shutdown()
                    kernel = None
                done.put(outcome)
        finally:
            if kernel is not None:
                kernel.shutdown()
            if any("pdf" in (job.get("formats") or ()) for job in jobs):
                from .pdf import close_browser

                close_browser()

    threads = [threading.Thread(target=worker, name=f"qlwork-report-{i}", daemon=True)
               for i in range(max(1, min(workers, len(jobs))))]
    for thread in threads:
        thread.start()
    try:
        for _ in jobs:
            yield done.get()
    finally:
        for thread in threads:
            thread.join()
