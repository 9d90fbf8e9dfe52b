"""The trade-history report on demo prices: XIRR per holding and of the portfolio checked against scipy's
brentq on the same flows, the time-weighted return against the benchmark's own ratio, reconciliation with
a holdings file, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import brentq

import qlwork
from qlwork.cli.commands import main
from qlwork.market import DemoMarketData

TRADES = """date,symbol,side,quantity,price,trade_id
2019-04-01,TCS,buy,10,2000,1
2020-06-15,INFY,buy,30,700,2
2021-09-01,TCS,sell,4,3500,3
2022-02-14,DMART,buy,5,4300,4
2023-05-02,INFY,bonus,30,0,5
2024-03-11,ZZDELISTED,buy,100,50,6
"""


@pytest.fixture(scope="module")
def market():
    return DemoMarketData()


def brentq_xirr(flows):
    d0 = min(d for d, _ in flows)
    years = np.array([(np.datetime64(d) - np.datetime64(d0)).astype(int) / 365 for d, _ in flows])
    amounts = np.array([a for _, a in flows])
    return brentq(lambda r: float(np.sum(amounts / (1 + r) ** years)), -0.9999, 1e3, xtol=1e-14, rtol=1e-14)


def test_report_xirr_against_brentq(market, tmp_path):
    path = tmp_path / "tradebook.csv"
    path.write_text(TRADES)
    report = qlwork.trade_history(path, provider=market, as_of="2026-11-20")
    last = market.close_prices(["TCS", "INFY", "DMART"], end="2026-11-20").iloc[-1]
    pos = {p["symbol"]: p for p in report["positions"]}
    assert pos["TCS"]["quantity"] == 6 and pos["INFY"]["quantity"] == 60 and pos["DMART"]["quantity"] == 5
    tcs = [("2019-04-01", -20000.0), ("2021-09-01", 14000.0), ("2026-11-20", 6 * float(last["TCS"]))]
    assert abs(pos["TCS"]["xirr"] - brentq_xirr(tcs)) < 1e-4  # the report rounds to 4 places
    everything = [("2019-04-01", -20000.0), ("2020-06-15", -21000.0), ("2021-09-01", 14000.0),
                  ("2022-02-14", -21500.0),
                  ("2026-11-20", 6 * float(last["TCS"]) + 60 * float(last["INFY"]) + 5 * float(last["DMART"]))]
    assert abs(report["xirr"] - brentq_xirr(everything)) < 1e-4
    assert report["data_source"]["synthetic"] is True
    [gone] = report["symbols_without_data"]
    assert gone["symbol"] == "ZZDELISTED" and "left out" in gone["reason"]
    closed = report["closed_lots"]
    assert len(closed) == 1 and closed[0]["gain"] == 4 * 1500.0 and closed[0]["term"] == "long"
    json.dumps(report, allow_nan=False)


def test_time_weighted_return_of_one_buy_is_the_price_ratio(market):
    report = qlwork.trade_history("date,symbol,side,quantity,price\n2024-01-01,HDFCBANK,buy,10,1600\n",
                                  provider=market, as_of="2026-11-20", benchmark="NIFTY BANK")
    close = market.close_prices(["HDFCBANK", "NIFTY BANK"], start="2024-01-01", end="2026-11-20")
    tw = report["time_weighted"]
    assert report["benchmark"] == "NIFTY BANK"
    # the buy lands on the first trading day; from its close on, the return is the price's
    assert tw["portfolio"] == pytest.approx(close["HDFCBANK"].iloc[-1] / close["HDFCBANK"].iloc[0] - 1, abs=1e-4)
    assert tw["benchmark"] == pytest.approx(close["NIFTY BANK"].iloc[-1] / close["NIFTY BANK"].iloc[0] - 1, abs=1e-4)
    later = qlwork.trade_history("date,symbol,side,quantity,price\n2024-01-01,HDFCBANK,buy,10,1600\n",
                                 provider=market, as_of="2026-11-20", start="2025-04-01")
    part = close.loc["2025-04-01":]
    assert later["time_weighted"]["portfolio"] == pytest.approx(part["HDFCBANK"].iloc[-1] / part["HDFCBANK"].iloc[0] - 1,
                                                                abs=1e-4)
    with pytest.raises(qlwork.errors.InputError) as err:
        qlwork.trade_history("date,symbol,side,quantity,price\n2024-01-01,TCS,buy,1,1\n", provider=market,
                             benchmark="NIFTY TOYS")
    assert "NIFTY BANK" in err.value.fix


def test_reconciliation_with_a_holdings_file_and_the_cli(market, tmp_path, capsys):
    book = tmp_path / "tradebook.csv"
    book.write_text(TRADES)
    holdings = tmp_path / "holdings.csv"
    holdings.write_text("Instrument,Qty.,Avg. cost,LTP\nTCS,6,2000,3150\nINFY,120,350,1560\nITC,50,400,405\n")
    report = qlwork.trade_history(book, holdings=holdings, provider=market)
    diffs = {d["symbol"]: d["kind"] for d in report["reconciliation"]["differences"]}
    assert report["reconciliation"]["matched"] == ["TCS"]
    assert diffs == {"INFY": "split_or_bonus", "DMART": "not_held", "ITC": "not_in_tradebook",
                     "ZZDELISTED": "not_held"}
    assert main(["trades", str(book), "--holdings", str(holdings), "--benchmark", "NIFTY 500"]) == 0
    out = capsys.readouterr().out
    assert "XIRR" in out and "NIFTY 500" in out and "synthetic" in out and "differs: INFY" in out
    assert main(["holdings", str(holdings), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["layout"] == "zerodha-kite"
    assert main(["trades", str(tmp_path / "absent.csv")]) == 2
    assert str(tmp_path) not in capsys.readouterr().err
