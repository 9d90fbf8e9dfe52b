"""Benchmark: risk contributions for 50 holdings x 1,260 days, vs a pandas computation in the same run.
(analyze_portfolio itself, now with look-through, contributions and the sized plan, is in bench/tools.py.)"""

from __future__ import annotations


import numpy as np

from .timing import best_ms

HOLDINGS, DAYS, SEED = 50, 1260, 7


def _contribution_lines() -> list[str]:
    import pandas as pd

    from qlwork.analytics.contributions import risk_contributions

    rng = np.random.default_rng(SEED)
    rets = 0.7 * rng.normal(0.0004, 0.01, (DAYS, 1)) + rng.normal(0.0, 0.012, (DAYS, HOLDINGS))
    w = rng.dirichlet(np.ones(HOLDINGS))
    frame = pd.DataFrame(rets)

    def reference():  # pandas covariance, then the Euler parts
        cov = frame.cov().to_numpy() * 252
        sigma = float(np.sqrt(w @ cov @ w))
        return w * (cov @ w) / sigma

    def ours():
        return risk_contributions(rets, w, cuts=w / 2)["component"]

    ours_ms, parts = best_ms(ours, 20)
    ref_ms, ref = best_ms(reference, 20)
    diff = float(np.max(np.abs(parts - ref)))
    return [f"risk contributions {HOLDINGS} holdings x {DAYS} days (volatility + VaR parts + trim scenarios):",
            f"  qlwork.analytics.contributions      {ours_ms:8.2f} ms",
            f"  pandas cov + Euler parts only        {ref_ms:8.2f} ms   qlwork/pandas = {ours_ms / ref_ms:.2f}x",
            f"  max |qlwork - pandas| = {diff:.2e} (goal <= 1e-12) {'OK' if diff <= 1e-12 else 'ABOVE GOAL'}"]


def run() -> list[str]:
    return ["== advice ==", *_contribution_lines()]
