"""Session: the high-level chat API used by the widget, notebooks and CLI.

A session belongs to one user and one current thread. Opening a session without ``thread_id``
continues the user's most recent thread (threads persist in the store across processes);
``new_thread=True`` starts a fresh one. Opening a thread (and asking on it) first recovers runs left
active by a dead process and expires stale ``requires_action`` runs (:meth:`Store.recover`), so a
crash never blocks a thread for good.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..errors import BackendError, InputError, ModelBehaviorError, QlworkError
from ..tools.registry import REGISTRY, Registry, ToolContext
from .backends.base import Backend, get_backend
from .objects import Message, Run, RunStep, Thread
from .response import TradingResponse
from .runner import Runner
from .defaults import ensure_default_assistant
from .store import Store

_ERRORS_BY_CODE: dict[str, type[QlworkError]] = {
    "backend_error": BackendError, "invalid_response": ModelBehaviorError, "model_behavior": ModelBehaviorError,
    "ungrounded_answer": ModelBehaviorError, "invalid_setting": InputError,
}


@dataclass
class Answer:
    """One exchange: the structured ``response`` (None unless the run completed), the assistant
    ``message`` (None unless completed), the ``run`` and its ``steps``."""

    response: TradingResponse | None
    message: Message | None
    run: Run
    steps: list[RunStep] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Readable answer text, or a line saying why there is none."""
        if self.message is not None:
            return self.message.text
        detail = (self.run.incomplete_details or {}).get("message") or (
            self.run.last_error.message if self.run.last_error else "")
        return f"No answer: run {self.run.id} is {self.run.status}. {detail}".strip()

    @property
    def tool_calls(self) -> list:
        return [c for s in self.steps for c in s.tool_calls]

    def to_dict(self) -> dict:
        return {"thread_id": self.run.thread_id, "run_id": self.run.id, "status": self.run.status,
                "message_id": self.message.id if self.message else None,
                "response": self.response.model_dump(mode="json") if self.response else None,
                "text": self.text, "run": self.run.model_dump(mode="json"),
                "steps": [s.model_dump(mode="json") for s in self.steps]}


class Session:
    """Chat with the assistant as ``user_id`` on a persistent thread.

    ``provider`` is the market data: ``"demo"``, ``"kite"`` (this user's Kite login, read-only), a provider
    object, or None for the configured default (``QLWORK_PROVIDER`` / ``provider`` in qlwork.toml, else
    demo); ``market`` is the older name of the same argument and still works.
    ``portfolio``, ``risk_profile`` and ``horizon`` set a new thread's metadata (defaults:
    ``default_portfolio``, ``moderate``, ``medium``). On an existing thread (``thread_id`` or the
    user's latest) only the values passed explicitly (not None) change its metadata; the others keep
    what the thread recorded.
    """

    def __init__(self, user_id: str, backend: str | Backend = "offline", store: Store | None = None,
                 thread_id: str | None = None, market: Any = None, portfolio: Any = None,
                 risk_profile: str | None = None, horizon: str | None = None, as_of: Any = None,
                 assistant_id: str | None = None, backend_options: dict | None = None,
                 new_thread: bool = False, registry: Registry = REGISTRY, max_turns: int = 10,
                 on_delta: Any = None, default_portfolio: Any = None, provider: Any = None) -> None:
        if not user_id or not isinstance(user_id, str):
            raise InputError("user_id must be a non-empty string.", code="invalid_argument")
        if provider is not None and market is not None and provider is not market:
            raise InputError("Pass provider= or market= (its older name), not both.",
                             fix='Use provider="kite", provider="demo" or a provider object.', field="provider",
                             code="invalid_argument")
        self.user_id = user_id
        self.store = store or Store()
        if provider is not None and not isinstance(provider, str):
            from ..market import resolve_provider

            resolve_provider(provider)  # an object that is not a provider fails here, clearly
        self.market = provider if provider is not None else market
        self.portfolio = portfolio
        self.default_portfolio = default_portfolio  # recorded on new threads when portfolio is None
        self.risk_profile = risk_profile if risk_profile is not None else "moderate"
        self.horizon = horizon if horizon is not None else "medium"
        self.as_of = as_of
        self.assistant_id = assistant_id or ensure_default_assistant(self.store).id
        self._backend = backend if not isinstance(backend, str) else None
        self._backend_spec = (backend, dict(backend_options or {}))
        self._registry = registry
        self._max_turns = max_turns
        self._on_delta = on_delta  # called with streamed text fragments (streaming backends only)
        self._runner: Runner | None = None
        explicit = {key: value for key, value in (("portfolio_id", self._portfolio_id(portfolio)),
                                                   ("risk_profile", risk_profile),
                                                   ("investment_horizon", horizon)) if value is not None}
        if thread_id is not None:
            self.thread = self.switch(thread_id)
        else:
            recent = [] if new_thread else self.store.list_threads(user_id=user_id, limit=20)
            # the latest thread with a question: an empty one left by a failed start is not "the latest"
            latest = next((t for t in recent if self.store.list_messages(t.id, limit=1)), None) or \
                (recent[0] if recent else None)
            if latest is not None:
                self.thread = latest
                self.recover()
            else:
                self.new_thread()
                explicit = {}
        if explicit:  # only what the caller passed changes an existing thread's metadata
            self.thread = self.store.update_thread_metadata(self.thread.id, explicit)

    # -- threads -------------------------------------------------------------------------------
    @property
    def thread_id(self) -> str:
        return self.thread.id

    @staticmethod
    def _portfolio_id(portfolio: Any) -> str | None:
        return portfolio if isinstance(portfolio, str) or portfolio is None else (
            getattr(portfolio, "name", None) or getattr(portfolio, "id", None) or "in-memory")

    def _metadata(self) -> dict:
        return {"user_id": self.user_id, "portfolio_id": self._portfolio_id(self.portfolio),
                "risk_profile": self.risk_profile, "investment_horizon": self.horizon}

    def new_thread(self) -> Thread:
        """Start a fresh thread and make it current (it records ``default_portfolio`` when the
        session has no portfolio)."""
        metadata = self._metadata()
        if metadata["portfolio_id"] is None and self.default_portfolio is not None:
            metadata["portfolio_id"] = self._portfolio_id(self.default_portfolio)
        self.thread = self.store.create_thread(metadata, user_id=self.user_id, assistant_id=self.assistant_id)
        return self.thread

    def recover(self) -> list[Run]:
        """Unblock the current thread: fail its runs left active by a dead process and expire its
        ``requires_action`` runs past their expiry (see :meth:`Store.recover`). Returns those runs."""
        return self.store.recover(reason="The process running it stopped before it finished.",
                                  thread_id=self.thread.id)

    def switch(self, thread_id: str) -> Thread:
        """Make one of this user's threads current; its own metadata (portfolio, risk profile)
        governs the next runs."""
        thread = self.store.get_thread(thread_id)
        if thread.user_id not in (None, self.user_id):
            raise InputError(f"Thread {thread_id} belongs to another user.", code="not_found", id=thread_id)
        if getattr(self, "thread", None) is not None and thread.id != self.thread.id:
            self.portfolio = None
        self.thread = thread
        self.recover()
        return thread

    @property
    def backend_label(self) -> tuple[str, str | None]:
        """(backend name, model) this session uses, known before the first run."""
        if self._backend is not None:
            return getattr(self._backend, "name", type(self._backend).__name__), getattr(self._backend, "model", None)
        name, options = self._backend_spec
        return str(name), options.get("model")

    @property
    def on_delta(self):
        """Callback for streamed text fragments (streaming backends only), or None."""
        return self._on_delta

    @on_delta.setter
    def on_delta(self, callback) -> None:
        self._on_delta = callback
        if self._runner is not None:
            self._runner.on_delta = callback

    def threads(self, limit: int = 20) -> list[Thread]:
        """This user's threads, newest first."""
        return self.store.list_threads(user_id=self.user_id, limit=limit)

    def history(self, limit: int = 100) -> list[Message]:
        """Messages of the current thread, oldest first."""
        return self.store.list_messages(self.thread.id, order="asc", limit=limit)

    def audit(self) -> dict:
        """The current thread's full trail (thread, messages, runs, steps) as plain dicts."""
        return self.store.audit(self.thread.id)

    # -- asking --------------------------------------------------------------------------------
    @property
    def runner(self) -> Runner:
        if self._runner is None:
            backend = self._backend
            if backend is None:
                name, options = self._backend_spec
                backend = self._backend = get_backend(str(name), **options)
            self._runner = Runner(self.store, self._registry, backend, context_factory=self._context,
                                  max_turns=self._max_turns, on_delta=self._on_delta)
        return self._runner

    def market_provider(self) -> Any:
        """The session's market-data provider, loaded on first use (a name such as ``"kite"`` becomes
        the provider, with this session's user's Kite login)."""
        if self.market is None or isinstance(self.market, str):
            from ..market import resolve_provider

            self.market = resolve_provider(self.market, self.user_id)
        return self.market

    @property
    def provider(self) -> Any:
        """The session's market-data provider (see :meth:`market_provider`)."""
        return self.market_provider()

    def _context(self, thread: Thread) -> ToolContext:
        meta = thread.metadata
        market = self.market_provider()
        as_of = self.as_of or getattr(market, "default_as_of", None) or _demo_as_of(market)
        return ToolContext(market=market, portfolio=self.portfolio or meta.get("portfolio_id"), as_of=as_of,
                           risk_profile=meta.get("risk_profile", self.risk_profile), thread_id=thread.id,
                           benchmark=meta.get("benchmark"),
                           user_id=self.user_id, extra={"investment_horizon": meta.get("investment_horizon",
                                                                                       self.horizon)})

    def ask(self, text: str, attachments: list[dict] | None = None) -> Answer:
        """Ask a question on the current thread and wait for the answer.

        Raises the matching QlworkError (after the run is stored) if the run failed.
        """
        if not isinstance(text, str) or not text.strip():
            raise InputError("The question is empty.", fix="Ask something, e.g. 'Review my portfolio'.",
                             code="invalid_argument")
        runner = self.runner
        self.recover()  # a run left by a dead process (or waiting too long) must not block the thread
        with self.store.transaction():  # the question and its run appear together or not at all
            self.store.add_message(self.thread.id, "user", text, attachments=attachments)
            run = runner.create_run(self.thread.id, self.assistant_id)
        run = runner.execute(run.id)
        steps = self.store.list_steps(run.id)
        if run.status == "failed":
            error = run.last_error
            code = error.code if error else "failed"
            cls = _ERRORS_BY_CODE.get(code, QlworkError)
            raise cls(f"Run {run.id} failed ({code}): {error.message if error else 'no details'}",
                      code=code, run_id=run.id, thread_id=run.thread_id)
        message = response = None
        if run.status == "completed":
            message = self.store.list_messages(self.thread.id, order="desc", limit=1, run_id=run.id)[0]
            response = TradingResponse.model_validate(message.data)
        return Answer(response=response, message=message, run=run, steps=steps)

    async def aask(self, text: str, attachments: list[dict] | None = None) -> Answer:
        """Async :meth:`ask` (runs in a worker thread)."""
        return await asyncio.to_thread(self.ask, text, attachments)

    def cancel(self) -> Run | None:
        """Cancel the current thread's active run, if any (a run whose process died is failed by
        :meth:`recover` instead of being left ``cancelling`` with nobody to finish it)."""
        self.recover()
        run = self.store.active_run(self.thread.id)
        return self.runner.cancel(run.id) if run else None


def _demo_as_of(market: Any) -> Any:
    if market is None or "demo" not in type(market).__module__:
        return None
    try:
        from ..market.demo import DEMO_AS_OF  # type: ignore[import-not-found]
    except ImportError:
        return None
    return DEMO_AS_OF
