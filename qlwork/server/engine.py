"""Run execution for the server: backend choice, tool context, and a worker pool.

``runs.create`` stores a queued run, leased to this server (:mod:`qlwork.assistant.store.leases`), and
hands it to a thread pool, so the request returns at once; clients poll (or stream). Runners are
kept per backend configuration in a bounded cache (:mod:`qlwork.server.runners`). The backend of a
run is the assistant's ``backend``; for the shared default assistant it is the user's preferred
provider (BYOAI preferences), else the server's default.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from ..assistant.backends.base import get_backend
from ..assistant.store.leases import LEASE_SECONDS, Leases
from ..assistant.objects import Assistant, Run, Thread
from ..assistant.runner import Runner
from ..assistant.store import DEFAULT_ACTION_TIMEOUT, Store
from ..errors import InputError, QlworkError
from ..tools.registry import REGISTRY, Registry, ToolContext
from .deltas import TextDeltas
from .errors import APIError
from .keys import KeyStore
from .runners import DEFAULT_RUNNERS, RunnerCache

log = logging.getLogger("qlwork.server")

PortfolioResolver = Callable[[dict, str], Any]
"""(thread metadata, user_id) -> a portfolio source for the tools, or None."""


class RunEngine:
    """Creates runs, executes them in worker threads under leases, and lets callers wait for them.

    At start it recovers what a previous server left (see :mod:`qlwork.assistant.store.leases`); a
    heartbeat thread renews its leases, takes over runs of servers that died and expires
    ``requires_action`` runs past their expiry. :meth:`drain` is the graceful stop.
    """

    def __init__(self, store: Store, default_backend: str = "offline", workers: int = 4,
                 max_pending_per_user: int = 64, registry: Registry = REGISTRY, market: Any = None,
                 max_turns: int = 10, default_assistant_id: str | None = None,
                 portfolio_resolver: PortfolioResolver | None = None, default_model: str | None = None, *,
                 lease_seconds: float = LEASE_SECONDS, action_timeout: float = DEFAULT_ACTION_TIMEOUT,
                 max_runners: int = DEFAULT_RUNNERS) -> None:
        self.store = store
        self.default_backend = default_backend
        self.default_model = default_model  # `qlwork serve --model`: for the default backend
        self.registry = registry
        self.max_turns = max_turns
        self.max_pending_per_user = max_pending_per_user
        self.default_assistant_id = default_assistant_id
        self.portfolio_resolver = portfolio_resolver
        self.action_timeout = action_timeout
        self._market = market
        self._keys = KeyStore(store)
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="qlwork-run")
        self._runners = RunnerCache(max_runners)
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}
        self._executing: set[str] = set()
        self._pending: Counter[str] = Counter()
        self._text = TextDeltas()  # streamed answer fragments per run (see qlwork.server.streaming)
        self.leases = Leases(store, seconds=lease_seconds)
        _preferences("")  # import the preferences (and the openai SDK) now, not on the event loop later
        self.draining = False
        self._stopped = threading.Event()
        self.recover()  # before the first request: threads a previous server left blocked are usable at once
        self._beat = threading.Thread(target=self._heartbeat, name="qlwork-lease", daemon=True)
        self._beat.start()

    # -- backends and context --------------------------------------------------------------------
    @property
    def market(self) -> Any:
        if self._market is None:
            from ..market import get_provider

            self._market = get_provider("demo")
        return self._market

    def user_backend(self, user_id: str) -> str:
        """The user's preferred provider if set (BYOAI), else the server default."""
        prefs = _preferences(user_id)
        if prefs is not None and prefs.preferred_ai_provider != "offline":
            return prefs.preferred_ai_provider
        return self.default_backend

    def runner(self, assistant: Assistant, user_id: str, model: str | None = None):
        """The runner for this assistant and user, held for a ``with`` block (one per backend
        configuration, in a bounded cache); ``model`` (a run's ``model``) overrides the model of a
        non-offline backend."""
        name = assistant.backend or self.default_backend
        if assistant.id == self.default_assistant_id:
            name = self.user_backend(user_id)
        options: dict[str, Any] = {}
        if name != "offline":
            prefs = _preferences(user_id)
            if prefs is not None and prefs.preferred_ai_provider == name:
                options = {k: v for k, v in prefs.backend_options().items() if v is not None}
            if not options.get("model") and assistant.model and assistant.model != "offline-rules":
                options["model"] = assistant.model
            if model:
                options["model"] = model
            if not options.get("model") and self.default_model and name == self.default_backend:
                options["model"] = self.default_model

        def build() -> Runner:
            backend = get_backend(name, market=self.market) if name == "offline" else _model_backend(name, options)
            runner = Runner(self.store, self.registry, backend, context_factory=self.context, max_turns=self.max_turns)
            runner.on_run_delta, runner.message_id_for = self._text.add, self._text.message_id
            return runner

        return self._runners.use((name, json.dumps(options, sort_keys=True, default=str)), build)

    def context(self, thread: Thread) -> ToolContext:
        meta = thread.metadata or {}
        market = self.market
        portfolio = meta.get("portfolio_id")
        if self.portfolio_resolver is not None:  # attached holdings, then a portfolio_id qlwork can resolve
            portfolio = self.portfolio_resolver(meta, thread.user_id or "")
        return ToolContext(market=market, portfolio=portfolio, as_of=getattr(market, "default_as_of", None)
                           or _demo_as_of(market), risk_profile=meta.get("risk_profile") or "moderate",
                           benchmark=meta.get("benchmark") if isinstance(meta.get("benchmark"), str) else None,
                           thread_id=thread.id, user_id=thread.user_id, extra=self._file_context(thread),
                           paths_allowed=False)  # multi-user: tool arguments never name a server path

    def _file_context(self, thread: Thread) -> dict:
        """What the file tools need: the thread's attachments plus the files and vector stores named
        in the thread's and the run's assistant's tool_resources (ownership was checked when they
        were set), and the access hooks that keep a model to this user's files."""
        meta = thread.metadata or {}
        extra: dict[str, Any] = {"investment_horizon": meta.get("investment_horizon") or "medium"}
        resources = [meta]
        run = self.store.active_run(thread.id)
        if run is not None:
            extra["assistant_id"] = run.assistant_id
            try:
                resources.append(self.store.get_assistant(run.assistant_id).metadata)
            except InputError:
                pass
        from ..tools.files import thread_attachments

        attachments = thread_attachments(self.store.list_messages(thread.id, order="asc", limit=100))
        attachments += [{"file_id": fid, "tools": ["code_interpreter"]}
                        for m in resources for fid in _resource_ids(m, "code_interpreter", "file_ids")]
        extra["attachments"] = attachments
        extra["vector_store_ids"] = list(dict.fromkeys(
            vs for m in resources for vs in _resource_ids(m, "file_search", "vector_store_ids")))
        user = thread.user_id or ""
        extra["file_allowed"] = lambda file_id: self._keys.owns(user, "file", file_id)
        extra["file_created"] = lambda file_id: self._keys.claim("file", file_id, user)
        return extra

    # -- runs ------------------------------------------------------------------------------------
    def _refuse_when_draining(self) -> None:
        if self.draining:
            raise APIError(503, "The server is shutting down and takes no new runs; retry shortly (another "
                           "server, or this one after its restart, will take it).", code="server_shutting_down",
                           type="server_error", headers={"retry-after": "5"})

    def _reserve(self, user_id: str | None) -> None:
        if user_id is None:
            return
        with self._lock:
            if self._pending[user_id] >= self.max_pending_per_user:
                raise APIError(429, f"Too many runs in progress for this user (limit {self.max_pending_per_user}).",
                               code="rate_limit_exceeded", headers={"retry-after": "1"})
            self._pending[user_id] += 1

    def _release(self, user_id: str | None) -> None:
        if user_id is None:
            return
        with self._lock:
            self._pending[user_id] -= 1
            if self._pending[user_id] <= 0:
                del self._pending[user_id]

    def create_run(self, user_id: str, thread: Thread, assistant: Assistant, *,
                   before: Callable[[], None] | None = None, model: str | None = None, **options: Any) -> Run:
        """Store a queued run leased to this server (after ``before()``, in the same transaction) and
        start it; ``model`` overrides the assistant's model for this run."""
        self._refuse_when_draining()
        self._reserve(user_id)
        try:
            with self.runner(assistant, user_id, model) as runner, self.store.transaction():
                if before is not None:
                    before()
                run = runner.create_run(thread.id, assistant.id, assistant=assistant, columns=self.leases.columns(),
                                        **options)
        except BaseException:
            self._release(user_id)
            raise
        self._start(user_id, run.id, self._execute)
        return run

    def _execute(self, run_id: str) -> Run | None:
        """Execute a queued run this server holds (nothing if another server took it over: the lease
        is confirmed in the transaction that starts the run)."""
        try:
            run = self.store.get_run(run_id)
            thread, assistant = self.store.get_thread(run.thread_id), self.store.get_assistant(run.assistant_id)
        except InputError:  # deleted meanwhile (its thread or assistant): nothing left to execute
            return None
        with self.runner(assistant, thread.user_id or "", run.model) as runner:
            return runner.execute(run_id, claim=lambda: self.leases.holds(run_id), thread=thread, assistant=assistant)

    def submit_tool_outputs(self, user_id: str, run: Run, outputs: list[dict], wait: float = 5.0) -> Run:
        """Resume a run waiting for client outputs; invalid outputs answer at once (400)."""
        if run.status != "requires_action":
            raise InputError(f"Run {run.id} is {run.status}, not waiting for tool outputs.", code="run_not_waiting")
        self._refuse_when_draining()
        self._reserve(user_id)
        self.leases.assign(run.id)  # this server drives the run once the outputs are accepted

        def resume(run_id: str) -> Run:
            with self.runner(self.store.get_assistant(run.assistant_id), user_id, run.model) as runner:  # same model
                return runner.submit_tool_outputs(run_id, outputs)

        future = self._start(user_id, run.id, resume)
        # wait until the outputs were accepted (status left requires_action) or refused
        event = threading.Event()
        future.add_done_callback(lambda _: event.set())
        while not event.wait(0.005):
            if self.store.run_status(run.id) != "requires_action" or wait <= 0:
                break
            wait -= 0.005
        if future.done() and future.exception() is not None:
            exc = future.exception()
            if isinstance(exc, QlworkError):
                raise exc
        return self.store.get_run(run.id)

    def cancel(self, user_id: str, run: Run) -> Run:
        with self.runner(self.store.get_assistant(run.assistant_id), user_id) as runner:
            return runner.cancel(run.id)

    def _start(self, user_id: str | None, run_id: str, job: Callable[[str], Run | None]):
        event = threading.Event()
        with self._lock:
            self._events[run_id] = event

        def work() -> Run | None:
            self._text.begin(run_id)
            try:
                with self._lock:
                    if self.draining:  # not started before the stop: left queued for the next server
                        self.leases.release_queued([run_id])
                        return None
                    self._executing.add(run_id)
                return job(run_id)
            except InputError:
                raise
            except Exception:  # the runner stored the failure on the run
                log.exception("run %s failed", run_id)
                return None
            finally:
                self._text.end(run_id)
                self._release(user_id)
                with self._lock:
                    self._executing.discard(run_id)
                    if self._events.get(run_id) is event:
                        del self._events[run_id]
                event.set()

        try:
            return self._pool.submit(work)
        except RuntimeError:  # pool shut down
            self._release(user_id)
            with self._lock:
                self._events.pop(run_id, None)
            self.leases.release_queued([run_id])
            raise APIError(503, "The server is shutting down.", code="server_shutting_down", type="server_error",
                           headers={"retry-after": "5"})

    def wait(self, run_id: str, timeout: float) -> None:
        """Block up to ``timeout`` s while the run is queued or executing: on this server's own
        signal, or by watching the store when another server (process) executes it."""
        with self._lock:
            event = self._events.get(run_id)
        if event is not None:
            event.wait(timeout)
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.store.run_status(run_id) in ("queued", "in_progress", "cancelling"):
            time.sleep(0.02)

    def text_deltas(self, run_id: str, start: int = 0) -> tuple[str | None, list[str]]:
        """(message id, fragments from ``start`` on) of the answer a model is streaming for the run."""
        return self._text.read(run_id, start)

    def running(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._events

    # -- recovery, heartbeat, stop ---------------------------------------------------------------
    def recover(self) -> list[Run]:
        """Take over what servers that are gone left behind (queued runs are executed here;
        in_progress ones fail, cancelling ones end cancelled) and expire overdue waiting runs."""
        to_run, ended = self.leases.sweep()
        ended += self.leases.expire_waiting(self.action_timeout)
        for run_id in to_run:
            log.info("taking over queued run %s", run_id)
            self._start(None, run_id, self._execute)
        for run in ended:
            log.warning("run %s ended %s: %s", run.id, run.status, run.last_error.message if run.last_error else "")
        return ended

    def _heartbeat(self) -> None:
        interval = min(1.0, self.leases.seconds / 3)
        while not self._stopped.wait(interval):
            try:
                self.leases.renew()
                if not self.draining:
                    self.recover()
            except Exception:  # a busy or briefly unreachable store: try again next beat
                log.exception("lease heartbeat failed")

    def alive(self) -> bool:
        """Workers and heartbeat running (for /ready)."""
        return self._beat.is_alive() and not self.draining and not self._stopped.is_set()

    def drain(self, grace: float = 30.0) -> None:
        """Graceful stop: refuse new runs (503), let runs executing here finish within ``grace``
        seconds (those still running then end failed), leave queued runs for the next server."""
        with self._lock:
            self.draining = True
        deadline = time.monotonic() + max(0.0, grace)
        while time.monotonic() < deadline:
            with self._lock:
                if not self._executing:
                    break
            time.sleep(0.02)
        with self._lock:
            left = list(self._executing)
        for run in self.leases.fail_stopped(left):
            log.warning("run %s ended %s at shutdown", run.id, run.status)
        released = self.leases.release_queued()
        if released:
            log.info("left %d queued run(s) for the next server", released)

    def close(self, grace: float = 0.0) -> None:
        if not self.draining:
            self.drain(grace)
        self._stopped.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._runners.close()

    def busy(self) -> bool:
        """Whether a run is still executing in this process."""
        with self._lock:
            return bool(self._executing)


def _model_backend(name: str, options: dict):
    """A model backend; a missing model is a 400 naming where to set one."""
    try:
        return get_backend(name, **options)
    except QlworkError as exc:
        if exc.details.get("code") != "missing_model":
            raise
        raise APIError(400, f"No model set for the {name} backend. Set one: the assistant's or run's `model`, the "
                       "user's BYOAI preference `model`, or start the server with "
                       f"`qlwork serve --backend {name} --model M`.", code="model_not_set", param="model") from None


def _preferences(user_id: str):
    try:
        from ..assistant.preferences import load_preferences

        return load_preferences(user_id)
    except (ImportError, InputError):
        return None


def _resource_ids(meta: dict, tool: str, field: str) -> list[str]:
    """Ids under ``tool_resources[tool][field]`` of a thread's or assistant's metadata."""
    from .wire import TOOL_RESOURCES

    resources = (meta or {}).get(TOOL_RESOURCES)
    entry = resources.get(tool) if isinstance(resources, dict) else None
    ids = entry.get(field) if isinstance(entry, dict) else None
    return [str(i) for i in ids] if isinstance(ids, list) else []  # tolerate rows stored before validation


def _demo_as_of(market: Any) -> Any:
    if "demo" not in type(market).__module__:
        return None
    from ..market.demo import DEMO_AS_OF

    return DEMO_AS_OF
