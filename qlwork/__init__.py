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
