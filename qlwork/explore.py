"""Strategy exploration on one sector (used by ``notebooks/strategy_explorer.ipynb``).

:func:`sector_study` runs the momentum and mean-reversion backtests of :mod:`qlwork.analytics.backtest`
on a sector's stocks over ``years`` of daily closes ending at ``as_of``, next to an equal-weight
buy-and-hold of the same stocks and the ``NIFTY 50``. No look-ahead (see the backtest module), costs
in basis points of turnover. The strategies run on extra history before the window (their warm-up:
the momentum lookback plus skip, the z-score window), so every curve is invested from the window's
first day and the metrics describe the window only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape

import numpy as np

from .analytics import mean_reversion_backtest, momentum_backtest, risk
from .analytics.backtest import window_summary
from .config import BENCHMARK, TRADING_DAYS_PER_YEAR
from .errors import InputError
from .formatting import group_digits, label, pct, ratio
from .market.base import parse_date
from .market.sectors import match_sector

MOMENTUM_SKIP = 21
"""Days between the momentum lookback's end and the rebalance (the backtest's default ``skip``)."""

# (key, label, kind): kind "pct" shows a fraction as a percentage, "ratio" two decimals, "int" a count
METRICS = (("total_return", "Total return", "pct"), ("cagr", "CAGR", "pct"),
           ("volatility", "Volatility (annualised)", "pct"), ("sharpe_ratio", "Sharpe ratio", "ratio"),
           ("sortino_ratio", "Sortino ratio", "ratio"), ("max_drawdown", "Max drawdown", "pct"))
TRADING = (("trades", "Trades (positions opened or closed)", "int"), ("rebalance_days", "Days with trades", "int"),
           ("turnover", "Turnover (x the book)", "ratio"), ("cost", "Costs (% of capital)", "pct"))


def _cell(value, kind: str) -> str:
    """A table cell through :mod:`qlwork.formatting`: a percentage, a 2-decimal ratio or a grouped count."""
    if value is None:
        return "n/a"
    if kind == "pct":
        return pct(value)
    return ratio(value) if kind == "ratio" else group_digits(int(value))


@dataclass
class SectorStudy:
    """Backtests of one sector over a display window that starts after every strategy's warm-up.

    ``dates`` and every ``equity`` curve cover the window only (rebased to 1.0 on its first day);
    ``metrics`` are over the window (fractions; annualised with 252 days); ``trading`` holds trades,
    turnover and costs in the window for the two strategies.
    """

    sector: str
    symbols: list[str]
    dates: list[str]
    equity: dict[str, np.ndarray]  # strategy name -> equity curve starting at 1.0
    metrics: dict[str, dict]
    trading: dict[str, dict]
    params: dict
    synthetic: bool

    def _table(self, spec, source: dict[str, dict]) -> str:
        from .review.render import table

        names = list(source)
        rows = [[text, *(_cell(source[name].get(key), kind) for name in names)] for key, text, kind in spec]
        return table(["", *(label(n) for n in names)], rows, numeric=set(range(1, len(names) + 1)))

    def metrics_html(self):
        """The strategies' metrics (returns in %, ratios to 2 decimals) and their trading (IPython HTML)."""
        from IPython.display import HTML

        from .review.render import STYLE

        note = ("<p><b>SYNTHETIC DATA</b>: demo prices, not NSE.</p>" if self.synthetic else "")
        warm = self.params["warmup_days"]
        head = (f"<h3>{escape(self.sector)}: {', '.join(map(escape, self.symbols))}</h3>"
                f"<p>{self.dates[0]} to {self.dates[-1]} ({group_digits(len(self.dates) - 1)} trading days); each "
                f"strategy had {group_digits(warm)} trading days of history before the window to warm up, so every "
                f"curve is invested "
                f"from the first day. Costs {self.params['cost_bps']:g} bps of turnover.</p>")
        return HTML('<div class="qlwork-report">' + STYLE + head + note + self._table(METRICS, self.metrics)
                    + "<h4>Trading in the window</h4>" + self._table(TRADING, self.trading) + "</div>")

    def comparison_figure(self):
        """All equity curves rebased to 100, dated from the window's first to its last day (a Figure)."""
        from .charts import rebased_figure

        return rebased_figure(self.dates, {label(k): v for k, v in self.equity.items()}, synthetic=self.synthetic,
                              title=f"{self.sector}: strategies vs equal weight and {BENCHMARK}",
                              ylabel="Value (start = 100)")

    def drawdown_figure(self, strategy: str = "momentum"):
        """One strategy's equity vs the benchmark with drawdowns (a Figure)."""
        from .charts import equity_drawdown_figure

        if strategy not in self.equity:
            raise InputError(f"Unknown strategy {strategy!r}.", fix=f"Use one of: {', '.join(self.equity)}.")
        return equity_drawdown_figure(self.dates, self.equity[strategy], self.equity[BENCHMARK],
                                      synthetic=self.synthetic, label=label(strategy),
                                      title=f"{self.sector}: {label(strategy).lower()} backtest")

    def comparison_chart(self):
        """:meth:`comparison_figure` as an image."""
        from .charts import image

        return image(self.comparison_figure())

    def drawdown_chart(self, strategy: str = "momentum"):
        """:meth:`drawdown_figure` as an image."""
        from .charts import image

        return image(self.drawdown_figure(strategy))


def sector_study(sector: str = "IT", as_of="2026-11-20", years: int = 3, top_n: int = 3, lookback: int = 126,
                 window: int = 20, entry_z: float = -1.5, cost_bps: float = 10.0, provider: str = "demo",
                 market=None) -> SectorStudy:
    """Momentum and mean-reversion backtests on ``sector``'s stocks (an NSE industry name, or an alias such
    as "IT" or "banks"), with equal weight and NIFTY 50."""
    from .market import get_provider

    market = market or get_provider(provider)
    if not 1 <= years <= 10:
        raise InputError(f"years {years} is out of range.", fix="Use 1 to 10 years.")
    inst = market.instruments()
    name = match_sector(sector, inst.loc[inst["instrument_type"] == "EQ", "sector"].unique()) or str(sector)
    rows = inst[(inst["sector"].str.lower() == name.lower()) & (inst["instrument_type"] == "EQ")]
    symbols = sorted(rows["tradingsymbol"].tolist())
    if len(symbols) < 2:
        known = sorted(set(inst["sector"]) - {"Index"})
        raise InputError(f"Sector {sector!r} has fewer than two stocks.", fix=f"Use one of: {', '.join(known)}.")
    day = as_of if isinstance(as_of, dt.date) else parse_date(str(as_of))
    rows_wanted = years * TRADING_DAYS_PER_YEAR + 1
    warmup = max(lookback + MOMENTUM_SKIP + 1, window + 1)  # first momentum rebalance; first z-score
    close = market.close_prices(symbols + [BENCHMARK], end=day).iloc[-(rows_wanted + warmup):]
    close = close.ffill()  # carried forward only; the backtests skip a symbol until its history is long enough
    if len(close) < warmup + 2:
        raise InputError(f"Only {len(close)} trading days of prices for {sector!r} up to {day}.",
                         fix=f"Use a shorter lookback or window (warm-up needs {warmup} days before the window).")
    start = max(len(close) - rows_wanted, warmup)  # a short history shortens the window, never the warm-up
    prices = close[symbols].to_numpy(dtype=float)
    n = max(1, min(top_n, len(symbols)))
    runs = {"momentum": momentum_backtest(prices, lookback=lookback, skip=MOMENTUM_SKIP, top_n=n, cost_bps=cost_bps,
                                          symbols=symbols),
            "mean_reversion": mean_reversion_backtest(prices, window=window, entry_z=entry_z, cost_bps=cost_bps,
                                                      symbols=symbols)}
    summaries = {name: window_summary(res, start) for name, res in runs.items()}
    window_prices = prices[start:]
    moves = window_prices[1:] / window_prices[:-1] - 1.0  # NaN where a stock was not priced on both days
    priced = np.isfinite(moves)
    # equal weight over the stocks priced on both days
    daily = np.where(priced, moves, 0.0).sum(axis=1) / np.maximum(priced.sum(axis=1), 1)
    bench = close[BENCHMARK].to_numpy(dtype=float)[start:]
    equity = {name: res.equity[start:] / res.equity[start] for name, res in runs.items()}
    equity["equal_weight"] = np.concatenate([[1.0], np.cumprod(1.0 + daily)])
    equity[BENCHMARK] = bench / bench[0]
    keys = [key for key, _, _ in METRICS]
    metrics = {name: {k: summaries[name][k] for k in keys} for name in runs}
    for name in ("equal_weight", BENCHMARK):
        r = equity[name][1:] / equity[name][:-1] - 1.0
        summary = risk.risk_summary(r)
        metrics[name] = {k: round(float(summary[k]), 6) for k in keys}
    trading = {name: {k: summaries[name][k] for k, _, _ in TRADING} for name in runs}
    dates = [d.date().isoformat() for d in close.index[start:]]
    params = {"years": years, "top_n": n, "lookback": lookback, "window": window, "entry_z": entry_z,
              "cost_bps": cost_bps, "warmup_days": int(start)}
    return SectorStudy(sector=str(rows["sector"].iloc[0]), symbols=symbols, dates=dates, equity=equity,
                       metrics=metrics, trading=trading, params=params,
                       synthetic=bool(market.metadata().get("synthetic")))
