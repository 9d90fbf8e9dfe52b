"""FIFO tax lots from a trade history, realised and unrealised P&L per lot, and the short-/long-term
classification of Indian listed equity (shares on which STT is paid).

Rules (parameters of :class:`TaxRules`, with their sources):

- Long-term when held for **more than 12 months** (Income-tax Act 1961, s. 2(42A) proviso: 12 months for
  listed equity shares); otherwise short-term (s. 111A).
- **Grandfathering** (s. 112A(2)-(4), Finance Act 2018): for shares bought on or before 31 January 2018,
  the cost of acquisition is ``max(actual cost, min(fair market value on 31 Jan 2018, sale price))``, the
  fair market value being the highest price quoted on that day (``fmv_2018`` per symbol, given by the
  caller). Only long-term gains use it.
- Rates (s. 111A and 112A as amended by the Finance (No. 2) Act 2024, for transfers on or after 23 July
  2024): short-term 20%, long-term 12.5% on gains above INR 1,25,000 a financial year; before that date
  15%, and 10% above INR 1,00,000. Surcharge and cess are left out (they depend on the investor's income).
- FIFO: shares sold are those bought first (CBDT Circular 768 of 1998 for demat holdings).
- Bonus shares have a cost of zero and are held from their allotment date (s. 55(2)(aa)(iiia), s. 2(42A)).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from .trades import Trade

GRANDFATHER_DATE = dt.date(2018, 1, 31)


@dataclass(frozen=True)
class TaxRegime:
    """Rates for transfers from ``effective_from``: fractions and the yearly LTCG exemption in INR."""

    effective_from: dt.date
    stcg_rate: float
    ltcg_rate: float
    ltcg_exemption: float
    source: str


@dataclass(frozen=True)
class TaxRules:
    """Indian listed-equity capital-gains rules (see the module docstring for the sources)."""

    long_term_months: int = 12
    grandfather_date: dt.date = GRANDFATHER_DATE
    regimes: tuple[TaxRegime, ...] = (
        TaxRegime(dt.date(2018, 4, 1), 0.15, 0.10, 100_000.0, "Income-tax Act s. 111A / 112A (Finance Act 2018)"),
        TaxRegime(dt.date(2024, 7, 23), 0.20, 0.125, 125_000.0,
                  "Income-tax Act s. 111A / 112A as amended by the Finance (No. 2) Act 2024"),
    )

    def regime(self, day: dt.date) -> TaxRegime:
        """The rates that apply to a transfer on ``day``."""
        chosen = self.regimes[0]
        for r in self.regimes:
            if day >= r.effective_from:
                chosen = r
        return chosen


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole months (the last day of the month when the day does not exist, e.g. 29 Feb)."""
    import calendar

    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def is_long_term(bought: dt.date, sold: dt.date, rules: TaxRules = TaxRules()) -> bool:
    """Held for more than ``rules.long_term_months`` months: sold after the same date 12 months on."""
    return sold > add_months(bought, rules.long_term_months)


def financial_year(day: dt.date) -> str:
    """Indian financial year (April-March) of ``day``, e.g. ``"FY2024-25"``."""
    start = day.year if day.month >= 4 else day.year - 1
    return f"FY{start}-{str(start + 1)[-2:]}"


@dataclass
class Lot:
    """Shares bought (or credited) together and still held: INR per share."""

    symbol: str
    date: dt.date
    quantity: int
    price: float
    source: str = "buy"  # "buy" | "bonus"
    row: int | None = None


@dataclass(frozen=True)
class ClosedLot:
    """A sale matched to one buy lot (FIFO): ``gain = proceeds - cost`` in INR; ``cost`` is the
    grandfathered cost for a long-term lot bought on or before 31 Jan 2018."""

    symbol: str
    bought: dt.date
    sold: dt.date
    quantity: int
    buy_price: float
    sell_price: float
    cost: float
    proceeds: float
    gain: float
    holding_days: int
    term: str  # "short" | "long"
    grandfathered: bool
    financial_year: str
    sell_row: int | None = None


@dataclass
class LotBook:
    """The result of :func:`fifo_lots`: open lots per symbol (oldest first) and closed lots in sale order."""

    open: dict[str, list[Lot]] = field(default_factory=dict)
    closed: list[ClosedLot] = field(default_factory=list)

    def quantities(self) -> dict[str, int]:
        """Shares held per symbol (symbols with none left out)."""
        return {s: q for s, lots in self.open.items() if (q := sum(lot.quantity for lot in lots)) > 0}


def _close(lot: Lot, qty: int, t: Trade, rules: TaxRules, fmv_2018: Mapping[str, float]) -> ClosedLot:
    cost = lot.price * qty
    proceeds = t.price * qty
    long = is_long_term(lot.date, t.date, rules)
    grand = False
    if long and lot.date <= rules.grandfather_date and t.symbol in fmv_2018:
        fmv = float(fmv_2018[t.symbol])
        per_share = max(lot.price, min(fmv, t.price))
        grand = per_share != lot.price
        cost = per_share * qty
    return ClosedLot(symbol=t.symbol, bought=lot.date, sold=t.date, quantity=qty, buy_price=lot.price,
                     sell_price=t.price, cost=round(cost, 6), proceeds=round(proceeds, 6),
                     gain=round(proceeds - cost, 6), holding_days=(t.date - lot.date).days,
                     term="long" if long else "short", grandfathered=grand, financial_year=financial_year(t.date),
                     sell_row=t.row)


def fifo_lots(trades: list[Trade], *, rules: TaxRules = TaxRules(),
              fmv_2018: Mapping[str, float] | None = None) -> LotBook:
    """Match sells to the oldest lots first. ``trades`` in date order (as :func:`~.trades.load_trades`
    returns them, which also guarantees no sell exceeds the shares held). ``fmv_2018``: the highest
    price of each symbol on 31 Jan 2018 (INR), for grandfathering; symbols missing from it keep their cost."""
    book = LotBook()
    fmv = dict(fmv_2018 or {})
    queues: dict[str, deque[Lot]] = {}
    for t in trades:
        q = queues.setdefault(t.symbol, deque())
        if t.side in ("buy", "bonus"):
            q.append(Lot(t.symbol, t.date, t.quantity, t.price if t.side == "buy" else 0.0, t.side, t.row))
            continue
        left = t.quantity
        while left:
            lot = q[0]
            take = min(left, lot.quantity)
            book.closed.append(_close(lot, take, t, rules, fmv))
            lot.quantity -= take
            left -= take
            if lot.quantity == 0:
                q.popleft()
    book.open = {s: list(q) for s, q in queues.items() if q}
    return book


def unrealised(book: LotBook, prices: Mapping[str, float], as_of: dt.date,
               rules: TaxRules = TaxRules()) -> list[dict]:
    """Per open lot: ``{"symbol", "bought", "quantity", "buy_price", "last_price", "cost", "value", "gain",
    "holding_days", "term"}`` (the term it would have if sold on ``as_of``); symbols without a price are
    left out."""
    out = []
    for sym, lots in book.open.items():
        if sym not in prices:
            continue
        last = float(prices[sym])
        for lot in lots:
            out.append({"symbol": sym, "bought": lot.date.isoformat(), "quantity": lot.quantity,
                        "buy_price": lot.price, "last_price": last, "cost": round(lot.price * lot.quantity, 2),
                        "value": round(last * lot.quantity, 2), "gain": round((last - lot.price) * lot.quantity, 2),
                        "holding_days": (as_of - lot.date).days,
                        "term": "long" if is_long_term(lot.date, as_of, rules) else "short", "source": lot.source})
    return out


def gains_by_year(closed: list[ClosedLot], rules: TaxRules = TaxRules()) -> dict[str, dict]:
    """Per financial year: short- and long-term gains (INR, losses netted within each term), the LTCG
    exemption and an estimate of tax at each sale's rates (before surcharge and cess; losses are not
    carried forward here)."""
    out: dict[str, dict] = {}
    for c in closed:
        year = out.setdefault(c.financial_year, {"short_term": 0.0, "long_term": 0.0, "stcg_tax": 0.0,
                                                 "ltcg_tax": 0.0, "_ltcg": []})
        year["short_term" if c.term == "short" else "long_term"] += c.gain
        regime = rules.regime(c.sold)
        if c.term == "short":
            year["stcg_tax"] += c.gain * regime.stcg_rate
        else:
            year["_ltcg"].append((c.gain, regime))
    for year in out.values():
        gains = year.pop("_ltcg")
        total = sum(g for g, _ in gains)
        exemption = max((r.ltcg_exemption for _, r in gains), default=0.0)
        taxable = max(0.0, total - exemption)
        rate = (sum(g * r.ltcg_rate for g, r in gains) / total) if total > 0 else 0.0
        year.update(ltcg_exemption=exemption, ltcg_taxable=round(taxable, 2), ltcg_tax=round(taxable * rate, 2),
                    stcg_tax=round(max(0.0, year["stcg_tax"]), 2), short_term=round(year["short_term"], 2),
                    long_term=round(total, 2))
    return dict(sorted(out.items()))
