"""Strategy exploration on one sector (used by ``notebooks/strategy_explorer.ipynb``).

:func:`sector_study` runs the momentum and mean-reversion backtests through
:func:`qlwork.tools.backtesting.strategy_backtest`, the very function (and defaults) the chat tool
``generate_trading_signals`` uses, so the explorer and the chat give the same figures for the same
question. Each strategy is shown beside an equal-weight buy-and-hold of the same stocks and the benchmark
index over the same window with the same costs; the warm-up before the window feeds the first signals and
is in no curve or metric. The out-of-sample check chooses parameters on the window's first half and reports
them on the second; :meth:`SectorStudy.sweep_html` shows how sensitive a strategy is to its parameters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape

import numpy as np

from .analytics.backtest import BUY_AND_HOLD, DEFAULT_PARAMS, STRATEGY
from .errors import InputError
from .formatting import group_digits, label, pct, ratio
from .market.base import parse_date
from .market.sectors import match_sector
from .tools.backtesting import DEFAULT_COST_BPS, DEFAULT_YEARS, StrategyRun, strategy_backtest

STRATEGY_NAMES = ("momentum", "mean_reversion")
BUY_AND_HOLD_LABEL = "Equal-weight buy-and-hold"

# (key, label, kind): kind "pct" shows a fraction as a percentage, "ratio" two decimals, "int" a count
METRICS = (("total_return", "Total return", "pct"), ("cagr", "CAGR", "pct"),
           ("volatility", "Volatility (annualised)", "pct"), ("sharpe_ratio", "Sharpe ratio", "ratio"),
           ("sortino_ratio", "Sortino ratio", "ratio"), ("max_drawdown", "Max drawdown", "pct"),
           ("calmar_ratio", "Calmar ratio", "ratio"), ("hit_rate", "Hit rate (up days when invested)", "pct"),
           ("trades", "Trades (positions opened or closed)", "int"), ("rebalance_days", "Days with trades", "int"),
           ("turnover", "Turnover (x the book)", "ratio"), ("total_costs", "Costs (% of capital)", "pct"),
           ("days_invested", "Days invested", "int"), ("exposure", "Exposure (share of days invested)", "pct"))
SWEEP = (("total_return", "Total return", "pct"), ("cagr", "CAGR", "pct"), ("sharpe_ratio", "Sharpe", "ratio"),
         ("max_drawdown", "Max drawdown", "pct"), ("turnover", "Turnover", "ratio"), ("total_costs", "Costs", "pct"))


def _cell(value, kind: str) -> str:
    """A table cell through :mod:`qlwork.formatting`: a percentage, a 2-decimal ratio or a grouped count."""
    if value is None:
        return "n/a"
    if kind == "pct":
        return pct(value)
    return ratio(value) if kind == "ratio" else group_digits(int(value))


def _params_text(params: dict) -> str:
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in params.items() if k != "cost_bps")


@dataclass
class SectorStudy:
    """Backtests of one sector's stocks: ``runs`` maps each strategy to its
    :class:`~qlwork.tools.backtesting.StrategyRun`. ``dates`` and every ``equity`` curve cover the window
    only (1.0 on its first close); ``metrics`` are over the window, as the chat tool reports them."""

    sector: str
    symbols: list[str]
    runs: dict[str, StrategyRun]
    synthetic: bool

    def output(self, strategy: str = "momentum") -> dict:
        """The ``backtest`` object the chat tool returns for the same question."""
        return self._run(strategy).output()

    def _run(self, strategy: str) -> StrategyRun:
        if strategy not in self.runs:
            raise InputError(f"Unknown strategy {strategy!r}.", fix=f"Use one of: {', '.join(self.runs)}.")
        return self.runs[strategy]

    @property
    def benchmark(self) -> str:
        return next(iter(self.runs.values())).benchmark

    @property
    def dates(self) -> list[str]:
        run = next(iter(self.runs.values()))
        return run.dates[run.backtest.start:]

    @property
    def equity(self) -> dict[str, np.ndarray]:
        """Strategy names, ``buy_and_hold`` and the benchmark's name -> equity curves over the window."""
        first = next(iter(self.runs.values())).backtest.books
        curves = {name: run.backtest.books[STRATEGY].equity for name, run in self.runs.items()}
        return {**curves, BUY_AND_HOLD: first[BUY_AND_HOLD].equity, self.benchmark: first["benchmark"].equity}

    @property
    def metrics(self) -> dict[str, dict]:
        """The same keys as :attr:`equity` -> window metrics, rounded as in the tool output."""
        outs = {name: self.output(name)["metrics"] for name in self.runs}
        first = next(iter(outs.values()))
        return {**{name: o[STRATEGY] for name, o in outs.items()}, BUY_AND_HOLD: first[BUY_AND_HOLD],
                self.benchmark: first["benchmark"]}

    def _label(self, key: str) -> str:
        return BUY_AND_HOLD_LABEL if key == BUY_AND_HOLD else (key if key == self.benchmark else label(key))

    def _table(self, source: dict[str, dict], spec=METRICS) -> str:
        from .review.render import table

        names = list(source)
        rows = [[text, *(_cell(source[name].get(key), kind) for name in names)] for key, text, kind in spec]
        return table(["", *(self._label(n) for n in names)], rows, numeric=set(range(1, len(names) + 1)))

    def _html(self, body: str):
        from IPython.display import HTML

        from .review.render import STYLE

        note = "<p><b>SYNTHETIC DATA</b>: demo prices, not NSE.</p>" if self.synthetic else ""
        return HTML('<div class="qlwork-report">' + STYLE + note + body + "</div>")

    def _verdict(self, verdict: dict, metrics: dict, name: str) -> str:
        s, b, i = (metrics[k]["total_return"] for k in (STRATEGY, BUY_AND_HOLD, "benchmark"))
        def word(beats: bool) -> str:
            return "beat" if beats else "<b>lost to</b>"
        return (f"<p>{escape(label(name))} {word(verdict['beats_buy_and_hold'])} equal-weight buy-and-hold "
                f"({pct(s)} vs {pct(b)}) and {word(verdict['beats_benchmark'])} the {escape(self.benchmark)} "
                f"({pct(i)}).</p>")

    def metrics_html(self):
        """Both strategies beside buy-and-hold and the index over the window, with the warm-up, costs and
        each strategy's verdict (IPython HTML; returns in %, ratios to 2 decimals)."""
        outs = {name: self.output(name) for name in self.runs}
        first = next(iter(outs.values()))
        w = first["window"]
        warm = "; ".join(f"{label(n)} {group_digits(o['warmup']['days'])} days ({o['warmup']['start']} to "
                         f"{o['warmup']['end']})" for n, o in outs.items())
        head = (f"<h3>{escape(self.sector)}: {', '.join(map(escape, self.symbols))}</h3>"
                f"<p>Window {w['start']} to {w['end']} ({group_digits(w['days'])} trading days). Warm-up before "
                f"the window, used only for the first signals and in no figure: {escape(warm)}. Costs "
                f"{first['parameters']['cost_bps']:g} bps of turnover for every book, each bought from cash on "
                f"the window's first day.</p>")
        verdicts = "".join(self._verdict(o["verdict"], o["metrics"], n) for n, o in outs.items())
        return self._html(head + self._table(self.metrics) + verdicts)

    def out_of_sample_html(self):
        """Per strategy: parameters chosen on the train window (best Sharpe of the grid), then reported on
        the test window beside buy-and-hold and the index (IPython HTML)."""
        parts = []
        for name in self.runs:
            o = self.output(name)["out_of_sample"]
            if o["method"] is None:
                parts.append(f"<h4>{escape(label(name))}</h4><p>{escape(o['note'])}</p>")
                continue
            tr, te = o["train"], o["test"]
            parts.append(f"<h4>{escape(label(name))}: out of sample</h4><p>Chosen on {tr['start']} to {tr['end']} "
                         f"(best {escape(label(o['criterion']))} of {o['combinations']} combinations): "
                         f"{escape(_params_text(o['chosen']))}. Reported on {te['start']} to {te['end']} "
                         f"({group_digits(te['days'])} trading days):</p>")
            named = {name: o["metrics"][STRATEGY], BUY_AND_HOLD: o["metrics"][BUY_AND_HOLD],
                     self.benchmark: o["metrics"]["benchmark"]}
            parts.append(self._table(named) + self._verdict(o["verdict"], o["metrics"], name))
        return self._html("".join(parts))

    def walk_forward_html(self, strategy: str = "momentum", train_days: int = 252, test_days: int = 126):
        """Walk-forward: parameters re-chosen every ``test_days`` on the ``train_days`` before, one row per
        fold, then the chained folds beside buy-and-hold and the index over the same days (IPython HTML)."""
        from .review.render import table

        run = self._run(strategy)
        wf = run.walk_forward(train_days, test_days)
        rows = [[f"{run.dates[f['train'][0]]} to {run.dates[f['train'][1]]}",
                 f"{run.dates[f['test'][0]]} to {run.dates[f['test'][1]]}", _params_text(f["chosen"]),
                 pct(f["metrics"]["total_return"]), ratio(f["metrics"]["sharpe_ratio"])] for f in wf.folds]
        folds = table(["Chosen on", "Held on", "Parameters", "Total return", "Sharpe"], rows, numeric={3, 4})
        books = wf.backtest.books
        named = {strategy: books[STRATEGY].metrics, BUY_AND_HOLD: books[BUY_AND_HOLD].metrics,
                 self.benchmark: books["benchmark"].metrics}
        span = run.span(wf.backtest.start)
        head = (f"<h4>{escape(label(strategy))}: walk-forward</h4><p>Parameters re-chosen every "
                f"{group_digits(test_days)} trading days on the {group_digits(train_days)} before (best "
                f"{escape(label(wf.criterion))}); the folds chained from {span['start']} to {span['end']}, each "
                "re-bought from cash at its start (costs included):</p>")
        return self._html(head + folds + self._table(named))

    def sweep(self, strategy: str = "momentum", grid: dict | None = None) -> list[dict]:
        """Every combination of ``grid`` (default the out-of-sample grid) over the whole window:
        ``{"params", "metrics"}`` per combination (strategy metrics, not rounded)."""
        return [{"params": {k: v for k, v in bt.params.items() if k != "cost_bps"}, "metrics": bt.books[STRATEGY].metrics}
                for bt in self._run(strategy).sweep(grid)]

    def sweep_html(self, strategy: str = "momentum", grid: dict | None = None):
        """:meth:`sweep` as a table, one row per parameter combination, beside buy-and-hold (IPython HTML)."""
        from .review.render import table

        rows = self.sweep(strategy, grid)
        bh = self.metrics[BUY_AND_HOLD]
        body = [[_params_text(r["params"]), *(_cell(r["metrics"][k], kind) for k, _, kind in SWEEP)] for r in rows]
        body.append([BUY_AND_HOLD_LABEL, *(_cell(bh[k], kind) for k, _, kind in SWEEP)])
        head = (f"<h4>{escape(label(strategy))}: parameter sweep over the whole window</h4><p>Each row is the "
                "same window and costs; a result that holds only for one setting is fragile.</p>")
        return self._html(head + table(["Parameters", *(t for _, t, _ in SWEEP)], body,
                                       numeric=set(range(1, len(SWEEP) + 1))))

    def comparison_figure(self, strategy: str | None = None):
        """Equity curves rebased to 100 over the window: one strategy (or both, ``None``) beside
        buy-and-hold and the index (a Figure)."""
        from .charts import rebased_figure

        names = list(self.runs) if strategy is None else [self._run(strategy).strategy]
        curves = self.equity
        shown = {self._label(k): curves[k] for k in [*names, BUY_AND_HOLD, self.benchmark]}
        what = "strategies" if strategy is None else label(strategy).lower()
        return rebased_figure(self.dates, shown, synthetic=self.synthetic, ylabel="Value (start = 100)",
                              title=f"{self.sector}: {what} vs equal-weight buy-and-hold and {self.benchmark}")

    def drawdown_figure(self, strategy: str = "momentum"):
        """One strategy's equity and drawdowns beside the benchmark and buy-and-hold (a Figure)."""
        from .charts import equity_drawdown_figure

        self._run(strategy)
        return equity_drawdown_figure(self.dates, self.equity[strategy], self.equity[self.benchmark],
                                      synthetic=self.synthetic, label=label(strategy), benchmark=self.benchmark,
                                      comparisons={BUY_AND_HOLD_LABEL: self.equity[BUY_AND_HOLD]},
                                      title=f"{self.sector}: {label(strategy).lower()} backtest")

    def comparison_chart(self, strategy: str | None = None):
        """:meth:`comparison_figure` as an image."""
        from .charts import image

        return image(self.comparison_figure(strategy))

    def drawdown_chart(self, strategy: str = "momentum"):
        """:meth:`drawdown_figure` as an image."""
        from .charts import image

        return image(self.drawdown_figure(strategy))


_M, _R = DEFAULT_PARAMS["momentum"], DEFAULT_PARAMS["mean_reversion"]


def sector_study(sector: str = "IT", as_of="2026-11-20", years: int = DEFAULT_YEARS, top_n: int = _M["top_n"],
                 lookback: int = _M["lookback"], window: int = _R["window"], entry_z: float = _R["entry_z"],
                 cost_bps: float = DEFAULT_COST_BPS, benchmark: str | None = None, provider: str = "demo",
                 market=None) -> SectorStudy:
    """Momentum and mean-reversion backtests on ``sector``'s stocks (an NSE industry name, or an alias such
    as "IT" or "banks"), each beside equal-weight buy-and-hold and ``benchmark`` (default NIFTY 50)."""
    from .market import get_provider

    market = market or get_provider(provider)
    inst = market.instruments()
    name = match_sector(sector, inst.loc[inst["instrument_type"] == "EQ", "sector"].unique()) or str(sector)
    rows = inst[(inst["sector"].str.lower() == name.lower()) & (inst["instrument_type"] == "EQ")]
    symbols = sorted(rows["tradingsymbol"].tolist())
    if len(symbols) < 2:
        known = sorted(set(inst["sector"]) - {"Index"})
        raise InputError(f"Sector {sector!r} has fewer than two stocks.", fix=f"Use one of: {', '.join(known)}.")
    day = as_of if isinstance(as_of, dt.date) else parse_date(str(as_of))
    params = {"momentum": {"top_n": top_n, "lookback": lookback}, "mean_reversion": {"window": window, "entry_z": entry_z}}
    runs = {s: strategy_backtest(market, symbols, day, s, years=years, benchmark=benchmark, cost_bps=cost_bps,
                                 params=params[s]) for s in STRATEGY_NAMES}
    return SectorStudy(sector=str(rows["sector"].iloc[0]), symbols=symbols, runs=runs,
                       synthetic=bool(market.metadata().get("synthetic")))
