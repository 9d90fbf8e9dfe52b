"""Portfolio health: concentration, sector exposure and a 0-10 score with a risk level.

Weights are position values or fractions; they are normalised to sum to 1 (long-only: negative
weights are refused). Volatility is annualised (decimal), max drawdown a fraction (its sign is
ignored: -0.2 and 0.2 both mean a 20% fall), beta is versus the benchmark (NaN/None = unknown).

Scoring (each component 0-10, combined with the weights in ``COMPONENT_WEIGHTS``)
--------------------------------------------------------------------------------
* ``diversification``: ``10 * log(effective_holdings) / log(15)``, capped at 10 (1 holding -> 0,
  15+ equal holdings -> 10); strictly decreasing in the HHI.
* ``sector_balance``: with benchmark sector weights, ``10 * (1 - active_share / 0.5)`` where
  ``active_share = sum(|w_sector - w_benchmark|) / 2`` (0 = benchmark-like, >= 0.5 -> 0); without
  them, ``10 * (1 - (max_sector_weight - 0.25) / 0.5)``, clipped to [0, 10]. Holdings whose sector is
  :data:`UNCLASSIFIED` (no NSE industry known) are left out: the sector weights in the score are those
  of the classified part, renormalised, and the report gives ``unclassified_weight``; with nothing
  classified the component is skipped (weight re-spread) like an unknown beta.
* ``volatility``: 10 up to the profile's target, falling linearly to 0 at twice the target.
* ``drawdown``: 10 up to half the profile's limit, falling linearly to 0 at twice the limit.
* ``concentration``: the largest position against the profile's single-name cap: 10 up to the cap,
  falling linearly to 0 at three times the cap.
* ``beta``: 10 up to the profile's beta ceiling, falling linearly to 0 at ceiling + 0.8. Skipped
  (weight re-spread) when beta is unknown.
* ``trend``: the portfolio's simple return over the analysis window, ``5 + 25 * return`` clipped to
  [0, 10] (-20% -> 0, flat -> 5, +20% -> 10). Skipped (weight re-spread) when not given.

Cap: a portfolio that is both concentrated (effective holdings < 5, or a position above twice the
single-name cap) and losing (window return < 0) scores at most ``LOSING_CONCENTRATED_CAP`` (5.0, the
middle of the scale); ``caps`` in the report says so and why, so the breakdown always explains the score.

Look-through (:mod:`.lookthrough`): with asset classes given, index funds count as their index's
sectors, cash and commodities are outside the sector balance (like Unclassified), diversification uses
the look-through effective exposures (cash is no issuer concentration) and concentration the largest
single-stock exposure. Without them every holding is a stock, which gives the rules above unchanged.

Profiles (``PROFILES``): target volatility / drawdown limit / beta ceiling / single-name cap.
``risk_level`` follows measured risk: volatility, |drawdown| and beta each map to a level 0-3
(low .. very_high) by ``RISK_BANDS``; the level is their rounded mean, plus one (capped at very_high)
when the largest single-stock exposure (look-through) exceeds twice the profile's single-name cap.
The rule and its inputs are in ``risk_level_rule`` of the report. A near-cash portfolio (low
volatility, drawdown and beta, no large single stock) is therefore ``low``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from qlwork.errors import InputError

from .lookthrough import OUTSIDE_SECTORS, exposures

__all__ = ["hhi", "effective_holdings", "sector_weights", "target_weight", "assess_health", "HealthReport",
           "UNCLASSIFIED"]

UNCLASSIFIED = "Unclassified"
"""The sector label of a holding with no known industry (matches :mod:`qlwork.market.sectors`)."""

PROFILES = {
    "conservative": {"volatility": 0.12, "drawdown": 0.10, "beta": 0.8, "single_name_cap": 0.10},
    "moderate": {"volatility": 0.18, "drawdown": 0.20, "beta": 1.0, "single_name_cap": 0.15},
    "aggressive": {"volatility": 0.25, "drawdown": 0.30, "beta": 1.2, "single_name_cap": 0.25},
}
COMPONENT_WEIGHTS = {"diversification": 0.2, "concentration": 0.15, "sector_balance": 0.15, "volatility": 0.15,
                     "drawdown": 0.15, "beta": 0.05, "trend": 0.15}
LOSING_CONCENTRATED_CAP = 5.0
RISK_LEVELS = ("low", "moderate", "high", "very_high")
RISK_BANDS = {"volatility": (0.12, 0.20, 0.30), "drawdown": (0.10, 0.20, 0.35), "beta": (0.8, 1.1, 1.4)}
FULL_DIVERSIFICATION = 15.0


def _weights(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or w.size == 0:
        raise InputError("weights must be a non-empty 1-D array.", fix="Pass one weight per holding.")
    if not np.all(np.isfinite(w)):
        raise InputError("weights contain NaN or inf.", fix="Drop or value the holdings with missing prices.")
    if np.any(w < 0):
        raise InputError("weights contain negative values.", fix="Pass long-only position values or weights.")
    total = w.sum()
    if total <= 0:
        raise InputError("weights sum to zero.", fix="Pass at least one position with positive value.")
    return w / total


def hhi(weights) -> float:
    """Herfindahl-Hirschman index ``sum(w**2)`` of the normalised weights, in (0, 1]."""
    w = _weights(weights)
    return float(np.dot(w, w))


def effective_holdings(weights) -> float:
    """Effective number of equally weighted holdings, ``1 / hhi``."""
    return 1.0 / hhi(weights)


def sector_weights(weights, sectors) -> dict[str, float]:
    """Normalised weight per sector, largest first (ties by name)."""
    w = _weights(weights)
    sec = np.asarray([str(s) for s in sectors])
    if sec.shape != w.shape:
        raise InputError(f"{sec.size} sectors for {w.size} weights.", fix="Pass one sector per holding.")
    names, inv = np.unique(sec, return_inverse=True)
    totals = np.bincount(inv, weights=w, minlength=names.size)
    order = sorted(range(names.size), key=lambda i: (-totals[i], names[i]))
    return {str(names[i]): float(totals[i]) for i in order}


def _profile(risk_profile: str) -> dict:
    if risk_profile not in PROFILES:
        raise InputError(f"Unknown risk_profile {risk_profile!r}.", fix=f"Use one of {sorted(PROFILES)}.")
    return PROFILES[risk_profile]


def target_weight(n_holdings: int, risk_profile: str = "moderate", invested: float = 1.0) -> float:
    """Largest weight one stock should have: ``max(s/n, min(cap, 1.5*s/n))`` with ``s`` the share of
    the portfolio in stocks (``invested``, 1 without cash or funds), so an equal-weight portfolio is
    never overweight and no name exceeds the profile's cap unless n is small."""
    if n_holdings < 1:
        raise InputError("n_holdings must be at least 1.", fix="Pass the number of holdings.")
    cap = _profile(risk_profile)["single_name_cap"]
    s = min(1.0, max(float(invested), 1e-9))
    return max(s / n_holdings, min(cap, 1.5 * s / n_holdings))


def _linear(value: float, full: float, zero: float) -> float:
    """10 at ``value <= full``, 0 at ``value >= zero``, linear between."""
    if value <= full:
        return 10.0
    if value >= zero:
        return 0.0
    return 10.0 * (zero - value) / (zero - full)


def _band(value: float, bands: tuple[float, float, float]) -> int:
    return int(np.searchsorted(bands, value, side="right"))


@dataclass(frozen=True)
class HealthReport:
    """Result of :func:`assess_health`; ``to_dict()`` gives JSON-ready plain types."""

    overall_score: float
    risk_level: str
    risk_profile: str
    n_holdings: int
    hhi: float
    effective_holdings: float
    sector_weights: dict = field(default_factory=dict)
    active_sector_weights: dict = field(default_factory=dict)
    overweight_positions: tuple = ()
    components: dict = field(default_factory=dict)
    notes: tuple = ()
    caps: tuple = ()
    unclassified_weight: float = 0.0
    outside_sector_weight: float = 0.0
    effective_exposures: float = 0.0
    largest_single_name: float = 0.0
    risk_level_rule: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["overweight_positions"] = [dict(p) for p in self.overweight_positions]
        d["notes"] = list(self.notes)
        d["caps"] = [dict(c) for c in self.caps]
        return d


def assess_health(
    weights,
    sectors,
    benchmark_sector_weights: dict[str, float] | None,
    volatility: float,
    max_drawdown: float,
    beta: float | None,
    risk_profile: str = "moderate",
    symbols=None,
    period_return: float | None = None,
    lookthrough: dict | None = None,
) -> HealthReport:
    """Score a portfolio 0-10 (1 dp) and classify its risk; see the module docstring for rules.

    ``period_return`` is the portfolio's simple return over the analysis window (fraction; None skips
    the trend component). ``components`` holds each part's score, weight, value and rule; ``caps`` any
    cap applied to the weighted sum, with the reason.

    ``symbols`` (optional, else the index of a pandas Series, else position numbers) label
    ``overweight_positions``: dicts ``{"symbol", "weight", "target", "excess"}``, largest excess first
    (stocks only). ``lookthrough`` is :func:`qlwork.analytics.lookthrough.exposures` of the holdings
    (default: every holding a stock).
    """
    prof = _profile(risk_profile)
    w = _weights(weights)
    if symbols is None:
        idx = getattr(weights, "index", None)  # pandas Series labels (a list's .index is a method)
        symbols = [str(s) for s in idx] if idx is not None and not callable(idx) else [str(i) for i in range(w.size)]
    if len(symbols) != w.size:
        raise InputError(f"{len(symbols)} symbols for {w.size} weights.", fix="Pass one symbol per holding.")
    for name, v in (("volatility", volatility), ("max_drawdown", max_drawdown)):
        if v is None or not np.isfinite(v) or (name == "volatility" and v < 0):
            raise InputError(f"{name}={v!r} is not a valid number.", fix=f"Compute {name} with qlwork.analytics.risk.")
    dd = abs(float(max_drawdown))
    beta_known = beta is not None and np.isfinite(beta)
    trend_known = period_return is not None and np.isfinite(period_return)

    h = float(np.dot(w, w))
    look = lookthrough if lookthrough is not None else exposures(w, sectors)
    eff = float(look["effective_exposures"])
    secs = dict(look["sector_weights"])
    unclassified = secs.get(UNCLASSIFIED, 0.0)
    outside = sum(secs.get(k, 0.0) for k in OUTSIDE_SECTORS)
    left_out = unclassified + outside
    scored = {k: v / (1.0 - left_out) for k, v in secs.items() if k != UNCLASSIFIED and k not in OUTSIDE_SECTORS} \
        if left_out < 1 - 1e-12 else {}
    bench = {str(k): float(v) for k, v in (benchmark_sector_weights or {}).items() if str(k) != UNCLASSIFIED}
    if bench:
        tot = sum(bench.values())
        if tot <= 0 or any(v < 0 for v in bench.values()):
            raise InputError("benchmark_sector_weights must be non-negative and sum > 0.", fix="Check the benchmark.")
        bench = {k: v / tot for k, v in bench.items()}
    names = sorted(set(scored) | set(bench))
    active = {k: scored.get(k, 0.0) - bench.get(k, 0.0) for k in names} if bench and scored else {}
    active = dict(sorted(active.items(), key=lambda kv: (-abs(kv[1]), kv[0])))

    div = min(10.0, 10.0 * math.log(max(eff, 1.0)) / math.log(FULL_DIVERSIFICATION))
    comps = {"diversification": (div, eff, "10*log(effective exposures, look-through)/log(15), capped at 10")}
    if scored:
        if bench:
            share = 0.5 * sum(abs(v) for v in active.values())
            sector_score, sector_value = 10.0 * min(1.0, max(0.0, 1.0 - share / 0.5)), share
        else:
            top = max(scored.values())
            sector_score, sector_value = 10.0 * min(1.0, max(0.0, 1.0 - (top - 0.25) / 0.5)), top
        rule = "10*(1 - sector active share/0.5)" if bench else "10*(1 - (max sector weight - 0.25)/0.5)"
        if left_out > 0:
            rule += f" over the classified equity {1 - left_out:.1%} of the portfolio"
        comps["sector_balance"] = (sector_score, sector_value, rule)
    comps.update({
        "volatility": (_linear(volatility, prof["volatility"], 2 * prof["volatility"]), float(volatility),
                       f"10 up to {prof['volatility']:.0%} annualised, 0 at {2 * prof['volatility']:.0%}"),
        "drawdown": (_linear(dd, prof["drawdown"] / 2, 2 * prof["drawdown"]), dd,
                     f"10 up to {prof['drawdown'] / 2:.0%} max drawdown, 0 at {2 * prof['drawdown']:.0%}"),
    })
    cap = prof["single_name_cap"]
    largest = float(look["single_name"])
    comps["concentration"] = (_linear(largest, cap, 3 * cap), largest,
                              f"10 up to a {cap:.0%} largest single-stock exposure, 0 at {3 * cap:.0%}")
    if beta_known:
        comps["beta"] = (_linear(float(beta), prof["beta"], prof["beta"] + 0.8), float(beta),
                         f"10 up to beta {prof['beta']}, 0 at {prof['beta'] + 0.8:.1f}")
    if trend_known:
        comps["trend"] = (min(10.0, max(0.0, 5.0 + 25.0 * float(period_return))), float(period_return),
                          "5 + 25*window return, clipped to 0-10 (-20% -> 0, flat -> 5, +20% -> 10)")
    comps = {k: comps[k] for k in COMPONENT_WEIGHTS if k in comps}
    total_w = sum(COMPONENT_WEIGHTS[k] for k in comps)
    components = {
        k: {"score": round(s, 2), "weight": round(COMPONENT_WEIGHTS[k] / total_w, 4), "value": round(v, 4),
            "rule": rule}
        for k, (s, v, rule) in comps.items()
    }
    weighted = round(sum(COMPONENT_WEIGHTS[k] * s for k, (s, _, _) in comps.items()) / total_w, 1)
    caps = []
    concentrated = eff < 5 or largest > 2 * cap
    if concentrated and trend_known and period_return < 0 and weighted > LOSING_CONCENTRATED_CAP:
        caps.append({"cap": LOSING_CONCENTRATED_CAP, "weighted_score": weighted,
                     "reason": (f"concentrated ({eff:.1f} effective holdings, largest position {largest:.1%}) "
                                f"and losing ({float(period_return):.1%} over the window)")})
    overall = min(weighted, LOSING_CONCENTRATED_CAP) if caps else weighted

    bands = {"volatility": _band(volatility, RISK_BANDS["volatility"]), "drawdown": _band(dd, RISK_BANDS["drawdown"])}
    if beta_known:
        bands["beta"] = _band(float(beta), RISK_BANDS["beta"])
    measured = int(math.floor(sum(bands.values()) / len(bands) + 0.5))
    bump = largest > 2 * cap
    risk_level = RISK_LEVELS[min(measured + bump, 3)]
    level_rule = {
        "rule": ("mean of the volatility, drawdown and beta bands (0 low .. 3 very high; volatility "
                 f"{'/'.join(f'{b:.0%}' for b in RISK_BANDS['volatility'])}, drawdown "
                 f"{'/'.join(f'{b:.0%}' for b in RISK_BANDS['drawdown'])}, beta "
                 f"{'/'.join(str(b) for b in RISK_BANDS['beta'])}), rounded; one level up when the largest "
                 f"single-stock exposure exceeds twice the {cap:.0%} single-name cap"),
        "bands": bands, "measured_level": RISK_LEVELS[measured], "concentration_step": bool(bump),
        "largest_single_name": round(largest, 4)}

    stock = np.asarray([c == "equity" for c in look.get("position_classes") or ["equity"] * w.size])
    invested = float(w[stock].sum())
    target = target_weight(max(int(stock.sum()), 1), risk_profile, invested=invested)
    over = np.flatnonzero(stock & (w > target + 1e-12))
    over = over[np.argsort(-(w[over] - target), kind="stable")]
    overweight = tuple(
        {"symbol": symbols[i], "weight": round(float(w[i]), 4), "target": round(target, 4),
         "excess": round(float(w[i] - target), 4)}
        for i in over
    )
    notes = []
    if eff < 5:
        notes.append(f"Concentrated: {eff:.1f} effective exposures (look-through)")
    if overweight:
        notes.append(f"{len(overweight)} position(s) above the {target:.1%} target weight")
    if not beta_known:
        notes.append("Beta unknown: beta component skipped")
    if outside > 0:
        notes.append(f"{outside:.1%} of the portfolio is cash, commodities or funds of unknown make-up: "
                     "outside the sector balance")
    if unclassified > 0:
        notes.append(f"{unclassified:.1%} of the portfolio has no known sector ({UNCLASSIFIED}): "
                     + ("left out of sector balance" if scored else "sector balance skipped"))
    return HealthReport(
        overall_score=float(overall), risk_level=risk_level, risk_profile=risk_profile, n_holdings=int(w.size),
        hhi=round(h, 6), effective_holdings=round(1.0 / h, 4),
        sector_weights={k: round(v, 6) for k, v in secs.items()},
        active_sector_weights={k: round(v, 6) for k, v in active.items()},
        overweight_positions=overweight, components=components, notes=tuple(notes), caps=tuple(caps),
        unclassified_weight=round(unclassified, 6), outside_sector_weight=round(outside, 6),
        effective_exposures=round(eff, 4), largest_single_name=round(largest, 6), risk_level_rule=level_rule,
    )
