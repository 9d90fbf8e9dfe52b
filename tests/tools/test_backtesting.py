"""tools.backtesting through generate_trading_signals on demo data: the stated window and warm-up, the
buy-and-hold and index curves checked against the provider's prices, the out-of-sample split, and the
chat tool and the strategy explorer agreeing to the last digit."""

import json

import numpy as np
import pytest

from qlwork.explore import sector_study
from qlwork.market import get_provider
from qlwork.market.demo import DEMO_AS_OF
from qlwork.tools.backtesting import strategy_backtest
from qlwork.tools.registry import ToolContext
from qlwork.tools.trading import generate_trading_signals

MARKET = get_provider("demo")
IT = sorted(MARKET.instruments().query("sector == 'Information Technology'")["tradingsymbol"])
COST = 10 / 1e4


def tool_backtest(**args) -> dict:
    ctx = ToolContext(market=MARKET, portfolio="sample:diversified", risk_profile="moderate")
    result = generate_trading_signals.tool.run({"sector": "IT", **args}, ctx)
    assert result.error is None, result.error
    json.dumps(result.output, allow_nan=False)
    return result.output["backtest"]


@pytest.fixture(scope="module")
def momentum():
    return tool_backtest(strategy="momentum")


@pytest.fixture(scope="module")
def study():
    return sector_study("IT", as_of=DEMO_AS_OF)


def test_the_window_is_the_stated_years_and_the_warm_up_lies_before_it(momentum):
    w, warm = momentum["window"], momentum["warmup"]
    assert w["days"] == 3 * 252 and w["end"] == DEMO_AS_OF.isoformat()
    days = [d.isoformat() for d in MARKET.trading_days(end=DEMO_AS_OF)]
    assert days.index(w["end"]) - days.index(w["start"]) == w["days"]
    assert warm["days"] == 126 + 21 and warm["end"] == days[days.index(w["start"]) - 1]
    assert days.index(warm["end"]) - days.index(warm["start"]) + 1 == warm["days"]
    series = momentum["series"]
    assert series["dates"][0] == w["start"] and len(series["dates"]) == w["days"] + 1
    for book in ("strategy", "buy_and_hold", "benchmark"):
        assert momentum["metrics"][book]["days"] == w["days"]  # every metric over the stated window
    assert momentum["series"]["equity"][1] != 1.0  # invested from the window's first day


def test_buy_and_hold_and_the_index_are_the_price_data(momentum):
    w = momentum["window"]
    close = MARKET.close_prices(IT + ["NIFTY 50"], start=w["start"], end=w["end"])
    growth = (close[IT] / close[IT].iloc[0]).mean(axis=1).to_numpy()  # equal rupees in each stock, held
    bh = np.concatenate([[1.0], (growth[1] - COST) * growth[1:] / growth[1]])
    index = (close["NIFTY 50"] / close["NIFTY 50"].iloc[0]).to_numpy()
    ix = np.concatenate([[1.0], (index[1] - COST) * index[1:] / index[1]])
    np.testing.assert_allclose(momentum["series"]["buy_and_hold"], bh, atol=5e-5)  # rounded to 4 dp
    np.testing.assert_allclose(momentum["series"]["benchmark"], ix, atol=5e-5)
    run = strategy_backtest(MARKET, IT, DEMO_AS_OF, "momentum")  # unrounded: to the last bits
    np.testing.assert_allclose(run.backtest.books["buy_and_hold"].equity, bh, rtol=1e-12)
    np.testing.assert_allclose(run.backtest.books["benchmark"].equity, ix, rtol=1e-12)
    assert momentum["metrics"]["benchmark"]["total_return"] == pytest.approx(ix[-1] - 1, abs=5e-5)


def test_the_out_of_sample_split_is_stated(momentum):
    o = momentum["out_of_sample"]
    assert o["method"] == "train/test split" and o["criterion"] == "sharpe_ratio"
    assert o["train"]["start"] == momentum["window"]["start"] and o["test"]["end"] == momentum["window"]["end"]
    assert o["train"]["end"] == o["test"]["start"] and o["train"]["days"] + o["test"]["days"] == 756
    assert o["combinations"] == len(o["trials"]) == 9
    assert o["chosen"] == max(o["trials"], key=lambda t: t["sharpe_ratio"])["params"]
    assert o["metrics"]["strategy"]["days"] == o["test"]["days"]
    assert set(o["verdict"]) == {"beats_buy_and_hold", "beats_benchmark", "cagr_vs_buy_and_hold", "cagr_vs_benchmark"}


@pytest.mark.parametrize("strategy", ["momentum", "mean_reversion"])
def test_chat_and_explorer_give_the_same_figures_to_the_last_digit(study, strategy):
    chat = tool_backtest(strategy=strategy)
    assert study.output(strategy) == chat  # same function, same defaults, same output
    assert json.dumps(study.output(strategy), sort_keys=True) == json.dumps(chat, sort_keys=True)
    html = study.metrics_html().data
    for key in ("total_return", "cagr", "max_drawdown"):
        assert f"{chat['metrics']['strategy'][key] * 100:.2f}%" in html


def test_the_it_momentum_case_of_the_issue_loses_to_buy_and_hold(momentum):
    m, v = momentum["metrics"], momentum["verdict"]
    assert m["strategy"]["total_return"] < m["buy_and_hold"]["total_return"] and v["beats_buy_and_hold"] is False
    assert v["cagr_vs_buy_and_hold"] == pytest.approx(m["strategy"]["cagr"] - m["buy_and_hold"]["cagr"], abs=2e-4)


def test_the_benchmark_is_any_index_the_provider_has():
    run = strategy_backtest(MARKET, IT, DEMO_AS_OF, "momentum", benchmark="nifty 50")
    assert run.benchmark == "NIFTY 50"
    with pytest.raises(Exception, match="not an index") as err:
        strategy_backtest(MARKET, IT, DEMO_AS_OF, "momentum", benchmark="TCS")
    assert "NIFTY 50" in str(err.value)


def test_the_sweep_keeps_the_window(study):
    rows = study.sweep("momentum", {"lookback": [63, 126], "top_n": [2, 3]})
    assert len(rows) == 4 and {r["metrics"]["days"] for r in rows} == {756}
    default = next(r for r in rows if r["params"]["lookback"] == 126 and r["params"]["top_n"] == 3)
    assert default["metrics"]["total_return"] == pytest.approx(study.output("momentum")["metrics"]["strategy"]
                                                               ["total_return"], abs=5e-5)
    html = study.sweep_html("momentum").data
    assert html.count("<tr>") == 1 + 9 + 1  # header, the 9 combinations, buy-and-hold
