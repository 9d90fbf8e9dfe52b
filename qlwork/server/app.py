"""The ASGI app: ``create_app()`` wires the store, keys, run engine and routes together."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from .. import __version__
from ..assistant.defaults import ensure_default_assistant
from ..assistant.store import Store
from .access import Access
from .auth import ServerState
from .common import JSON
from .engine import RunEngine
from .errors import install
from .keys import KeyStore
from .limits import BodySizeLimit

DESCRIPTION = """An Assistants-API-compatible server for qlwork (OpenAI Assistants v2 shapes).

Point code written for `client.beta.assistants` / `client.beta.threads` at it by changing only
`base_url` (`http://127.0.0.1:8765/v1`) and `api_key` (a key from `qlwork serve keys create --user ID`).
Runs execute qlwork's runner with its trading tools; answers are TradingResponse JSON in the
assistant message's text. Research output, not investment advice."""


def create_app(store: Store | None = None, *, home: str | os.PathLike | None = None, backend: str = "offline",
               workers: int = 4, max_pending_per_user: int = 64, poll_after_ms: int = 25,
               poll_wait: float = 2.0, market=None) -> FastAPI:
    """Build the app. ``home`` (or the store's folder, or $QLWORK_HOME) holds the SQLite store.

    ``backend``: default model backend for assistants that do not name one and users without a
    preference. ``workers``: runs executed at once. ``poll_wait``: how long a poll-helper retrieve
    may wait for a run to rest (0 disables the wait).
    """
    if store is None:
        store = Store(Path(home) / "qlwork.db") if home is not None else Store()
    from . import files as files_routes

    keys = KeyStore(store)
    default_assistant = ensure_default_assistant(store)
    resolver = files_routes.portfolio_resolver(store)
    engine = RunEngine(store, default_backend=backend, workers=workers, max_pending_per_user=max_pending_per_user,
                       market=market, default_assistant_id=default_assistant.id, portfolio_resolver=resolver)
    st = ServerState(store=store, keys=keys, access=Access(store, keys, default_assistant.id), engine=engine,
                     poll_after_ms=poll_after_ms, poll_wait=poll_wait)
    st.extras["files"] = files_routes.file_access(store)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        from ..tools.parse_process import stop_on_signals

        stop_on_signals()  # SIGTERM kills running file parses first, so shutdown never waits on one
        yield
        engine.close()

    app = FastAPI(title="qlwork Assistants API", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, default_response_class=JSON)
    app.state.qlwork = st
    install(app)
    app.add_middleware(BodySizeLimit)  # every route: 413 naming the limit before an oversized body is read

    from .routes_assistants import router as assistants
    from .routes_runs import router as runs
    from .routes_threads import router as threads

    app.include_router(assistants)
    app.include_router(runs)  # before threads: POST /v1/threads/runs is not a thread id
    app.include_router(threads)
    for router in files_routes.routers():
        app.include_router(router)

    @app.get("/health", include_in_schema=False)
    async def health() -> JSON:
        return JSON({"status": "ok", "version": __version__})

    return app
