"""Money-weighted and time-weighted returns from cash flows (pure NumPy).

Conventions: amounts in INR from the investor's side (money paid in is negative, money received and the
closing value positive); dates as ``datetime64[D]``; XIRR uses actual/365 day counts, as Excel's XIRR
and Zerodha Console do; returns are fractions (0.12 = 12% a year).
"""

from __future__ import annotations

import numpy as np

DAYS_PER_YEAR = 365.0
XIRR_TOLERANCE = 1e-12
"""Absolute tolerance of the XIRR rate (the result is exact to well below 1e-9)."""
_LOW, _HIGH = -0.999999999, 1e9


def _npv(rate: float, amounts: np.ndarray, years: np.ndarray) -> float:
    return float(np.sum(amounts * np.exp(-years * np.log1p(rate))))


def xirr(amounts, dates) -> float:
    """The annual rate ``r`` with ``sum(amount_i / (1 + r) ** (days_i / 365)) = 0`` (``days_i`` from the
    first date), or NaN when the flows have no sign change (no rate exists).

    Found by bisection on a bracket (the NPV is monotone in ``r`` for an investment: outflows first),
    refined with Newton steps that stay inside the bracket; converges to :data:`XIRR_TOLERANCE`.
    """
    a = np.asarray(amounts, dtype=float)
    d = np.asarray(dates, dtype="datetime64[D]")
    if a.shape != d.shape or a.ndim != 1:
        raise ValueError("amounts and dates must be 1-D and of one length")
    if not np.isfinite(a).all():
        raise ValueError("amounts must be finite")
    if not ((a > 0).any() and (a < 0).any()):
        return float("nan")
    years = (d - d.min()).astype(float) / DAYS_PER_YEAR
    lo, hi = _LOW, 1.0
    f_lo = _npv(lo, a, years)
    f_hi = _npv(hi, a, years)
    while np.sign(f_hi) == np.sign(f_lo) and hi < _HIGH:
        hi *= 10.0
        f_hi = _npv(hi, a, years)
    if np.sign(f_hi) == np.sign(f_lo):
        return float("nan")
    rate = 0.5 * (lo + hi)
    for _ in range(400):
        f = _npv(rate, a, years)
        if f == 0.0:
            return rate
        if np.sign(f) == np.sign(f_lo):
            lo, f_lo = rate, f
        else:
            hi = rate
        slope = float(np.sum(-years * a * np.exp(-(years + 1.0) * np.log1p(rate))))
        step = rate - f / slope if slope != 0.0 else np.nan
        new = step if lo < step < hi else 0.5 * (lo + hi)
        if abs(new - rate) < XIRR_TOLERANCE * max(1.0, abs(rate)):
            return float(new)
        rate = new
    return float(rate)


def time_weighted_return(values, flows) -> np.ndarray:
    """Daily time-weighted returns from end-of-day values and the day's net external flows (INR paid
    in, e.g. buys minus sells, counted at the day's end): ``r_t = (V_t - F_t) / V_{t-1} - 1``; 0 on a day
    that starts with nothing invested. ``values`` and ``flows`` are 1-D over the same days; the result
    has one entry per day after the first. Compound with ``np.prod(1 + r) - 1``."""
    v = np.asarray(values, dtype=float)
    f = np.asarray(flows, dtype=float)
    if v.shape != f.shape or v.ndim != 1:
        raise ValueError("values and flows must be 1-D and of one length")
    prev = v[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(prev > 0, (v[1:] - f[1:]) / prev - 1.0, 0.0)
    return r


def annualise(total: float, days: float) -> float:
    """A total return over ``days`` calendar days as an annual rate (actual/365)."""
    if days <= 0:
        return float("nan")
    return float((1.0 + total) ** (DAYS_PER_YEAR / days) - 1.0)
