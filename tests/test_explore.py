"""qlwork.explore.sector_study: the window after the warm-up, metrics over the window for each strategy and
both comparisons, the out-of-sample and sweep tables, and the charts of strategy vs both comparisons."""

from __future__ import annotations

import numpy as np
import pytest

from qlwork.errors import InputError
from qlwork.explore import sector_study


@pytest.fixture(scope="module")
def study():
    return sector_study("IT", as_of="2026-11-20", years=2, lookback=126, window=20)


def test_every_curve_covers_the_window_and_is_invested_from_its_first_day(study):
    momentum = study.equity["momentum"]
    assert momentum[0] == 1.0 and np.all(momentum[1:6] != 1.0)
    assert len(study.dates) == 2 * 252 + 1 and all(len(v) == len(study.dates) for v in study.equity.values())
    assert list(study.equity) == ["momentum", "mean_reversion", "buy_and_hold", "NIFTY 50"]
    assert study.output("momentum")["warmup"]["days"] == 126 + 21


def test_metrics_describe_the_window_only(study):
    for name, curve in study.equity.items():
        m = study.metrics[name]
        assert m["days"] == len(curve) - 1
        assert m["total_return"] == pytest.approx(curve[-1] - 1.0, abs=5e-5)
        assert m["cagr"] == pytest.approx(curve[-1] ** (252 / (len(curve) - 1)) - 1, abs=5e-5)
        assert m["max_drawdown"] == pytest.approx(np.min(curve / np.maximum.accumulate(curve)) - 1, abs=5e-5)


def test_metrics_table_shows_every_book_the_warm_up_and_the_verdict(study):
    html = study.metrics_html().data
    for text in ("Sharpe ratio", "Calmar ratio", "Hit rate", "Exposure", "Equal-weight buy-and-hold", "NIFTY 50",
                 "Warm-up before the window", "Costs 10 bps"):
        assert text in html
    total = study.metrics["momentum"]["total_return"]
    assert f"{total * 100:.2f}%" in html
    beats = study.output("momentum")["verdict"]["beats_buy_and_hold"]
    assert ("Momentum beat equal-weight" if beats else "Momentum <b>lost to</b> equal-weight") in html


def test_out_of_sample_table_names_the_train_and_test_windows(study):
    html = study.out_of_sample_html().data
    o = study.output("mean_reversion")["out_of_sample"]
    assert f"Chosen on {o['train']['start']} to {o['train']['end']}" in html
    assert f"Reported on {o['test']['start']} to {o['test']['end']}" in html
    assert f"{o['metrics']['strategy']['total_return'] * 100:.2f}%" in html


def test_walk_forward_table_lists_the_folds_and_the_chained_result(study):
    html = study.walk_forward_html("momentum", train_days=126, test_days=126).data
    assert "walk-forward" in html and "Chosen on" in html and "Held on" in html
    assert html.count(f"to {study.dates[-1]}</td>") == 1  # the last fold ends on the window's last day
    assert "Equal-weight buy-and-hold" in html and "NIFTY 50" in html


def _text_count(fig, word: str) -> int:
    from matplotlib.text import Text

    return sum(word in t.get_text() for t in fig.findobj(Text))


def test_explorer_charts_show_the_strategy_beside_both_comparisons(study):
    import matplotlib.dates as mdates

    first, last = np.datetime64(study.dates[0]), np.datetime64(study.dates[-1])
    for fig in (study.comparison_figure(), study.comparison_figure("momentum"), study.drawdown_figure("mean_reversion")):
        for ax in fig.axes:
            lo, hi = (np.datetime64(mdates.num2date(v).replace(tzinfo=None)) for v in ax.get_xlim())
            assert (lo, hi) == (first, last)  # no empty stretch after the last date
        assert study.synthetic and _text_count(fig, "SYNTHETIC") == 1
    lines = study.comparison_figure().axes[0].lines
    assert [ln.get_label() for ln in lines] == ["Momentum", "Mean reversion", "Equal-weight buy-and-hold", "NIFTY 50"]
    one = study.comparison_figure("momentum").axes[0]
    assert [ln.get_label() for ln in one.lines] == ["Momentum", "Equal-weight buy-and-hold", "NIFTY 50"]
    assert one.get_ylabel() == "Value (start = 100)"
    np.testing.assert_allclose(one.lines[1].get_ydata(), study.equity["buy_and_hold"] * 100)
    with pytest.raises(InputError, match="Unknown strategy"):
        study.drawdown_figure("carry")


def test_explorer_numbers_come_from_the_formatter(study, monkeypatch):
    from qlwork import explore, formatting

    html = study.metrics_html().data
    for values in study.metrics.values():
        assert formatting.pct(values["max_drawdown"]) in html and formatting.ratio(values["sharpe_ratio"]) in html
    # counts use the configured digit grouping: 1234567 shows as 12,34,567 (Indian) or 1,234,567
    assert explore._cell(1234567, "int") == "12,34,567"
    monkeypatch.setenv("QLWORK_NUMBER_GROUPING", "international")
    assert explore._cell(1234567, "int") == "1,234,567"
    assert explore._cell(-0.0523, "pct") == "-5.23%" and explore._cell(None, "ratio") == "n/a"


def test_bad_sector_is_refused():
    with pytest.raises(InputError, match="fewer than two stocks"):
        sector_study("crypto")
