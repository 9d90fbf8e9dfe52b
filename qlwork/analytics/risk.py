"""Return and risk metrics on 1-D (days) or 2-D (days x symbols) arrays of returns.

Conventions (the same as quantstats where it has the metric)
------------------------------------------------------------
* Returns are **simple daily returns** as decimals (0.01 = 1%). A 1-D input gives a float, a 2-D
  input an ndarray with one value per column. pandas objects are accepted (labels dropped).
* Annualisation uses ``periods`` (default 252): volatility * sqrt(periods); Sharpe and Sortino
  * sqrt(periods); CAGR over ``n_obs / periods`` years.
* ``risk_free`` is an **annual decimal rate**, converted per period as
  ``(1 + risk_free) ** (1 / periods) - 1`` and subtracted from every return (quantstats' rule).
* NaN/inf returns are missing observations: statistics use the observed values of each column
  (pandas ``skipna``), and compounding (total return, CAGR, drawdown) treats a missing day as 0.
* Standard deviations are sample (ddof=1). Sortino's downside deviation is
  ``sqrt(sum(min(excess, 0)**2) / n_obs)``. A zero denominator gives NaN.
* Drawdowns are fractions in [-1, 0] from the running peak of the compounded equity, which starts
  at 1.0 before the first return (so a first-day loss counts). Returns below -1 are refused.
* VaR and CVaR are reported as **return quantiles**: negative = loss (quantstats / empyrical).
  ``historical``: the linearly interpolated ``1 - level`` quantile (``np.percentile``); CVaR is the
  mean of returns at or below it. ``parametric``: normal with the sample mean and std;
  CVaR is the normal expected shortfall ``mu - sd * pdf(z) / (1 - level)``.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from qlwork.config import DEFAULT_RISK_FREE_RATE, TRADING_DAYS_PER_YEAR
from qlwork.errors import InputError

from ._common import accumulate, as_2d, forward_fill

__all__ = [
    "holding_returns", "simple_returns", "total_return", "cagr", "volatility", "sharpe_ratio", "sortino_ratio",
    "drawdown", "max_drawdown", "beta", "alpha", "value_at_risk", "conditional_value_at_risk",
    "correlation", "risk_summary",
]

_N = NormalDist()


def _returns(returns, min_rows: int = 1) -> tuple[np.ndarray, bool]:
    return as_2d(returns, "returns", min_rows=min_rows)


def _out(v: np.ndarray, was_1d: bool):
    v = np.asarray(v, dtype=float)
    return float(v[0]) if was_1d else v


def _per_period(risk_free: float, periods: int) -> float:
    if not np.isfinite(risk_free) or risk_free <= -1:
        raise InputError(f"risk_free={risk_free!r} is not a valid annual rate.", fix="Use a decimal like 0.065.")
    if periods <= 0:
        raise InputError(f"periods={periods!r} must be positive.", fix="Use 252 for daily data.")
    return (1.0 + risk_free) ** (1.0 / periods) - 1.0


def _level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise InputError(f"level={level!r} must be between 0 and 1.", fix="Use e.g. level=0.95.")
    return float(level)


def _moments(r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(count, mean, sample std) per column ignoring NaN, and whether any NaN was present."""
    has_nan = bool(np.isnan(r).any())
    with np.errstate(invalid="ignore", divide="ignore"):
        if not has_nan:
            n = np.full(r.shape[1], float(r.shape[0]))
            mean = r.mean(axis=0)
            std = r.std(axis=0, ddof=1) if r.shape[0] > 1 else np.full(r.shape[1], np.nan)
        else:
            ok = ~np.isnan(r)
            n = ok.sum(axis=0).astype(float)
            mean = np.where(ok, r, 0.0).sum(axis=0) / n
            dev = np.where(ok, r - mean, 0.0)
            std = np.sqrt((dev * dev).sum(axis=0) / (n - 1))
            std[n < 2] = np.nan
    return n, mean, std, has_nan


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def simple_returns(prices):
    """Simple returns ``p[t] / p[t-1] - 1``: shape ``(days-1,)`` or ``(days-1, symbols)``.

    A missing price gives NaN on the two returns that touch it. Non-positive prices are refused.
    """
    p, was_1d = as_2d(prices, "prices", min_rows=2)
    if np.any(p <= 0):
        raise InputError("prices contain zero or negative values.", fix="Pass positive prices, not returns.")
    r = p[1:] / p[:-1] - 1.0
    return r[:, 0] if was_1d else r


def holding_returns(prices, quantities) -> np.ndarray:
    """Daily simple returns of holding fixed ``quantities`` through a days x symbols price array.

    No look-ahead: prices are only carried forward (a gap repeats the last close), never backward.
    A symbol is not held on days before its first price (listed late, history starting later); each
    day's return is ``sum(q * (p_t - p_t-1)) / sum(q * p_t-1)`` over the symbols priced on both days,
    so weights are renormalised over what was actually held. A day with nothing priced yet returns 0.
    Shape ``(days - 1,)``.
    """
    p, _ = as_2d(prices, "prices", min_rows=2)
    filled, _, _ = forward_fill(p)
    if np.isnan(p).any():  # forward_fill gives leading NaNs the first value: keep them unheld instead
        started = np.maximum.accumulate(np.isfinite(p), axis=0)
        filled = np.where(started, filled, np.nan)
    q = np.asarray(quantities, dtype=float)
    prev, cur = filled[:-1], filled[1:]
    held = np.isfinite(prev) & np.isfinite(cur)
    base = np.where(held, prev * q, 0.0).sum(axis=1)
    gain = np.where(held, (cur - prev) * q, 0.0).sum(axis=1)
    return np.divide(gain, base, out=np.zeros_like(gain), where=base > 0)


def total_return(returns):
    """Compounded return over the whole period, ``prod(1 + r) - 1`` (missing days count as 0)."""
    r, was_1d = _returns(returns)
    return _out(np.prod(1.0 + np.nan_to_num(r), axis=0) - 1.0, was_1d)


def _cagr(r: np.ndarray, n: np.ndarray, periods: int) -> np.ndarray:
    wealth = np.prod(1.0 + np.nan_to_num(r), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(wealth >= 0, np.abs(wealth) ** (periods / n) - 1.0, np.nan)


def cagr(returns, periods: int = TRADING_DAYS_PER_YEAR):
    """Compound annual growth rate over ``n_obs / periods`` years (as quantstats.stats.cagr)."""
    r, was_1d = _returns(returns)
    _per_period(0.0, periods)
    n = (~np.isnan(r)).sum(axis=0).astype(float)
    return _out(_cagr(r, n, periods), was_1d)


def volatility(returns, periods: int = TRADING_DAYS_PER_YEAR):
    """Annualised volatility: sample std (ddof=1) * sqrt(periods)."""
    r, was_1d = _returns(returns, 2)
    _per_period(0.0, periods)
    return _out(_moments(r)[2] * np.sqrt(periods), was_1d)


def sharpe_ratio(returns, risk_free: float = 0.0, periods: int = TRADING_DAYS_PER_YEAR):
    """Annualised Sharpe: ``mean(r - rf_p) / std(r - rf_p, ddof=1) * sqrt(periods)``."""
    r, was_1d = _returns(returns, 2)
    rf = _per_period(risk_free, periods)
    _, mean, std, _ = _moments(r)
    return _out(_ratio(mean - rf, std) * np.sqrt(periods), was_1d)


def _downside(r: np.ndarray, rf: float, n: np.ndarray, has_nan: bool) -> np.ndarray:
    """sqrt(sum(min(r - rf, 0)**2) / n) per column, NaN ignored."""
    neg = np.minimum(r - rf if rf else r, 0.0)
    if has_nan:
        neg[np.isnan(neg)] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(np.einsum("ij,ij->j", neg, neg) / n)


def sortino_ratio(returns, risk_free: float = 0.0, periods: int = TRADING_DAYS_PER_YEAR):
    """Annualised Sortino: ``mean(x) / sqrt(sum(min(x, 0)**2) / n_obs) * sqrt(periods)``,
    ``x = r - rf_p`` (quantstats' downside deviation)."""
    r, was_1d = _returns(returns, 2)
    rf = _per_period(risk_free, periods)
    n, mean, _, has_nan = _moments(r)
    return _out(_ratio(mean - rf, _downside(r, rf, n, has_nan)) * np.sqrt(periods), was_1d)


def _check_floor(r: np.ndarray) -> None:
    if r.min(initial=0.0, where=~np.isnan(r)) < -1.0:
        raise InputError(
            "returns contain values below -1 (a loss of more than 100%).",
            fix="Pass simple decimal returns (0.01 = 1%), not percentages or prices.",
        )


def _equity_and_peak(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    equity = r + 1.0
    equity[np.isnan(equity)] = 1.0  # a missing day is flat
    accumulate(equity, np.multiply, 1.0)
    peak = accumulate(equity.copy(), np.maximum, 1.0)
    return equity, peak


def drawdown(returns):
    """Drawdown series in [-1, 0]: ``equity / running_peak - 1`` (same shape as the input)."""
    r, was_1d = _returns(returns)
    _check_floor(r)
    equity, peak = _equity_and_peak(r)
    with np.errstate(invalid="ignore", divide="ignore"):
        dd = np.where(peak > 0, equity / peak - 1.0, -1.0)
    return dd[:, 0] if was_1d else dd


def _max_drawdown(r: np.ndarray) -> np.ndarray:
    _check_floor(r)
    out = np.empty(r.shape[1])
    width = max(16, (2 << 20) // (16 * max(len(r), 1)))  # cache-sized column blocks
    for j in range(0, r.shape[1], width):
        equity, peak = _equity_and_peak(r[:, j : j + width])
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(equity, peak, out=equity)
        out[j : j + width] = np.nan_to_num(equity.min(axis=0), nan=0.0) - 1.0
    return np.minimum(out, 0.0)


def max_drawdown(returns):
    """Largest peak-to-trough fall as a negative fraction in [-1, 0] (quantstats.max_drawdown)."""
    r, was_1d = _returns(returns)
    return _out(_max_drawdown(r), was_1d)


def _paired(r: np.ndarray, benchmark_returns) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-column paired (both observed) means and sums for beta/alpha/correlation."""
    b, b1d = as_2d(benchmark_returns, "benchmark_returns", min_rows=2)
    if not b1d and b.shape[1] != 1:
        raise InputError("benchmark_returns must be a single series.", fix="Pass 1-D benchmark returns.")
    if b.shape[0] != r.shape[0]:
        raise InputError(
            f"returns have {r.shape[0]} rows but benchmark_returns {b.shape[0]}.",
            fix="Align both on the same dates.",
        )
    ok = ~(np.isnan(r) | np.isnan(b))
    n = ok.sum(axis=0).astype(float)
    rr, bb = np.where(ok, r, 0.0), np.where(ok, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rm, bm = rr.sum(axis=0) / n, bb.sum(axis=0) / n
        dr, db = np.where(ok, rr - rm, 0.0), np.where(ok, bb - bm, 0.0)
        cov = (dr * db).sum(axis=0) / (n - 1)
        var_b = (db * db).sum(axis=0) / (n - 1)
        var_r = (dr * dr).sum(axis=0) / (n - 1)
    return rm, bm, cov, np.stack([var_b, var_r])


def beta(returns, benchmark_returns):
    """Beta to a 1-D benchmark: ``cov(r, b) / var(b)`` over the days both are observed."""
    r, was_1d = _returns(returns, 2)
    _, _, cov, var = _paired(r, benchmark_returns)
    return _out(_ratio(cov, var[0]), was_1d)


def alpha(returns, benchmark_returns, risk_free: float = 0.0, periods: int = TRADING_DAYS_PER_YEAR):
    """Annualised Jensen's alpha: ``periods * (mean(r - rf_p) - beta * mean(b - rf_p))`` over paired
    days. With ``risk_free=0`` this equals quantstats.stats.greeks' alpha."""
    r, was_1d = _returns(returns, 2)
    rf = _per_period(risk_free, periods)
    rm, bm, cov, var = _paired(r, benchmark_returns)
    return _out(periods * ((rm - rf) - _ratio(cov, var[0]) * (bm - rf)), was_1d)


def _quantile(r: np.ndarray, q: float, has_nan: bool) -> np.ndarray:
    """Linear-interpolated quantile per column ignoring NaN (numpy's default method)."""
    if not has_nan:
        return np.quantile(r, q, axis=0)
    s = np.sort(r, axis=0)  # NaN sorts last
    n = (~np.isnan(r)).sum(axis=0)
    h = np.maximum(n - 1, 0) * q
    lo = np.floor(h).astype(np.intp)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
    a = np.take_along_axis(s, lo[None, :], 0)[0]
    b = np.take_along_axis(s, hi[None, :], 0)[0]
    return np.where(n > 0, a + (h - lo) * (b - a), np.nan)


def _var_cvar(r, level, method, n, mean, std, has_nan, want_cvar):
    alpha_ = 1.0 - level
    if method == "parametric":
        z = _N.inv_cdf(alpha_)
        var = mean + std * z
        if not want_cvar:
            return var, None
        cvar = np.where(std > 0, mean - std * _N.pdf(z) / alpha_, mean)
        return var, np.where(np.isnan(std), np.nan, cvar)
    if method != "historical":
        raise InputError(f"method={method!r} is not supported.", fix="Use 'historical' or 'parametric'.")
    var = _quantile(r, alpha_, has_nan)
    if not want_cvar:
        return var, None
    tail = r <= var[None, :]  # NaN compares False
    with np.errstate(invalid="ignore", divide="ignore"):
        cvar = np.where(tail, r, 0.0).sum(axis=0) / tail.sum(axis=0)
    return var, cvar


def value_at_risk(returns, level: float = 0.95, method: str = "historical"):
    """One-period Value at Risk at ``level`` as a return quantile (negative = loss).

    ``historical``: the ``1-level`` quantile of observed returns (linear interpolation, as
    ``np.percentile``/empyrical). ``parametric``: ``mean + std * Phi^-1(1-level)`` (as
    quantstats.stats.value_at_risk).
    """
    r, was_1d = _returns(returns, 2)
    n, mean, std, has_nan = _moments(r)
    return _out(_var_cvar(r, _level(level), method, n, mean, std, has_nan, False)[0], was_1d)


def conditional_value_at_risk(returns, level: float = 0.95, method: str = "historical"):
    """Expected shortfall beyond the VaR, as a return (negative = loss); see :func:`value_at_risk`.

    Matches quantstats.stats.conditional_value_at_risk for both methods.
    """
    r, was_1d = _returns(returns, 2)
    n, mean, std, has_nan = _moments(r)
    return _out(_var_cvar(r, _level(level), method, n, mean, std, has_nan, True)[1], was_1d)


def correlation(returns) -> np.ndarray:
    """Pearson correlation matrix (symbols x symbols) over pairwise-complete days."""
    r, _ = _returns(returns, 2)
    ok = (~np.isnan(r)).astype(float)
    x = np.nan_to_num(r - np.nanmean(r, axis=0))  # centred for precision
    n = ok.T @ ok
    sx = x.T @ ok  # sx[i, j]: sum of x_i over days where both i and j are observed
    sxx = (x * x).T @ ok
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = x.T @ x - sx * sx.T / n
        var_i = sxx - sx * sx / n
        corr = cov / np.sqrt(var_i * var_i.T)
    corr[n < 2] = np.nan
    return np.clip(corr, -1.0, 1.0)


def risk_summary(
    returns,
    benchmark_returns=None,
    risk_free: float = DEFAULT_RISK_FREE_RATE,
    periods: int = TRADING_DAYS_PER_YEAR,
    level: float = 0.95,
) -> dict:
    """All headline metrics in one pass (shared moments, one drawdown scan).

    Keys: ``n_observations, total_return, cagr, volatility, sharpe_ratio, sortino_ratio,
    max_drawdown, value_at_risk, conditional_value_at_risk`` (historical, at ``level``),
    ``value_at_risk_parametric``, plus ``beta, alpha, correlation_to_benchmark`` when a benchmark
    is given, and the conventions used: ``risk_free, periods, var_level``. Values are floats for
    1-D input and per-column arrays for 2-D input.
    """
    r, was_1d = _returns(returns, 2)
    rf = _per_period(risk_free, periods)
    level = _level(level)
    n, mean, std, has_nan = _moments(r)
    ann = np.sqrt(periods)
    var_h, cvar_h = _var_cvar(r, level, "historical", n, mean, std, has_nan, True)
    out = {
        "n_observations": n,
        "total_return": np.prod(1.0 + np.nan_to_num(r), axis=0) - 1.0,
        "cagr": _cagr(r, n, periods),
        "volatility": std * ann,
        "sharpe_ratio": _ratio(mean - rf, std) * ann,
        "sortino_ratio": _ratio(mean - rf, _downside(r, rf, n, has_nan)) * ann,
        "max_drawdown": _max_drawdown(r),
        "value_at_risk": var_h,
        "conditional_value_at_risk": cvar_h,
        "value_at_risk_parametric": _var_cvar(r, level, "parametric", n, mean, std, has_nan, False)[0],
    }
    if benchmark_returns is not None:
        rm, bm, cov, var = _paired(r, benchmark_returns)
        b = _ratio(cov, var[0])
        out["beta"] = b
        out["alpha"] = periods * ((rm - rf) - b * (bm - rf))
        out["correlation_to_benchmark"] = _ratio(cov, np.sqrt(var[0] * var[1]))
    out = {k: _out(v, was_1d) for k, v in out.items()}
    if was_1d:
        out["n_observations"] = int(out["n_observations"])
    out.update(risk_free=float(risk_free), periods=int(periods), var_level=level)
    return out
