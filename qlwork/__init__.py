"""qlwork: a Jupyter research workbench with an AI trading assistant for Indian equities."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .assistant.session import Session


def open_session(user_id: str, backend: str = "offline", **kw: Any) -> "Session":
    """Open an assistant :class:`~qlwork.assistant.session.Session` for ``user_id``.

    Continues the user's most recent thread unless ``thread_id`` or ``new_thread=True`` is given;
    ``provider`` is the market data (``"demo"``, ``"kite"`` for the user's Kite login, a provider object,
    or the configured default: ``QLWORK_PROVIDER`` / qlwork.toml, else demo); other keywords (store,
    portfolio, risk_profile, horizon, as_of, ...) go to Session (``market=`` is the older name of
    ``provider=``).
    """
    from .assistant.session import Session

    return Session(user_id, backend=backend, **kw)


def trade_history(tradebook: Any, *, holdings: Any = None, provider: Any = None, user_id: str | None = None,
                  as_of: Any = None, start: Any = None, benchmark: str | None = None, **kw: Any) -> dict:
    """What the trades in ``tradebook`` (a Zerodha Console tradebook CSV, a ``date,symbol,side,quantity,
    price`` CSV, or records) earned: FIFO lots, realised/unrealised P&L, short/long-term gains per
    financial year, XIRR (portfolio and per holding), time-weighted return vs ``benchmark`` (default the
    user's, NIFTY 50) from ``start``, and reconciliation with ``holdings`` (a holdings file) when given.
    Prices from ``provider`` (as for :func:`open_session`). See :func:`qlwork.tools.trade_history.
    trade_history_report` for the fields; ``kw`` (``fmv_2018``, ``rules``) go there.
    """
    from .market import resolve_provider
    from .tools.trade_history import trade_history_report

    market = resolve_provider(provider, user_id)
    return trade_history_report(tradebook, market, as_of=as_of, start=start, benchmark=benchmark,
                                holdings=holdings, **kw)
