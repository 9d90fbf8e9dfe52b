"""Look-through exposures: what a portfolio holds once funds are seen through.

Each holding has an asset class (:data:`ASSET_CLASSES`): ``equity`` (a single stock, its own sector),
``cash`` (liquid / money-market funds), ``commodity`` (gold, silver), ``index_fund`` (an index ETF,
spread over its index's sector weights) or ``fund`` (a fund of unknown make-up). Weights are fractions
of portfolio value (normalised to sum to 1).

* ``sector_weights``: sector -> weight of the whole portfolio; index funds are spread over their
  index's sectors, cash and commodities are the buckets :data:`CASH` and :data:`COMMODITIES`, unknown
  funds :data:`UNKNOWN_FUND`. These buckets are outside the sector balance (no benchmark sector).
* ``single_name``: the largest single-issuer exposure (stocks only: a fund is many issuers, cash is
  not an issuer risk) and its position number.
* ``hhi``: look-through Herfindahl ``sum(w_stock^2) + sum(w_fund^2 * h_fund)`` where ``h_fund`` is the
  fund's own HHI (its index constituents; 1/50 when not given; an unknown fund counts as one name).
  Cash and commodities add nothing: they are not issuer concentration. ``effective_exposures`` is
  ``1 / hhi``, capped at :data:`MAX_EFFECTIVE` (an all-cash portfolio has no issuer concentration).
"""

from __future__ import annotations

import numpy as np

from qlwork.errors import InputError

__all__ = ["ASSET_CLASSES", "CASH", "COMMODITIES", "UNKNOWN_FUND", "OUTSIDE_SECTORS", "exposures"]

ASSET_CLASSES = ("equity", "cash", "commodity", "index_fund", "fund")
CASH = "Cash & equivalents"
COMMODITIES = "Commodities"
UNKNOWN_FUND = "Unclassified fund"
OUTSIDE_SECTORS = (CASH, COMMODITIES, UNKNOWN_FUND)
"""Exposure buckets with no benchmark sector: left out of the sector balance."""
DEFAULT_FUND_HHI = 1.0 / 50
MAX_EFFECTIVE = 1000.0


def exposures(weights, sectors, classes=None, fund_sectors=None, fund_hhi=None) -> dict:
    """Look-through exposures of holdings (see module docstring).

    ``sectors`` is one label per holding (used for stocks); ``classes`` one of :data:`ASSET_CLASSES`
    per holding (default all ``equity``); ``fund_sectors`` maps a holding's position number to its
    index's sector weights (summing to 1) for ``index_fund`` holdings; ``fund_hhi`` maps position
    number to the index's own HHI. Returns ``{"sector_weights", "single_name", "single_name_index",
    "hhi", "effective_exposures", "cash", "commodity", "classes", "position_classes"}`` (classes: weight
    per class; position_classes: the class of each holding).
    """
    w = np.asarray(weights, dtype=float)
    n = w.size
    if w.ndim != 1 or n == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InputError("weights must be a non-empty 1-D array of non-negative finite values.",
                         fix="Pass one weight per holding.")
    w = w / w.sum()
    sectors = [str(s) for s in sectors]
    classes = ["equity"] * n if classes is None else [str(c) for c in classes]
    if len(sectors) != n or len(classes) != n:
        raise InputError(f"{len(sectors)} sectors and {len(classes)} classes for {n} weights.",
                         fix="Pass one sector and one asset class per holding.")
    unknown = sorted(set(classes) - set(ASSET_CLASSES))
    if unknown:
        raise InputError(f"Unknown asset classes {unknown}.", fix=f"Use {', '.join(ASSET_CLASSES)}.")
    cls = np.asarray(classes)
    fund_sectors = dict(fund_sectors or {})
    fund_hhi = dict(fund_hhi or {})
    index_funds = [i for i in range(n) if classes[i] == "index_fund" and fund_sectors.get(i)]
    # holdings x buckets: a stock loads fully on its sector, an index fund on its index's sectors
    label = np.array([sectors[i] if c == "equity" else CASH if c == "cash" else COMMODITIES if c == "commodity"
                      else UNKNOWN_FUND for i, c in enumerate(classes)], dtype=object)
    names = sorted(set(label[[i for i in range(n) if i not in index_funds]])
                   | {s for i in index_funds for s in fund_sectors[i]})
    col = {s: j for j, s in enumerate(names)}
    load = np.zeros((n, len(names)))
    direct = np.array([i not in index_funds for i in range(n)])
    load[np.flatnonzero(direct), [col[s] for s in label[direct]]] = 1.0
    for i in index_funds:
        mix = np.array([max(0.0, float(v)) for v in fund_sectors[i].values()])
        load[i, [col[s] for s in fund_sectors[i]]] = mix / mix.sum()
    totals = w @ load
    order = sorted(range(len(names)), key=lambda j: (-totals[j], names[j]))
    stock = cls == "equity"
    fund = np.isin(cls, ("index_fund", "fund"))
    h_fund = np.array([float(fund_hhi.get(i, DEFAULT_FUND_HHI if classes[i] == "index_fund" else 1.0))
                       for i in range(n)])
    hhi = float(np.sum(np.where(stock, w * w, 0.0)) + np.sum(np.where(fund, w * w * h_fund, 0.0)))
    single = np.where(stock, w, 0.0)
    return {
        "sector_weights": {names[j]: float(totals[j]) for j in order if totals[j] > 0},
        "single_name": float(single.max()), "single_name_index": int(single.argmax()),
        "hhi": hhi, "effective_exposures": min(MAX_EFFECTIVE, 1.0 / hhi) if hhi > 0 else MAX_EFFECTIVE,
        "cash": float(w[cls == "cash"].sum()), "commodity": float(w[cls == "commodity"].sum()),
        "classes": {c: float(w[cls == c].sum()) for c in ASSET_CLASSES if np.any(cls == c)},
        "position_classes": classes,
    }
