"""What a portfolio holds once funds are seen through, and where its risk comes from.

Used by ``analyze_portfolio`` and ``calculate_risk_metrics``: asset classes from
:mod:`qlwork.market.asset_classes`, look-through exposures (:mod:`qlwork.analytics.lookthrough`) and
risk contributions at today's weights (:mod:`qlwork.analytics.contributions`). Weights are fractions
of market value; volatility annualised; VaR a 1-day return (negative = loss).
"""

from __future__ import annotations

import numpy as np

from ..analytics import contributions as rc
from ..analytics.health import UNCLASSIFIED
from ..analytics.lookthrough import exposures
from ..market.asset_classes import classify, index_sectors, sector_label
from ..formatting import pct
from .context import rnd

TRIM_FRACTION = 0.5
"""The trim proposed to cut risk: half of each top contributor."""
TOP_CONTRIBUTORS = 3


def classes_of(market, symbols: list[str]) -> dict[str, dict]:
    """Asset class per symbol (see :func:`qlwork.market.asset_classes.classify`)."""
    return classify(symbols, market.instruments())


def display_sectors(market, symbols: list[str]) -> list[str]:
    """The sector each symbol shows: NSE industry for stocks, the asset-class bucket for funds."""
    secmap, classes = market.sectors(symbols), classes_of(market, symbols)
    return [sector_label(classes[s]["asset_class"], classes[s]["index"], secmap[s]) for s in symbols]


def look_through(symbols: list[str], weights, sectors: list[str], classes: dict, bench: dict) -> tuple[dict, list[str]]:
    """(look-through exposures, the sector label each holding shows)."""
    fund_sectors, fund_hhi = {}, {}
    for i, s in enumerate(symbols):
        c = classes[s]
        if c["asset_class"] == "index_fund" and c["index"]:
            mix = index_sectors(c["index"], bench)
            if mix:
                fund_sectors[i], fund_hhi[i] = mix[0], 1.0 / mix[1]
    kinds = [classes[s]["asset_class"] if (classes[s]["asset_class"] != "index_fund" or i in fund_sectors) else "fund"
             for i, s in enumerate(symbols)]
    look = exposures(weights, sectors, kinds, fund_sectors, fund_hhi)
    labels = [sector_label(k, classes[s]["index"], sec) for k, s, sec in zip(kinds, symbols, sectors)]
    return look, labels


def risk_contribution_table(close, symbols: list[str], weights, level: float = 0.95, sectors: list[str] | None = None,
                            quantities=None) -> dict:
    """Per-holding contribution to volatility and VaR at today's weights, ranked, with the volatility
    after trimming each holding by :data:`TRIM_FRACTION` alone and the top contributors together.

    With ``quantities`` each row also sizes that trim in whole shares at the last close
    (``trim_shares``, ``trim_amount_inr``, ``weight_after_trim``); with ``sectors`` it gives the
    holding's ``sector`` and the sector's weight after that trim alone (``sector_weight_after_trim``)."""
    prices = close[symbols].ffill().to_numpy(dtype=float)
    rets = prices[1:] / prices[:-1] - 1.0  # NaN before a late listing counts as 0 (analytics.contributions)
    w = np.asarray(weights, dtype=float)
    res = rc.risk_contributions(rets, w, level=level, cuts=w * TRIM_FRACTION)
    alone = res["volatility_after_cuts"]
    order = np.argsort(-res["component"], kind="stable")
    top = [int(i) for i in order[:TOP_CONTRIBUTORS] if res["component"][i] > 0]
    w_after = w.copy()
    w_after[top] *= 1.0 - TRIM_FRACTION
    together = float(rc.risk_contributions(rets, w, alternatives=[w_after])["volatility_alternatives"][0]) if top \
        else res["volatility"]
    key = f"var_{round(level * 100, 1):g}"
    rows = [{"symbol": symbols[i], "weight": rnd(float(w[i])), "volatility_contribution": rnd(float(res["component"][i]), 6),
             "share_of_volatility": rnd(float(res["share"][i])), f"{key}_contribution": rnd(float(res["var_component"][i]), 6),
             "volatility_after_halving": rnd(float(alone[i]))} for i in order]
    if quantities is not None:
        q = np.asarray(quantities, dtype=float)
        last = prices[-1]
        total = float(np.nansum(q * last))
        n = np.ceil(q * TRIM_FRACTION - 1e-9)
        sec = np.asarray(sectors if sectors is not None else [""] * len(symbols), dtype=object)
        for row, i in zip(rows, order):
            row.update(trim_shares=-int(n[i]), trim_amount_inr=rnd(float(-n[i] * last[i]), 2),
                       last_price=rnd(float(last[i]), 2), weight_after_trim=rnd(float((q[i] - n[i]) * last[i] / total)))
            if sectors is not None:
                row.update(sector=str(sec[i]), sector_weight_after_trim=rnd(
                    float(w[sec == sec[i]].sum() - n[i] * last[i] / total)))
    return {
        "method": ("Euler allocation at today's weights: w_i (S w)_i / sigma with S the annualised sample "
                   "covariance of daily returns; VaR components parametric (normal, 1-day); contributions "
                   "sum to the portfolio figure."),
        "volatility": rnd(res["volatility"], 6), f"{key}_parametric": rnd(res["var"], 6),
        "holdings": rows,
        "trim_proposal": {"symbols": [symbols[i] for i in top], "trim_fraction": TRIM_FRACTION,
                          "volatility_before": rnd(res["volatility"]), "volatility_after": rnd(together),
                          "cash_raised_weight": rnd(float(w[top].sum() * TRIM_FRACTION))},
    }


def priority(table: dict, symbols: list[str]) -> list[int]:
    """Position numbers ordered by volatility contribution, largest first."""
    pos = {s: i for i, s in enumerate(symbols)}
    return [pos[r["symbol"]] for r in table["holdings"]]


def unclassified_text(share: float, holdings: list[dict]) -> str:
    names = ", ".join(h["symbol"] for h in holdings if h["sector"] == UNCLASSIFIED)
    return (f"{pct(share)} of the portfolio has no NSE industry ({UNCLASSIFIED}: {names}); it is left out "
            "of the sector-balance score.")


def classes_text(classes: dict) -> str:
    names = {"equity": "stocks", "cash": "cash-like funds", "commodity": "commodities", "index_fund": "index funds "
             "(looked through to their index's sectors)", "fund": "funds of unknown make-up"}
    return "By asset class: " + ", ".join(f"{names[k]} {pct(v)}" for k, v in classes.items()) + "."
