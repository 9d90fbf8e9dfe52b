"""qlwork.explore.sector_study: the strategy explorer's window starts after the warm-up, metrics describe
the window, and trading activity is counted; analytics.backtest.window_summary on a hand-made book."""

from __future__ import annotations

import numpy as np
import pytest

from qlwork.analytics import momentum_backtest, risk
from qlwork.analytics.backtest import BacktestResult, window_summary
from qlwork.errors import InputError
from qlwork.explore import sector_study


@pytest.fixture(scope="module")
def study():
    return sector_study("IT", as_of="2026-11-20", years=2, lookback=126, window=20)


def test_every_strategy_is_invested_from_the_first_day_of_the_window(study):
    momentum = study.equity["momentum"]
    assert momentum[0] == 1.0
    # invested at once: the curve moves in its first week (it used to sit flat at 1.0 for ~7 months)
    assert np.all(momentum[1:6] != 1.0)
    assert study.params["warmup_days"] >= 126 + 21 + 1
    assert len(study.dates) == 2 * 252 + 1 and all(len(v) == len(study.dates) for v in study.equity.values())


def test_metrics_describe_the_window_only(study):
    for name, curve in study.equity.items():
        returns = curve[1:] / curve[:-1] - 1.0
        summary = risk.risk_summary(returns)
        assert study.metrics[name]["total_return"] == pytest.approx(curve[-1] - 1.0, abs=1e-6)
        assert study.metrics[name]["cagr"] == pytest.approx(summary["cagr"], abs=1e-6)
        assert study.metrics[name]["max_drawdown"] == pytest.approx(summary["max_drawdown"], abs=1e-6)


def test_metrics_table_shows_percentages_and_trading(study):
    html = study.metrics_html().data
    assert "Sharpe ratio" in html and "Max drawdown" in html and "Trades (positions opened or closed)" in html
    total = study.metrics["momentum"]["total_return"]
    assert f"{total * 100:.2f}%" in html
    assert study.trading["momentum"]["trades"] > 0 and study.trading["momentum"]["cost"] > 0


def _book(weights: list[list[float]], turnover: list[float], cost_bps: float = 10.0) -> BacktestResult:
    w = np.array(weights, dtype=float)
    returns = np.full(len(w), 0.01)
    return BacktestResult("hand", np.cumprod(1 + returns), returns, w, np.array(turnover, dtype=float),
                          params={"cost_bps": cost_bps})


def test_window_summary_counts_opens_and_closes_after_the_start():
    # day 0 cash, day 1 A, day 2 A, day 3 B, day 4 cash
    book = _book([[0, 0], [1, 0], [1, 0], [0, 1], [0, 0]], [0, 1.0, 0, 2.0, 1.0])
    everything = window_summary(book, 0)
    assert everything["trades"] == 4  # open A, close A + open B, close B
    assert everything["rebalance_days"] == 3 and everything["turnover"] == pytest.approx(4.0)
    assert everything["cost"] == pytest.approx(4.0 * 10 / 1e4)
    later = window_summary(book, 2)  # A already held at the window's start: only its close counts
    assert later["trades"] == 3 and later["turnover"] == pytest.approx(3.0)
    assert later["total_return"] == pytest.approx(1.01 ** 2 - 1)


def test_window_summary_rejects_an_empty_window():
    result = momentum_backtest(np.linspace(100, 120, 200).reshape(100, 2), lookback=10, skip=2, top_n=1)
    with pytest.raises(InputError, match="start=99"):
        window_summary(result, 99)


def _text_count(fig, word: str) -> int:
    from matplotlib.text import Text

    return sum(word in t.get_text() for t in fig.findobj(Text))


def test_explorer_charts_end_at_the_data_and_are_marked_once(study):
    import matplotlib.dates as mdates

    first, last = np.datetime64(study.dates[0]), np.datetime64(study.dates[-1])
    for fig in (study.comparison_figure(), study.drawdown_figure("mean_reversion")):
        for ax in fig.axes:
            lo, hi = (np.datetime64(mdates.num2date(v).replace(tzinfo=None)) for v in ax.get_xlim())
            assert (lo, hi) == (first, last)  # no empty stretch after the last date
        assert study.synthetic and _text_count(fig, "SYNTHETIC") == 1
    lines = study.comparison_figure().axes[0].lines
    assert [ln.get_label() for ln in lines] == ["Momentum", "Mean reversion", "Equal weight", "NIFTY 50"]
    assert study.comparison_figure().axes[0].get_ylabel() == "Value (start = 100)"
    np.testing.assert_allclose(lines[0].get_ydata(), study.equity["momentum"] * 100)
    with pytest.raises(InputError, match="Unknown strategy"):
        study.drawdown_figure("carry")


def test_explorer_numbers_come_from_the_formatter(study, monkeypatch):
    from qlwork import formatting

    html = study.metrics_html().data
    for name, values in study.metrics.items():
        assert formatting.pct(values["max_drawdown"]) in html and formatting.ratio(values["sharpe_ratio"]) in html
    # counts use the configured digit grouping: 1234567 shows as 12,34,567 (Indian) or 1,234,567
    from qlwork import explore

    assert explore._cell(1234567, "int") == "12,34,567"
    monkeypatch.setenv("QLWORK_NUMBER_GROUPING", "international")
    assert explore._cell(1234567, "int") == "1,234,567"
    assert explore._cell(-0.0523, "pct") == "-5.23%" and explore._cell(None, "ratio") == "n/a"
