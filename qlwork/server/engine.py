"""Run execution for the server: backend choice, tool context, and a worker pool.

``runs.create`` stores a queued run and hands it to a thread pool, so the request returns at once;
clients poll (or stream). One :class:`~qlwork.assistant.runner.Runner` is kept per backend
configuration. The backend of a run is the assistant's ``backend``; for the shared default
assistant it is the user's preferred provider (BYOAI preferences), else the server's default.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from ..assistant.backends.base import get_backend
from ..assistant.objects import Assistant, Run, Thread
from ..assistant.runner import Runner
from ..assistant.store import Store
from ..errors import InputError, QlworkError
from ..tools.registry import REGISTRY, Registry, ToolContext
from .errors import APIError
from .keys import KeyStore

log = logging.getLogger("qlwork.server")

PortfolioResolver = Callable[[str, str], Any]
"""(portfolio_id, user_id) -> a portfolio source for the tools, or None."""


class RunEngine:
    """Creates runs, executes them in worker threads, and lets callers wait for them."""

    def __init__(self, store: Store, default_backend: str = "offline", workers: int = 4,
                 max_pending_per_user: int = 64, registry: Registry = REGISTRY, market: Any = None,
                 max_turns: int = 10, default_assistant_id: str | None = None,
                 portfolio_resolver: PortfolioResolver | None = None) -> None:
        self.store = store
        self.default_backend = default_backend
        self.registry = registry
        self.max_turns = max_turns
        self.max_pending_per_user = max_pending_per_user
        self.default_assistant_id = default_assistant_id
        self.portfolio_resolver = portfolio_resolver
        self._market = market
        self._keys = KeyStore(store)
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="qlwork-run")
        self._runners: dict[tuple, Runner] = {}
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}
        self._pending: Counter[str] = Counter()

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

    def runner_for(self, assistant: Assistant, user_id: str, model: str | None = None) -> Runner:
        """The runner for this assistant and user (built once per backend configuration); ``model``
        (a run's ``model``) overrides the model of a non-offline backend."""
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
        key = (name, json.dumps(options, sort_keys=True, default=str))
        with self._lock:
            runner = self._runners.get(key)
            if runner is None:
                backend = get_backend(name, market=self.market) if name == "offline" else get_backend(name, **options)
                runner = self._runners[key] = Runner(self.store, self.registry, backend,
                                                     context_factory=self.context, max_turns=self.max_turns)
            return runner

    def context(self, thread: Thread) -> ToolContext:
        meta = thread.metadata or {}
        market = self.market
        portfolio = meta.get("portfolio_id")
        if self.portfolio_resolver is not None and portfolio is not None:
            portfolio = self.portfolio_resolver(str(portfolio), thread.user_id or "")
        return ToolContext(market=market, portfolio=portfolio, as_of=getattr(market, "default_as_of", None)
                           or _demo_as_of(market), risk_profile=meta.get("risk_profile") or "moderate",
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
        extra["file_allowed"] = lambda file_id: self._keys.owner("file", file_id) == user
        extra["file_created"] = lambda file_id: self._keys.claim("file", file_id, user)
        return extra

    # -- runs ------------------------------------------------------------------------------------
    def _reserve(self, user_id: str) -> None:
        with self._lock:
            if self._pending[user_id] >= self.max_pending_per_user:
                raise APIError(429, f"Too many runs in progress for this user (limit {self.max_pending_per_user}).",
                               code="rate_limit_exceeded", headers={"retry-after": "1"})
            self._pending[user_id] += 1

    def _release(self, user_id: str) -> None:
        with self._lock:
            self._pending[user_id] -= 1
            if self._pending[user_id] <= 0:
                del self._pending[user_id]

    def create_run(self, user_id: str, thread: Thread, assistant: Assistant, *,
                   before: Callable[[], None] | None = None, model: str | None = None, **options: Any) -> Run:
        """Store a queued run (after ``before()``, in the same transaction) and start it; ``model``
        overrides the assistant's model for this run."""
        runner = self.runner_for(assistant, user_id, model)
        self._reserve(user_id)
        try:
            with self.store.transaction():
                if before is not None:
                    before()
                run = runner.create_run(thread.id, assistant.id, **options)
        except BaseException:
            self._release(user_id)
            raise
        self._start(user_id, run.id, lambda: runner.execute(run.id))
        return run

    def submit_tool_outputs(self, user_id: str, run: Run, outputs: list[dict], wait: float = 5.0) -> Run:
        """Resume a run waiting for client outputs; invalid outputs answer at once (400)."""
        if run.status != "requires_action":
            raise InputError(f"Run {run.id} is {run.status}, not waiting for tool outputs.", code="run_not_waiting")
        runner = self.runner_for(self.store.get_assistant(run.assistant_id), user_id, run.model)  # same model
        self._reserve(user_id)
        future = self._start(user_id, run.id, lambda: runner.submit_tool_outputs(run.id, outputs))
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
        runner = self.runner_for(self.store.get_assistant(run.assistant_id), user_id)
        return runner.cancel(run.id)

    def _start(self, user_id: str, run_id: str, job: Callable[[], Run]):
        event = threading.Event()
        with self._lock:
            self._events[run_id] = event

        def work() -> Run | None:
            try:
                return job()
            except InputError:
                raise
            except Exception:  # the runner stored the failure on the run
                log.exception("run %s failed", run_id)
                return None
            finally:
                self._release(user_id)
                with self._lock:
                    if self._events.get(run_id) is event:
                        del self._events[run_id]
                event.set()

        try:
            return self._pool.submit(work)
        except RuntimeError:  # pool shut down
            self._release(user_id)
            raise APIError(503, "The server is shutting down.", code="shutting_down")

    def wait(self, run_id: str, timeout: float) -> None:
        """Block up to ``timeout`` s while this server is executing the run."""
        with self._lock:
            event = self._events.get(run_id)
        if event is not None:
            event.wait(timeout)

    def running(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._events

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for runner in self._runners.values():
            runner.close()


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
