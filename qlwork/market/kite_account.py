"""The account and live-quote half of the Kite provider: profile, holdings as a portfolio (each holding
priced on its own exchange), and quote / ltp / ohlc in Kite's batch sizes. Mixed into
:class:`qlwork.market.kite.KiteMarketData`, which supplies the client, the instrument dump, the exchange
routes of held symbols and the clock.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd

from ..config import TIMEZONE
from ..errors import InputError, ProviderError, QlworkError
from . import kite_auth

if TYPE_CHECKING:  # only a type here; the loaders are imported where holdings are read
    from ..portfolio import Portfolio

log = logging.getLogger("qlwork.market.kite")

PROVIDER = "kite"
BATCH = {"quote": 500, "ltp": 1000, "ohlc": 1000}
"""Kite's maximum instruments per quote call."""


class Partial(dict):
    """A result mapping plus ``failures``: ``{symbol: error dict}`` for the symbols that failed."""

    failures: dict[str, dict]

    def __init__(self, *args, failures: dict | None = None, **kw) -> None:
        super().__init__(*args, **kw)
        self.failures = dict(failures or {})


def _ist_times(quote: dict) -> dict:
    """``quote`` with ``timestamp`` / ``last_trade_time`` as tz-aware Asia/Kolkata datetimes (Kite sends
    exchange time without an offset; kiteconnect parses it naive)."""
    out = dict(quote)
    for field in ("timestamp", "last_trade_time"):
        value = out.get(field)
        if not value:
            continue
        try:
            stamp = pd.Timestamp(value)
        except (TypeError, ValueError):
            continue
        stamp = stamp.tz_localize(TIMEZONE) if stamp.tzinfo is None else stamp.tz_convert(TIMEZONE)
        out[field] = stamp.to_pydatetime()
    return out


class KiteAccount:
    """Quotes and the account's holdings (see the module docstring)."""

    @staticmethod
    def _check_failures(names, failures: dict[str, QlworkError], what: str) -> None:
        if not failures:
            return
        if len(failures) == len(names):
            first = next(iter(failures.values()))
            if len(names) == 1:
                raise first
            raise type(first)(f"Kite {what} failed for all {len(names)} symbols; first error: {first.message}",
                              fix=first.fix, provider=PROVIDER,
                              failures={s: e.to_dict() for s, e in failures.items()})
        log.warning("kite: %s failed for %d of %d symbols: %s", what, len(failures), len(names),
                    ", ".join(failures))

    # -- quotes -----------------------------------------------------------------------------
    def _batched(self, kind: str, symbols) -> Partial:
        listed = self.listings(symbols)
        names = [sym for sym, _, _ in listed]
        keys = [f"{exchange}:{sym}" for sym, exchange, _ in listed]
        size = BATCH[kind]
        call = getattr(self._client, kind)
        out, failures = Partial(), {}
        for i in range(0, len(keys), size):
            batch = keys[i:i + size]
            try:
                data = call(batch)
            except QlworkError as exc:
                if exc.details.get("reason") == "token":
                    raise
                failures.update({k.split(":", 1)[1]: exc for k in batch})
                continue
            for key in batch:
                if key in data:
                    out[key] = _ist_times(data[key]) if kind == "quote" else data[key]
        out.failures = {s: e.to_dict() for s, e in failures.items()}
        self._check_failures(names, failures, kind)
        return out

    def quote(self, symbols) -> Partial:
        """Kite full quotes keyed ``"NSE:SYMBOL"`` (``"BSE:SYMBOL"`` for a symbol held on BSE; batches of
        500; fields as Kite returns them, ``timestamp`` and ``last_trade_time`` tz-aware Asia/Kolkata)."""
        return self._batched("quote", symbols)

    def ltp(self, symbols) -> Partial:
        """``{"NSE:SYMBOL": {"instrument_token", "last_price"}}`` (batches of 1000)."""
        return self._batched("ltp", symbols)

    def ohlc(self, symbols) -> Partial:
        """``{"NSE:SYMBOL": {"instrument_token", "last_price", "ohlc"}}`` (batches of 1000)."""
        return self._batched("ohlc", symbols)

    # -- account (read-only) ----------------------------------------------------------------
    def profile(self) -> dict:
        """The logged-in user's Kite profile (user_id, user_name, ...)."""
        return self._client.profile()

    def _check_account(self) -> None:
        """Once per provider: the token's Kite account (``GET /user/profile``) must be the one recorded in
        the user's token file, so one user's report can never show another account's holdings."""
        if self._account_checked or not self._kite_user:
            return
        actual = str(self.profile().get("user_id") or "")
        if actual != self._kite_user:
            raise ProviderError(f"The Kite token stored for {self.user_id!r} belongs to Kite account {actual!r}, "
                                f"but the token file records {self._kite_user!r}; refusing to read holdings.",
                                fix=kite_auth.login_fix(self.user_id), provider=PROVIDER, reason="mismatch",
                                user=self.user_id)
        self._account_checked = True

    def holdings(self) -> list[dict]:
        """Kite holdings as returned by ``GET /portfolio/holdings`` (INR), after checking the account."""
        self._check_account()
        return list(self._client.holdings())

    def mf_holdings(self) -> list[dict]:
        """Kite's mutual fund holdings as returned by ``GET /mf/holdings`` (units, NAVs in INR), after
        checking the account."""
        self._check_account()
        return list(self._client.mf_holdings())

    def mf_portfolio(self, name: str = "kite-mf"):
        """The mutual fund holdings as :class:`qlwork.portfolio.funds.FundPortfolio` (category from the
        scheme name: equity / debt / hybrid / liquid / index / other)."""
        from ..portfolio.funds import funds_from_kite

        return funds_from_kite(self.mf_holdings(), name=name)

    def portfolio(self, name: str = "kite") -> Portfolio:
        """The Kite holdings as a :class:`qlwork.portfolio.Portfolio`, each holding priced on its own
        exchange.

        Quantities follow Kite's documented semantics (:func:`qlwork.portfolio.loaders.kite_position`:
        T1 counted once, shares sold today removed, MTF shares added, pledged shares kept); zero positions
        are skipped (``metadata["skipped"]``). A holding on NSE uses the NSE instrument; one on another
        exchange (BSE) uses the ``instrument_token`` Kite sent with it, for candles and quotes of that
        symbol from this provider. A holding that cannot be priced (no instrument at all) is left out and
        named in ``metadata["symbols_without_data"]`` with the reason; only an account with nothing left
        raises.
        """
        from ..portfolio import load_portfolio
        from ..portfolio.loaders import kite_records

        records, skipped, without, notes = kite_records(self.holdings())
        dump = set(self._load_dump()["tradingsymbol"])
        rows, exchanges = [], {}
        for rec in records:
            sym = str(rec.get("tradingsymbol") or "").strip().upper()
            exch = str(rec.get("exchange") or self.exchange).strip().upper()
            token = rec.get("instrument_token")
            if rec.get("isin"):
                self._isins[sym] = str(rec["isin"])
            if exch == self.exchange and sym in dump:
                self._routes.pop(sym, None)
            elif str(token or "").strip().isdigit() and int(token) > 0:
                self._routes[sym] = (exch, int(token))
                exchanges[sym] = exch
            else:
                without.append({"symbol": sym, "reason": f"no {exch} instrument: Kite sent no instrument_token "
                                                         f"and {sym} is not in the {self.exchange} list"})
                continue
            rows.append(rec)
        if not rows:
            names = ", ".join(f"{w['symbol']} ({w['reason']})" for w in without)
            raise InputError("The Kite account has no holdings qlwork can value" + (f": {names}." if names else "."),
                             fix="Use a CSV/JSON portfolio or a sample.", provider=PROVIDER,
                             symbols_without_data=without or None)
        port = load_portfolio(rows, known_symbols=dump | set(self._routes), name=name)
        meta = dict(port.metadata, format="kite", provider=PROVIDER, as_of=self.now().isoformat(),
                    skipped=skipped)
        if without:
            meta["symbols_without_data"] = without
        if exchanges:
            meta["exchanges"] = exchanges
        if notes:
            meta["quantities"] = notes
        return port.model_copy(update={"source": "kite:holdings", "metadata": meta})
