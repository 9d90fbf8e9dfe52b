"""Tearsheet metrics (quantstats' set) on 1-D (days) or 2-D (days x series) simple daily returns.

Every function works on all columns at once (a portfolio and its benchmark side by side) and states
the definition; where quantstats (0.0.86) defines the same metric, the definition is quantstats' and
the tests check agreement to 1e-9 on the same returns:

* ``cagr``: ``prod(1 + r) ** (periods / n_obs) - 1`` (years = observations / 252, as quantstats).
* ``calmar``: CAGR / |max drawdown|.
* ``omega``: sum of returns above the per-period threshold / -(sum below it); the threshold is an
  annual ``required_return`` converted as ``(1 + R) ** (1 / periods) - 1`` (0 by default).
* ``best`` / ``worst``: the largest / smallest daily, calendar-month or calendar-year compounded return.
* ``win_rate``: positive periods / non-zero periods (a flat day counts neither way).
* ``skew`` / ``kurtosis``: the bias-corrected sample skewness and *excess* kurtosis (pandas' ``skew``
  and ``kurt``, normal = 0).
* ``tail_ratio``: ``|q(0.95) / q(0.05)|`` with linearly interpolated quantiles.
* ``information_ratio``: ``mean(r - b) / std(r - b, ddof=1)`` of daily active returns, **not**
  annualised (quantstats); ``information_ratio_annualised`` multiplies it by ``sqrt(periods)``.
* ``rolling_beta``: ``cov(r, b) / var(b)`` over each trailing ``window`` days (quantstats'
  ``rolling_greeks``), NaN for the first ``window - 1`` days.
* ``drawdown_periods``: each spell under water: first and last day under water, the valley, calendar
  days from first to last day + 1 and the deepest drawdown (quantstats' ``drawdown_details``; it
  lists no spell for a series under water from its first day to its last, qlwork lists that one too).
* ``period_returns_by``: compounded return per calendar month or year (quantstats' ``monthly_returns``
  and EOY returns).

Dates are ``datetime64[D]`` (or anything ``np.asarray(..., "datetime64[D]")`` takes) of the days the
returns are for, ascending. Missing returns (NaN) count as 0 when compounding, as in quantstats.
"""

from __future__ import annotations

import numpy as np

from qlwork.config import TRADING_DAYS_PER_YEAR
from qlwork.errors import InputError

from ._common import as_2d
from .risk import _cagr, _max_drawdown, drawdown

__all__ = ["cagr_calmar", "omega", "best", "worst", "win_rate", "skew", "kurtosis", "tail_ratio",
           "information_ratio", "rolling_beta", "drawdown_periods", "period_keys", "period_returns_by",
           "monthly_table", "tearsheet_metrics"]


def _out(v, was_1d: bool):
    v = np.asarray(v, dtype=float)
    return float(v[0]) if was_1d else v


def _dates(dates, n: int) -> np.ndarray:
    d = np.asarray(dates, dtype="datetime64[D]")
    if d.ndim != 1 or d.size != n:
        raise InputError(f"{d.size} dates for {n} returns.", fix="Pass one date per return row.")
    if n > 1 and np.any(d[1:] < d[:-1]):
        raise InputError("dates are not in ascending order.", fix="Sort the returns by date.")
    return d


def cagr_calmar(returns, periods: int = TRADING_DAYS_PER_YEAR) -> tuple:
    """(CAGR, Calmar) per column; Calmar is NaN without a drawdown."""
    r, was_1d = as_2d(returns, "returns", min_rows=1)
    n = (~np.isnan(r)).sum(axis=0).astype(float)
    growth, mdd = _cagr(r, n, periods), _max_drawdown(r)
    with np.errstate(invalid="ignore", divide="ignore"):
        calmar = np.where(mdd < 0, growth / np.abs(np.where(mdd < 0, mdd, 1.0)), np.nan)
    return _out(growth, was_1d), _out(calmar, was_1d)


def omega(returns, required_return: float = 0.0, periods: int = TRADING_DAYS_PER_YEAR):
    """Omega ratio at an annual ``required_return`` (see the module docstring); NaN with no loss."""
    if required_return <= -1:
        raise InputError(f"required_return={required_return} must be above -1.", fix="Use e.g. 0.0.")
    r, was_1d = as_2d(returns, "returns", min_rows=2)
    x = np.nan_to_num(r - ((1.0 + required_return) ** (1.0 / periods) - 1.0))
    gain, loss = np.where(x > 0, x, 0.0).sum(axis=0), -np.where(x < 0, x, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _out(np.where(loss > 0, gain / np.where(loss > 0, loss, 1.0), np.nan), was_1d)


def period_keys(dates, freq: str) -> np.ndarray:
    """Integer key per date: ``"D"`` the day, ``"M"`` ``year * 100 + month``, ``"Y"`` the year."""
    d = np.asarray(dates, dtype="datetime64[D]")
    if freq == "D":
        return d.astype(np.int64)
    year = d.astype("datetime64[Y]").astype(np.int64) + 1970
    if freq == "Y":
        return year
    if freq == "M":
        return year * 100 + d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    raise InputError(f"Unknown period {freq!r}.", fix='Use "D", "M" or "Y".')


def period_returns_by(returns, dates, freq: str) -> tuple[np.ndarray, np.ndarray]:
    """(keys, compounded returns per period x column) for calendar months (``"M"``) or years (``"Y"``)."""
    r, was_1d = as_2d(returns, "returns", min_rows=1)
    keys = period_keys(_dates(dates, len(r)), freq)
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    comp = np.multiply.reduceat(1.0 + np.nan_to_num(r), starts, axis=0) - 1.0
    return keys[starts], (comp[:, 0] if was_1d else comp)


def _aggregate(returns, dates, freq: str) -> tuple[np.ndarray, bool]:
    r, was_1d = as_2d(returns, "returns", min_rows=1)
    if freq == "D":
        return r, was_1d
    if dates is None:
        raise InputError(f"period {freq!r} needs the dates of the returns.", fix="Pass dates=.")
    return period_returns_by(r, dates, freq)[1], was_1d


def best(returns, dates=None, freq: str = "D"):
    """Largest daily / monthly / yearly (``freq`` ``"D"``, ``"M"``, ``"Y"``) compounded return per column."""
    r, was_1d = _aggregate(returns, dates, freq)
    return _out(np.nanmax(r, axis=0), was_1d)


def worst(returns, dates=None, freq: str = "D"):
    """Smallest daily / monthly / yearly compounded return per column (see :func:`best`)."""
    r, was_1d = _aggregate(returns, dates, freq)
    return _out(np.nanmin(r, axis=0), was_1d)


def win_rate(returns, dates=None, freq: str = "D"):
    """Share of positive periods among the non-zero ones (0 when every period is flat)."""
    r, was_1d = _aggregate(returns, dates, freq)
    pos, nonzero = (r > 0).sum(axis=0), ((r != 0) & ~np.isnan(r)).sum(axis=0)
    return _out(np.where(nonzero > 0, pos / np.maximum(nonzero, 1), 0.0), was_1d)


def _centred(returns, min_rows: int):
    r, was_1d = as_2d(returns, "returns", min_rows=min_rows)
    ok = ~np.isnan(r)
    n = ok.sum(axis=0).astype(float)
    mean = np.where(ok, r, 0.0).sum(axis=0) / n
    d = np.where(ok, r - mean, 0.0)
    return d, n, was_1d


def skew(returns):
    """Bias-corrected sample skewness per column (pandas ``Series.skew``)."""
    d, n, was_1d = _centred(returns, 3)
    m2, m3 = (d ** 2).sum(axis=0) / n, (d ** 3).sum(axis=0) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        g1 = np.where(m2 > 0, m3 / np.where(m2 > 0, m2, 1.0) ** 1.5, 0.0)
        return _out(np.sqrt(n * (n - 1)) / (n - 2) * g1, was_1d)


def kurtosis(returns):
    """Bias-corrected sample excess kurtosis per column (pandas ``Series.kurt``; normal = 0)."""
    d, n, was_1d = _centred(returns, 4)
    s2, s4 = (d ** 2).sum(axis=0), (d ** 4).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = (n + 1) * n * (n - 1) / ((n - 2) * (n - 3)) * np.where(s2 > 0, s4 / np.where(s2 > 0, s2, 1.0) ** 2, 0.0)
        return _out(a - 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)), was_1d)


def tail_ratio(returns, cutoff: float = 0.95):
    """``|q(cutoff) / q(1 - cutoff)|`` per column (linear quantiles, NaN ignored)."""
    r, was_1d = as_2d(returns, "returns", min_rows=2)
    hi, lo = np.nanquantile(r, [cutoff, 1.0 - cutoff], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _out(np.where(lo != 0, np.abs(hi / np.where(lo != 0, lo, 1.0)), np.nan), was_1d)


def information_ratio(returns, benchmark_returns):
    """Daily ``mean(r - b) / std(r - b, ddof=1)`` per column (not annualised, as quantstats; 0 when the
    active returns are constant)."""
    r, was_1d = as_2d(returns, "returns", min_rows=2)
    b = np.asarray(benchmark_returns, dtype=float).reshape(-1, 1)
    if b.shape[0] != r.shape[0]:
        raise InputError(f"returns have {r.shape[0]} rows but benchmark_returns {b.shape[0]}.",
                         fix="Align both on the same dates.")
    a = r - b
    sd = np.nanstd(a, axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _out(np.where(sd > 0, np.nanmean(a, axis=0) / np.where(sd > 0, sd, 1.0), 0.0), was_1d)


def rolling_beta(returns, benchmark_returns, window: int = 126) -> np.ndarray:
    """Trailing ``window``-day beta of each column to the benchmark (days x columns, or days); missing
    returns count as 0 (quantstats fills them). Running sums, so every window costs O(1)."""
    r, was_1d = as_2d(returns, "returns", min_rows=2)
    b = np.nan_to_num(np.asarray(benchmark_returns, dtype=float)).reshape(-1, 1)
    r = np.nan_to_num(r)
    if not 2 <= window <= len(r):
        raise InputError(f"window {window} does not fit {len(r)} returns.", fix="Use 2 <= window <= days.")

    def sums(x):
        c = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
        return c[window:] - c[:-window]

    # centre on the whole-sample means first: running sums of small deviations keep full precision
    rc, bc = r - r.mean(axis=0), b - b.mean()
    sr, sb, srb, sbb = sums(rc), sums(bc), sums(rc * bc), sums(bc * bc)
    with np.errstate(invalid="ignore", divide="ignore"):
        var_b = sbb - sb * sb / window
        beta = np.where(var_b > 0, (srb - sr * sb / window) / np.where(var_b > 0, var_b, 1.0), np.nan)
    out = np.vstack([np.full((window - 1, r.shape[1]), np.nan), beta])
    return out[:, 0] if was_1d else out


def drawdown_periods(returns, dates, top: int = 10) -> list[dict]:
    """The ``top`` deepest spells under water of a 1-D return series, deepest first: ``{"start",
    "valley", "end" (ISO dates; the last day under water, or the last date while not recovered),
    "recovered", "days" (calendar days start..end inclusive), "max_drawdown" (fraction <= 0)}``."""
    r = np.asarray(returns, dtype=float)
    if r.ndim != 1:
        raise InputError("drawdown_periods takes one return series.", fix="Pass a 1-D array.")
    d = _dates(dates, len(r))
    dd = drawdown(r) if len(r) else r
    under = dd < 0
    edges = np.diff(np.concatenate([[0], under.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1  # inclusive spell bounds
    if starts.size == 0:
        return []
    valley = np.minimum.reduceat(dd, starts)  # spells are separated by >= 1 day at 0
    lows = [s + int(np.argmin(dd[s:e + 1])) for s, e in zip(starts, stops)]
    order = np.lexsort((starts, valley))[:top]
    return [{"start": str(d[starts[i]]), "valley": str(d[lows[i]]), "end": str(d[stops[i]]),
             "recovered": bool(stops[i] < len(r) - 1), "days": int((d[stops[i]] - d[starts[i]]).astype(int)) + 1,
             "max_drawdown": float(valley[i])} for i in order]


def monthly_table(returns, dates) -> dict:
    """Years x 12 grid of compounded monthly returns (NaN where no data) plus each year's return:
    ``{"years": [...], "grid": (years x 12 [x columns]), "year": (years [x columns])}``."""
    keys, monthly = period_returns_by(returns, dates, "M")
    ykeys, yearly = period_returns_by(returns, dates, "Y")
    m = monthly if monthly.ndim == 2 else monthly[:, None]
    grid = np.full((len(ykeys), 12, m.shape[1]), np.nan)
    grid[np.searchsorted(ykeys, keys // 100), keys % 100 - 1] = m
    return {"years": ykeys.tolist(), "grid": grid[..., 0] if monthly.ndim == 1 else grid, "year": yearly}


def tearsheet_metrics(returns, benchmark_returns, dates, risk_free: float = 0.0,
                      periods: int = TRADING_DAYS_PER_YEAR) -> dict:
    """The quantstats-style metrics block for ``[portfolio, benchmark]``: ``{metric: [portfolio,
    benchmark]}`` (alpha, beta and the information ratio are the portfolio's vs the benchmark; the
    benchmark's own are 0, 1 and 0 by definition). Sharpe and Sortino use the annual ``risk_free`` rate,
    alpha none (quantstats' greeks). Fractions and ratios; see the module docstring."""
    from .risk import alpha as _alpha, beta as _beta, sharpe_ratio, sortino_ratio, volatility

    both = np.column_stack([np.asarray(returns, dtype=float), np.asarray(benchmark_returns, dtype=float)])
    b = both[:, 1]
    growth, calmar = cagr_calmar(both, periods)
    out = {
        "total_return": np.prod(1.0 + np.nan_to_num(both), axis=0) - 1.0, "cagr": growth,
        "volatility": volatility(both, periods), "sharpe_ratio": sharpe_ratio(both, risk_free, periods),
        "sortino_ratio": sortino_ratio(both, risk_free, periods), "max_drawdown": _max_drawdown(both),
        "calmar_ratio": calmar, "omega_ratio": omega(both, periods=periods),
        "best_day": best(both), "worst_day": worst(both),
        "best_month": best(both, dates, "M"), "worst_month": worst(both, dates, "M"),
        "best_year": best(both, dates, "Y"), "worst_year": worst(both, dates, "Y"),
        "win_rate_days": win_rate(both), "win_rate_months": win_rate(both, dates, "M"),
        "skew": skew(both), "kurtosis": kurtosis(both), "tail_ratio": tail_ratio(both),
        "alpha": np.array([_alpha(both[:, 0], b, periods=periods), 0.0]),
        "beta": np.array([_beta(both[:, 0], b), 1.0]),
        "information_ratio": np.array([information_ratio(both[:, 0], b), 0.0]),
    }
    return {k: [float(x) for x in np.asarray(v, dtype=float)] for k, v in out.items()}
