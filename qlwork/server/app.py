"""The ASGI app: ``create_app()`` wires the store, keys, run engine and routes together."""

from __future__ import annotations

import os
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from .. import __version__
from ..db import database_url
from ..assistant.store.leases import LEASE_SECONDS
from ..assistant.defaults import ensure_default_assistant
from ..market import get_provider, priceable_symbols
from ..assistant.store import DEFAULT_ACTION_TIMEOUT, Store
from .access import Access
from .auth import ServerState
from .common import JSON
from .engine import RunEngine
from .errors import install
from .keys import KeyStore
from .limits import BodySizeLimit
from .runners import DEFAULT_RUNNERS

SYMBOLS_TTL = 60.0
"""Seconds the market's symbol list (checked against attached holdings) is kept between reads."""

DESCRIPTION = """An Assistants-API-compatible server for qlwork (OpenAI Assistants v2 shapes).

Point code written for `client.beta.assistants` / `client.beta.threads` at it by changing only
`base_url` (`http://127.0.0.1:8765/v1`) and `api_key` (a key from `qlwork serve keys create --user ID`).
Runs execute qlwork's runner with its trading tools; answers are TradingResponse JSON in the
assistant message's text. Research output, not investment advice."""


def create_app(store: Store | None = None, *, home: str | os.PathLike | None = None, backend: str = "offline",
               workers: int = 4, max_pending_per_user: int = 64, poll_after_ms: int = 25,
               poll_wait: float = 2.0, market=None, grace_seconds: float = 30.0,
               lease_seconds: float = LEASE_SECONDS, action_timeout: float = DEFAULT_ACTION_TIMEOUT,
               max_runners: int = DEFAULT_RUNNERS, model: str | None = None) -> FastAPI:
    """Build the app. The store is ``QLWORK_DATABASE_URL`` (PostgreSQL) if set, else the SQLite file
    in ``home`` (or $QLWORK_HOME).

    ``backend``: default model backend for assistants that do not name one and users without a
    preference; ``model``: its model when neither the assistant, the run nor the user's preferences
    name one. ``workers``: runs executed at once. ``poll_wait``: how long a poll-helper retrieve
    may wait for a run to rest (0 disables the wait). ``grace_seconds``: how long a stop waits for
    runs executing here; ``lease_seconds``: how soon another server takes over this one's runs if it
    dies; ``action_timeout``: seconds a ``requires_action`` run waits for tool outputs (docs/server.md,
    "Operations"); ``max_runners``: backend configurations kept ready (least recently used closed).
    """
    if store is None:
        url = database_url()  # a shared PostgreSQL database wins over the home's SQLite file
        store = Store(url) if url else Store(Path(home) / "qlwork.db") if home is not None else Store()
    from . import files as files_routes

    keys = KeyStore(store)
    default_assistant = ensure_default_assistant(store)
    built: list[RunEngine] = []  # the engine recovers runs while it is built, so the resolver must not need it

    symbols: list[tuple[float, set[str]]] = []  # (when read, the market's symbols): read once a minute

    def known_symbols() -> set[str]:
        if symbols and time.monotonic() - symbols[0][0] < SYMBOLS_TTL:
            return symbols[0][1]
        source = built[0].market if built else (market if market is not None else get_provider("demo"))
        known = priceable_symbols(source)
        symbols[:] = [(time.monotonic(), known)]
        return known

    resolver = files_routes.portfolio_resolver(store, known_symbols)
    engine = RunEngine(store, default_backend=backend, workers=workers, max_pending_per_user=max_pending_per_user,
                       market=market, default_assistant_id=default_assistant.id, portfolio_resolver=resolver,
                       lease_seconds=lease_seconds, action_timeout=action_timeout, max_runners=max_runners,
                       default_model=model)
    built.append(engine)
    st = ServerState(store=store, keys=keys, access=Access(store, keys, default_assistant.id), engine=engine,
                     poll_after_ms=poll_after_ms, poll_wait=poll_wait)
    st.extras["files"] = files_routes.file_access(store)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        from ..tools.parse_process import stop_on_signals

        stop_on_signals()  # SIGTERM kills running file parses first, so shutdown never waits on one
        yield
        engine.close(grace_seconds)

    app = FastAPI(title="qlwork Assistants API", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, default_response_class=JSON)
    app.state.qlwork = st
    install(app)
    app.add_middleware(BodySizeLimit)  # every route: 413 naming the limit before an oversized body is read

    from .routes_assistants import router as assistants
    from .routes_runs import router as runs
    from .routes_threads import router as threads
    from .routes_vector_stores import router as vector_stores

    app.include_router(assistants)
    app.include_router(runs)  # before threads: POST /v1/threads/runs is not a thread id
    app.include_router(threads)
    for router in files_routes.routers():
        app.include_router(router)
    app.include_router(vector_stores)

    @app.get("/health", include_in_schema=False)
    async def health() -> JSON:
        return JSON({"status": "ok", "version": __version__})

    @app.get("/ready", include_in_schema=False)
    def ready() -> JSON:  # a thread, not the event loop: the store may be slow to answer
        return JSON(*readiness(st))

    return app


def readiness(st: ServerState) -> tuple[dict, int]:
    """(body, status) of /ready: 200 when the store answers and the run workers are alive."""
    checks = {"store": "ok", "workers": "ok" if st.engine.alive() else
              ("draining" if st.engine.draining else "stopped")}
    try:
        st.store.connection().execute("SELECT 1 FROM runs LIMIT 1").fetchall()
    except Exception as exc:  # any failure to read means not ready
        checks["store"] = f"unreachable: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return {"status": "ready" if ok else "not ready", **checks}, 200 if ok else 503
