"""Run the server with uvicorn: one or several server processes on one socket and one store, a
graceful stop on SIGTERM/SIGINT, and a warning when it is reachable beyond this machine without TLS."""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import TextIO

import uvicorn

from ..assistant.store.leases import LEASE_SECONDS
from ..assistant.store import DEFAULT_ACTION_TIMEOUT

LOOPBACK_NAMES = ("localhost",)

log = logging.getLogger("qlwork.server")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, tls: bool = False) -> str | None:
    """A warning for a bind address other machines can reach, unless TLS is in front."""
    if is_loopback(host) or tls:
        return None
    return (f"qlwork serve is listening on {host}, reachable from other machines, and speaks plain HTTP: "
            "API keys and portfolio data would cross the network unencrypted. Put a TLS-terminating proxy "
            "(nginx, Caddy) in front, or bind to 127.0.0.1.")


def bind_error(host: str, port: int, exc: OSError):
    """The InputError for a port that cannot be bound (in use, privileged, or an unknown address)."""
    import errno

    from ..errors import InputError

    if exc.errno == errno.EADDRINUSE:
        return InputError(f"Port {port} on {host} is already in use (another qlwork serve, or another program).",
                          fix=f"Stop that program, or pass another port: --port {port + 1}.", code="port_in_use")
    if exc.errno == errno.EACCES:
        return InputError(f"Not allowed to listen on port {port} (ports below 1024 need privileges).",
                          fix="Pass --port 8765 or another port from 1024 up.", code="port_not_allowed")
    return InputError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.",
                      fix="Pass --host 127.0.0.1 or an address of this machine.", code="bind_failed")


def serve(host: str = "127.0.0.1", port: int = 8765, backend: str = "offline", workers: int = 1,
          threads: int = 4, tls: bool = False, log_level: str = "info", access_log: bool = False,
          grace_seconds: float = 30.0, lease_seconds: float = LEASE_SECONDS,
          action_timeout: float = DEFAULT_ACTION_TIMEOUT, out: TextIO = sys.stderr,
          model: str | None = None) -> int:
    """Serve the Assistants API until SIGTERM/SIGINT, then stop gracefully; returns the exit code.

    ``workers`` server processes share the listening socket and the store (each executes up to
    ``threads`` runs at once, under leases); a worker process that dies is replaced and its runs are
    taken over. ``tls``: a TLS proxy is in front; ``access_log``: log every request (~0.2 ms each).
    """
    from ..assistant.store import Store
    from ..errors import InputError
    from .keys import KeyStore

    for name, value, low in (("workers", workers, 1), ("threads", threads, 1), ("grace-seconds", grace_seconds, 0),
                             ("lease-seconds", lease_seconds, 1), ("action-timeout", action_timeout, 1)):
        if not value >= low:
            raise InputError(f"--{name} must be at least {low}, got {value}.", fix=f"Pass --{name} {max(low, 1)} "
                             "or more.", code="invalid_argument", setting=name)
    warning = exposure_warning(host, tls)
    if warning:
        print(f"WARNING: {warning}", file=out)
    store = Store()
    if not KeyStore(store).list(include_revoked=False):
        print("note: no API keys yet; create one with `qlwork serve keys create --user ID`.", file=out)
    store.close()
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise bind_error(host, port, exc) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    print(f"qlwork Assistants API on http://{host}:{port}/v1 (backend {backend}"
          f"{f', model {model}' if model else ''}; {workers} worker "
          f"process{'es' if workers != 1 else ''} x {threads} runs; OpenAPI at /openapi.json)", file=out, flush=True)
    options = {"backend": backend, "threads": threads, "log_level": log_level, "access_log": access_log,
               "grace_seconds": grace_seconds, "lease_seconds": lease_seconds, "action_timeout": action_timeout,
               "model": model}
    if workers <= 1:
        return _serve_process(sock, **options)
    return _supervise(sock, workers, options)


def _serve_process(sock: socket.socket, *, backend: str, threads: int, log_level: str, access_log: bool,
                   grace_seconds: float, lease_seconds: float, action_timeout: float,
                   model: str | None = None) -> int:
    """One server process: the app on ``sock`` until a signal, then the graceful stop."""
    from .app import create_app

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    sys.setswitchinterval(0.001)  # hand the GIL to the event loop sooner when runs keep threads busy
    app = create_app(backend=backend, workers=threads, grace_seconds=grace_seconds, lease_seconds=lease_seconds,
                     action_timeout=action_timeout, model=model)
    engine = app.state.qlwork.engine
    from .protocol import HeaderDeadlineProtocol, max_connections

    config = uvicorn.Config(app, log_level=log_level, access_log=access_log, lifespan="on",
                            timeout_graceful_shutdown=5, http=HeaderDeadlineProtocol, timeout_keep_alive=5,
                            limit_concurrency=max_connections())
    server = DrainingServer(config, engine, grace_seconds)
    server.run(sockets=[sock])
    if engine.busy():  # a run still inside a tool after the grace period (already marked failed)
        logging.shutdown()
        os._exit(0)
    return 0


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first SIGTERM/SIGINT drains the engine (new runs get 503 while
    in-flight runs finish, within the grace period), then the server exits with status 0; a second
    SIGINT stops at once."""

    def __init__(self, config: uvicorn.Config, engine, grace: float) -> None:
        super().__init__(config)
        self.engine, self.grace, self._stopping = engine, grace, False

    def handle_exit(self, sig: int, frame) -> None:  # replaces uvicorn's: no re-raised signal, exit 0
        if self._stopping:
            if sig == signal.SIGINT:
                self.should_exit = self.force_exit = True
            return
        self._stopping = True
        log.info("stopping: no new runs, waiting up to %.0f s for runs in flight", self.grace)
        threading.Thread(target=self._drain, name="qlwork-drain", daemon=True).start()

    def _drain(self) -> None:
        try:
            self.engine.drain(self.grace)
        finally:
            self.should_exit = True


def _supervise(sock: socket.socket, workers: int, options: dict) -> int:
    """Run ``workers`` server processes on one socket; replace any that dies; forward stops."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")  # before any thread exists in this process
    stopping: list[int] = []

    def spawn() -> multiprocessing.process.BaseProcess:
        proc = ctx.Process(target=_child, args=(sock, options), daemon=False)
        proc.start()
        return proc

    def on_signal(sig: int, _frame) -> None:
        first = not stopping
        stopping.append(sig)
        for proc in procs:
            if proc.is_alive() and proc.pid:
                os.kill(proc.pid, signal.SIGTERM if first else sig)

    procs = [spawn() for _ in range(workers)]
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            for i, proc in enumerate(procs):
                if not proc.is_alive() and not stopping:
                    log.warning("server process %s ended (exit %s); starting another", proc.pid, proc.exitcode)
                    procs[i] = spawn()
            if stopping and not any(p.is_alive() for p in procs):
                return 0
            time.sleep(0.2)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _child(sock: socket.socket, options: dict) -> None:
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, signal.SIG_DFL)
    os._exit(_serve_process(sock, **options))
