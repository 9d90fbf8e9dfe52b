"""Parsing untrusted PDFs and images in a separate, killable process with page, character, pixel,
memory and time caps.

A crafted PDF (hundreds of pages sharing one heavy content stream, a few KB on disk) can keep pypdf
busy for minutes, and a huge PNG decodes to gigabytes. Parsing them in the caller (a server worker
thread) would hold the process hostage: requests stall and SIGTERM cannot stop it. So
:func:`parse_isolated` runs ``python -m qlwork.tools.parse_process`` with the bytes on stdin, through
the code_interpreter's sandbox launcher (bubblewrap namespaces, the seccomp allow-list, Landlock, an
unprivileged uid, a scrubbed environment without API keys; see docs/sandbox.md); the child
sets its own CPU and address-space limits, parses with the caps of :class:`Limits`, and writes one JSON
document to stdout. The parent kills it when the time cap passes, or at once when
:func:`stop_all` is called (``qlwork serve`` calls it on SIGTERM/SIGINT before shutting down).

Every cap is an environment setting; a file over a cap gets an InputError naming the limit and the
setting (HTTP 422 on the server).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path

from ..errors import InputError
from . import sandbox
from .file_parsing import Limits, parse_binary

PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


MAX_PARSERS = max(1, int(os.environ.get("QLWORK_PARSE_WORKERS", "").strip() or 0)
                  if os.environ.get("QLWORK_PARSE_WORKERS", "").strip().isdigit() else (os.cpu_count() or 2))
"""Parser processes running at once (``QLWORK_PARSE_WORKERS``, default the core count); more wait."""
_SLOTS = threading.BoundedSemaphore(MAX_PARSERS)
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()


def stop_all() -> int:
    """Kill every running parser child and refuse new parses (for shutdown); returns how many were killed."""
    _STOPPING.set()
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        try:
            proc.kill()
        except OSError:
            pass
    return len(procs)


def stop_on_signals() -> bool:
    """Chain :func:`stop_all` before the current SIGTERM/SIGINT handlers (the server's own), so a
    shutdown does not wait for a parse. Only possible in the main thread; returns whether installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum, frame, previous=previous):
            stop_all()
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

        signal.signal(sig, handler)
    return True


def parse_isolated(data: bytes, filename: str, kind: str, limits: Limits | None = None) -> dict:
    """Parse PDF / PNG / JPEG bytes in a child process under ``limits``; the parsed dict, or InputError."""
    limits = limits or Limits.from_env()
    if not _SLOTS.acquire(timeout=limits.timeout):  # many parses at once wait for a slot, not for memory
        raise InputError(f"{filename} was not parsed: {MAX_PARSERS} other files were being parsed for "
                         f"{limits.timeout:g} s (QLWORK_PARSE_WORKERS).", fix="Try again in a minute.",
                         code="parser_busy", file=filename, limit="QLWORK_PARSE_WORKERS")
    try:
        return _run_child(data, filename, kind, limits)
    finally:
        _SLOTS.release()


def _run_child(data: bytes, filename: str, kind: str, limits: Limits) -> dict:
    if _STOPPING.is_set():
        raise InputError("The server is shutting down; the file was not parsed.", fix="Try again later.",
                         code="shutting_down")
    header = json.dumps({"filename": filename, "kind": kind, "limits": asdict(limits)})
    base = Path(tempfile.mkdtemp(prefix="qlwork-parse-"))
    try:
        cmd, env = _sandboxed(base, header, limits)
        return _communicate(cmd, env, data, filename, limits)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _sandboxed(base: Path, header: str, limits: Limits) -> tuple[list[str], dict]:
    """The parser's command line through the sandbox launcher (bubblewrap, seccomp, Landlock, rlimits;
    docs/sandbox.md) and its whole environment: an allow-list, so no API key or broker secret."""
    host, work = base / "host", base / "work"
    for d in (host, work):
        d.mkdir(mode=0o700)
    memory = limits.memory_mb * 1024 * 1024
    cfg = sandbox.sandbox_config(host, [work], {"memory_bytes": memory, "cpu_seconds": int(limits.timeout) + 2,
                                                "file_size_bytes": 16 * 1024 ** 2, "open_files": 256})
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "HOME": str(work), "TMPDIR": str(work), "PYTHONPATH": PACKAGE_PARENT, "PYTHONNOUSERSITE": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "QLWORK_SANDBOX": "1"}
    cmd = [sys.executable, "-S", "-E", str(sandbox.LAUNCHER), str(cfg), "--", sys.executable, "-m",
           "qlwork.tools.parse_process", header]
    return cmd, env


def _communicate(cmd: list[str], env: dict, data: bytes, filename: str, limits: Limits) -> dict:
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    with _LIVE_LOCK:
        _LIVE.add(proc)
    try:
        out, err = proc.communicate(data, timeout=limits.timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise InputError(f"{filename} took longer than the {limits.timeout:g} s parse limit (QLWORK_PARSE_TIMEOUT); "
                         "it was not read.", fix="Upload a simpler or smaller file (fewer pages, plain text).",
                         code="file_too_complex", file=filename, limit="QLWORK_PARSE_TIMEOUT") from None
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)
    if _STOPPING.is_set() and proc.returncode != 0:
        raise InputError("The server is shutting down; the file was not parsed.", fix="Try again later.",
                         code="shutting_down")
    try:
        result = json.loads(out.decode("utf-8"))
    except ValueError:
        result = None
    if not isinstance(result, dict) or ("ok" not in result and "error" not in result):
        how = (f"signal {-proc.returncode}" if (proc.returncode or 0) < 0 else f"exit {proc.returncode}")
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise InputError(f"{filename} could not be parsed within the parser's limits ({how}; memory "
                         f"{limits.memory_mb} MB, QLWORK_PARSE_MEMORY_MB){': ' + tail[0][:200] if tail[0] else ''}.",
                         fix="Upload a simpler or smaller file.", code="file_too_complex", file=filename,
                         limit="QLWORK_PARSE_MEMORY_MB")
    if "error" in result:
        error = result["error"]
        details = {k: v for k, v in error.items() if k not in ("type", "message", "fix")}
        raise InputError(error.get("message", "The file could not be parsed."), fix=error.get("fix"), **details)
    return result["ok"]


# -- the child -----------------------------------------------------------------------------------

def _child(header: str) -> int:
    import resource

    spec = json.loads(header)
    limits = Limits(**spec["limits"])
    cpu = int(limits.timeout) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    memory = limits.memory_mb * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    except (ValueError, OSError):
        pass
    data = sys.stdin.buffer.read()
    try:
        parsed = parse_binary(data, spec["filename"], spec["kind"], limits)
        payload = {"ok": parsed}
    except InputError as exc:
        payload = {"error": exc.to_dict()}
    except MemoryError:
        payload = {"error": {"message": f"{spec['filename']} needs more than the parser's {limits.memory_mb} MB "
                                        "of memory (QLWORK_PARSE_MEMORY_MB).", "fix": "Upload a smaller file.",
                             "code": "file_too_complex", "limit": "QLWORK_PARSE_MEMORY_MB"}}
    sys.stdout.write(json.dumps(payload, default=str))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
