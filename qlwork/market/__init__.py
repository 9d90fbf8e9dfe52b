"""Market data providers behind one protocol (:class:`MarketData`).

``get_provider("demo")`` gives the deterministic synthetic universe (the default). The Kite Connect
provider lives in ``qlwork.market.kite``. :func:`resolve_provider` is what every ``provider=`` argument
(sessions, the chat widget, the weekly review, the batch, ``qlwork chat --provider``) goes through: a
name, a provider object, or None for the configured default (``QLWORK_PROVIDER``, else ``provider`` under
``[qlwork]`` in qlwork.toml, else ``"demo"``).
"""

from __future__ import annotations

from typing import Callable

from ..errors import InputError
from ..symbols import resolve_symbols
from .base import CANDLE_COLUMNS, Candles, MarketData, parse_date, priceable_symbols
from .demo import DEMO_AS_OF, DemoMarketData

__all__ = ["CANDLE_COLUMNS", "Candles", "DEMO_AS_OF", "DemoMarketData", "MarketData", "get_provider", "priceable_symbols",
           "parse_date", "resolve_symbols", "PROVIDERS", "resolve_provider", "provider_name"]


def _kite(**kw) -> MarketData:
    try:
        from .kite import KiteMarketData  # type: ignore[attr-defined]
    except ImportError:
        raise InputError(
            "The Kite provider is not available in this installation; it is provided by qlwork.market.kite "
            "and needs a Kite Connect login.",
            fix='Run `qlwork kite login` once qlwork.market.kite is installed, or use provider "demo".',
            provider="kite",
        ) from None
    return KiteMarketData(**kw)


PROVIDERS: dict[str, Callable[..., MarketData]] = {
    "demo": DemoMarketData,
    "kite": _kite,  # the Kite engineer replaces this with the real factory (one line)
}


def get_provider(name: str = "demo", user_id: str | None = None, **kw) -> MarketData:
    """A market-data provider by name (``"demo"``; ``"kite"`` needs ``qlwork kite login --user ID``).

    ``user_id`` selects whose Kite login to use (ignored by providers without per-user data, e.g. demo).
    """
    key = str(name).strip().lower() if name is not None else "demo"
    factory = PROVIDERS.get(key)
    if factory is None:
        raise InputError(f"Unknown market data provider {name!r}.",
                         fix=f"Use one of: {', '.join(sorted(PROVIDERS))}.", provider=name)
    if user_id is not None and key == "kite":
        kw["user_id"] = user_id
    return factory(**kw)


def provider_name(provider) -> str:
    """The name of ``provider`` (a name, a provider object, or None for the configured default)."""
    if provider is None:
        from ..config import load_settings

        provider = load_settings().provider
    if isinstance(provider, str):
        return provider.strip().lower()
    return str(getattr(provider, "name", type(provider).__name__))


def resolve_provider(provider=None, user_id: str | None = None) -> MarketData:
    """A market-data provider from a ``provider=`` argument: ``"demo"``, ``"kite"`` (that user's Kite
    login), a provider object (returned as is), or None for the configured default (see module docstring).
    InputError for an unknown name or an object that is not a provider."""
    if provider is None or isinstance(provider, str):
        return get_provider(provider_name(provider), user_id=user_id)
    missing = [m for m in ("metadata", "instruments", "close_prices", "sectors", "last_date")
               if not callable(getattr(provider, m, None))]
    if missing:
        raise InputError(f"provider must be a name ({', '.join(sorted(PROVIDERS))}) or a market-data provider "
                         f"object; a {type(provider).__name__} has no {', '.join(missing)}.",
                         fix='Pass provider="demo", provider="kite" or e.g. get_provider("kite", user_id=...).',
                         field="provider")
    return provider
