"""Risk contribution per holding: each holding's share of portfolio volatility and of 95% VaR.

Conventions
-----------
* ``returns`` are simple daily returns, days x holdings; ``weights`` are the current fractions of
  portfolio value (cash, with zero return, may be left out: weights then sum to less than 1). A NaN
  return (a day before a holding was listed, a gap) counts as 0 for that holding.
* The covariance ``S`` is the sample covariance (ddof=1) of the daily returns, annualised by
  ``periods`` (252). Portfolio volatility at the current weights is ``sigma = sqrt(w' S w)``; the
  **component contribution** of holding i is ``w_i (S w)_i / sigma`` and the components sum to sigma
  exactly (Euler allocation). ``share`` is component / sigma (sums to 1).
* **Component VaR** (parametric, normal, 1-day, as a return: negative = loss) of holding i is
  ``w_i mu_i + z w_i (C w)_i / sigma_d`` with ``C`` the daily covariance, ``sigma_d`` the daily
  portfolio std and ``z = Phi^-1(1 - level)``; the components sum to the portfolio's parametric VaR
  ``w' mu + z sigma_d``.
* :func:`volatility_after_trims` gives the portfolio volatility after cutting each holding on its own
  by ``cut_i`` (a fraction of portfolio value moved to cash), for all holdings at once:
  ``sqrt(sigma^2 - 2 cut_i (S w)_i + cut_i^2 S_ii)``.

Note this is the volatility of today's weights over the window; the buy-and-hold volatility that
``risk.volatility`` gives for a held-quantities return series drifts with prices and differs a little.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from qlwork.config import TRADING_DAYS_PER_YEAR
from qlwork.errors import InputError

from ._common import as_2d

__all__ = ["covariance", "risk_contributions", "volatility_after_trims"]


def _weights(weights, n: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,):
        raise InputError(f"{w.size} weights for {n} return columns.", fix="Pass one weight per holding.")
    if not np.all(np.isfinite(w)):
        raise InputError("weights contain NaN or inf.", fix="Pass finite fractions of portfolio value.")
    return w


def _clean(returns) -> np.ndarray:
    r, _ = as_2d(returns, "returns", min_rows=2)
    return np.nan_to_num(r, nan=0.0) if np.isnan(r).any() else r  # as_2d made non-finite values NaN


def _daily_cov(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = r.mean(axis=0)
    x = r - mu
    return mu, (x.T @ x) / (r.shape[0] - 1)


def covariance(returns, periods: int = TRADING_DAYS_PER_YEAR) -> np.ndarray:
    """Sample covariance (ddof=1) of daily returns (days x holdings), times ``periods``; NaN counts as 0."""
    return _daily_cov(_clean(returns))[1] * periods


def risk_contributions(returns, weights, level: float = 0.95, periods: int = TRADING_DAYS_PER_YEAR,
                       cuts=None, alternatives=()) -> dict:
    """Per-holding contributions to annualised volatility and to 1-day parametric VaR (see module doc).

    Returns ``{"volatility", "component", "share", "marginal", "var", "var_component", "level"}``:
    floats for the portfolio, arrays (one per holding) for the parts. ``marginal`` is
    ``d sigma / d w_i = (S w)_i / sigma``. With zero portfolio volatility every part is 0. From the same
    covariance: ``cuts`` adds ``"volatility_after_cuts"`` (see :func:`volatility_after_trims`) and
    ``alternatives`` (weight vectors) ``"volatility_alternatives"``, the annualised volatility of each.
    """
    r = _clean(returns)
    w = _weights(weights, r.shape[1])
    if not 0.0 < level < 1.0:
        raise InputError(f"level={level!r} must be between 0 and 1.", fix="Use e.g. level=0.95.")
    mu, daily = _daily_cov(r)
    cw = daily @ w
    var_d = float(w @ cw)
    sd = np.sqrt(max(var_d, 0.0))
    ann = np.sqrt(periods)
    z = NormalDist().inv_cdf(1.0 - level)
    if sd > 0:
        marginal = cw / sd * ann
        component = w * marginal
        share = component / (sd * ann)
        var_component = w * mu + z * w * cw / sd
    else:
        marginal = component = share = np.zeros_like(w)
        var_component = w * mu
    out = {"volatility": float(sd * ann), "component": component, "share": share, "marginal": marginal,
           "var": float(w @ mu + z * sd), "var_component": var_component, "level": float(level)}
    if cuts is not None:
        d = _weights(cuts, r.shape[1])
        out["volatility_after_cuts"] = np.sqrt(np.maximum(var_d - 2.0 * d * cw + d * d * np.diag(daily), 0.0)) * ann
    if alternatives is not None and len(alternatives):
        alt = np.asarray(alternatives, dtype=float).reshape(-1, r.shape[1])
        out["volatility_alternatives"] = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", alt, daily, alt), 0.0)) * ann
    return out


def volatility_after_trims(returns, weights, cuts, periods: int = TRADING_DAYS_PER_YEAR) -> np.ndarray:
    """Annualised volatility after cutting holding i alone by ``cuts[i]`` (fraction of portfolio value
    moved to cash, zero return), one value per holding."""
    return risk_contributions(returns, weights, periods=periods, cuts=cuts)["volatility_after_cuts"]
