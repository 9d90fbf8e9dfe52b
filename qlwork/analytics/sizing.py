"""Sizing arithmetic for portfolio-aware recommendations: limits, target weights, whole shares.

Weights are fractions of portfolio value (market value of all holdings, cash-like funds included);
sale proceeds stay in the portfolio as cash, so total value is unchanged by a plan. Prices in INR.

Limits of a risk profile (:func:`limits`)
-----------------------------------------
* ``position_cap``: the largest weight one stock should have, ``health.target_weight`` over the
  stocks (``max(s/n, min(single-name cap, 1.5*s/n))``, s = share in stocks).
* ``sector_cap`` of a sector: its benchmark weight plus ``sector_active_cap`` (conservative 5 pp,
  moderate 10 pp, aggressive 15 pp); a sector the benchmark lacks may hold ``sector_active_cap``.
* ``cash_floor``: the least share in cash-like funds and commodities (the defensive part): 10% for
  conservative, none for the others.

:func:`trim_targets` lowers stock weights to meet the limits, in order: position cap, sector cap
(the sector's stocks scaled down pro rata; funds are not trimmed), cash floor (taken from the stocks in
``priority`` order, typically largest risk contribution first, each cut to at most half its weight).
"""

from __future__ import annotations

import numpy as np

from qlwork.errors import InputError

from .health import PROFILES, target_weight

__all__ = ["PROFILE_LIMITS", "limits", "sector_caps", "trim_targets", "whole_shares"]

PROFILE_LIMITS = {
    "conservative": {"sector_active_cap": 0.05, "cash_floor": 0.10},
    "moderate": {"sector_active_cap": 0.10, "cash_floor": 0.0},
    "aggressive": {"sector_active_cap": 0.15, "cash_floor": 0.0},
}


def limits(risk_profile: str, n_stocks: int, invested: float) -> dict:
    """``{"position_cap", "single_name_cap", "sector_active_cap", "cash_floor"}`` for the profile."""
    if risk_profile not in PROFILE_LIMITS:
        raise InputError(f"Unknown risk_profile {risk_profile!r}.", fix=f"Use one of {sorted(PROFILE_LIMITS)}.")
    cap = target_weight(max(n_stocks, 1), risk_profile, invested=invested) if n_stocks else 0.0
    return {"position_cap": float(cap), "single_name_cap": PROFILES[risk_profile]["single_name_cap"],
            **PROFILE_LIMITS[risk_profile]}


def sector_caps(sectors: list[str], benchmark: dict[str, float] | None, active_cap: float) -> np.ndarray:
    """Cap per sector: its benchmark weight (0 when absent) plus ``active_cap``."""
    bench = benchmark or {}
    return np.array([float(bench.get(s, 0.0)) + active_cap for s in sectors])


def trim_targets(weights, stock, sector_index, caps, fixed, position_cap: float, cash_floor: float = 0.0,
                 defensive: float = 0.0, priority=None) -> tuple[np.ndarray, np.ndarray]:
    """Target weights after the trims the limits require, and why each holding is cut.

    ``stock`` marks single stocks (only they are trimmed); ``sector_index`` gives each stock's column
    in ``caps`` (-1: outside the sector limits); ``fixed`` is the exposure per sector column that
    funds add (not trimmed); ``defensive`` the current cash + commodity share. Returns ``(targets,
    reasons)``: reasons are ``"position"``, ``"sector"``, ``"cash_floor"`` (the first binding limit)
    or ``""`` per holding.
    """
    w = np.asarray(weights, dtype=float)
    stock = np.asarray(stock, dtype=bool)
    idx = np.asarray(sector_index, dtype=int)
    caps = np.asarray(caps, dtype=float)
    fixed = np.asarray(fixed, dtype=float)
    reasons = np.full(w.size, "", dtype=object)
    t = np.where(stock, np.minimum(w, position_cap), w)
    reasons[t < w - 1e-12] = "position"
    inside = stock & (idx >= 0)
    if caps.size and inside.any():
        part = np.bincount(idx[inside], weights=t[inside], minlength=caps.size)
        room = np.maximum(caps - fixed, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = np.where(part > room + 1e-12, room / np.where(part > 0, part, 1.0), 1.0)
        scaled = np.where(inside, t * factor[np.maximum(idx, 0)], t)
        reasons[(scaled < t - 1e-12) & (reasons == "")] = "sector"
        t = scaled
    short = cash_floor - (defensive + float(np.sum(w - t)))
    if short > 1e-12 and stock.any():
        order = np.asarray(priority if priority is not None else np.argsort(-t, kind="stable"), dtype=int)
        order = order[stock[order]]
        avail = 0.5 * t[order]
        before = np.concatenate([[0.0], np.cumsum(avail)[:-1]])
        take = np.clip(short - before, 0.0, avail)
        cut = np.zeros_like(t)
        cut[order] = take
        reasons[(cut > 1e-12) & (reasons == "")] = "cash_floor"
        t = t - cut
    return t, reasons


def whole_shares(weights, targets, total_value: float, prices, quantities) -> dict:
    """Whole-share trades from current to target weights at ``prices`` (INR).

    Sells round up (the weight ends at or below its target, never more than is held); buys round
    down (never above the target). Returns arrays ``shares`` (signed: negative sells), ``amount``
    (INR, signed) and ``weight_after``.
    """
    w = np.asarray(weights, dtype=float)
    t = np.asarray(targets, dtype=float)
    p = np.asarray(prices, dtype=float)
    q = np.asarray(quantities, dtype=float)
    if total_value <= 0 or np.any(p <= 0):
        raise InputError("total value and prices must be positive.", fix="Value the portfolio at last prices.")
    raw = (t - w) * total_value / p
    shares = np.where(raw < 0, -np.minimum(np.ceil(-raw - 1e-9), q), np.floor(raw + 1e-9))
    amount = shares * p
    return {"shares": shares.astype(int), "amount": amount, "weight_after": w + amount / total_value}
