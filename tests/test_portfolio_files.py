"""Holdings files as Indian investors have them: Zerodha's Kite and Console downloads (CSV and XLSX),
other brokers' column sets, exchange prefixes, and holdings the provider cannot price named, never a
rejection of the whole file. Fixtures are written from the documented column layouts."""

from __future__ import annotations

import pytest
from openpyxl import Workbook

from qlwork.errors import InputError
from qlwork.market import DemoMarketData, priceable_symbols
from qlwork.portfolio import load_portfolio
from qlwork.portfolio.sheets import detect_format
from qlwork.tools.registry import ToolContext
from qlwork.tools.trading import analyze_portfolio

KITE_HEADER = "Instrument,Qty.,Avg. cost,LTP,Cur. val,P&L,Net chg.,Day chg."


@pytest.fixture(scope="module")
def market():
    return DemoMarketData()


@pytest.fixture(scope="module")
def known(market):
    return priceable_symbols(market)


def kite_row(sym: str, qty: int, avg: float, ltp: float) -> str:
    val = qty * ltp
    return f"{sym},{qty},{avg:.2f},{ltp:.2f},{val:.2f},{val - qty * avg:.2f},{(ltp / avg - 1) * 100:.2f},0.35"


def test_zerodha_kite_holdings_download(tmp_path, known):
    rows = [kite_row("DMART", 12, 3800.0, 3650.5), kite_row("PERSISTENT", 8, 4200.0, 5100.0),
            kite_row("INFY", 40, 1450.0, 1560.0), '"HDFCBANK",25,"1,510.40","1,640.00",41000,3240,8.6,-0.2']
    path = tmp_path / "holdings.csv"
    path.write_text(KITE_HEADER + "\n" + "\n".join(rows) + "\n")
    pf = load_portfolio(path, known_symbols=known)
    assert pf.symbols == ["DMART", "PERSISTENT", "INFY", "HDFCBANK"]
    assert pf.quantities.tolist() == [12, 8, 40, 25]
    assert pf.average_prices.tolist() == [3800.0, 4200.0, 1450.0, 1510.40]
    assert pf.holdings[3].last_price == 1640.0
    assert pf.metadata["layout"] == "zerodha-kite" and "symbols_without_data" not in pf.metadata


def console_workbook(path, holdings):
    """Console's holdings report shape: account lines, a blank row, then the table."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Equity"
    sheet.append(["Client ID", "AB1234"])
    sheet.append(["Holdings statement as on 2026-11-20"])
    sheet.append([])
    sheet.append(["Symbol", "ISIN", "Sector", "Quantity Available", "Quantity Discrepant", "Quantity Long Term",
                  "Quantity Pledged (Margin)", "Quantity Pledged (Loan)", "Average Price", "Previous Closing Price",
                  "Unrealized P&L", "Unrealized P&L Pct."])
    for sym, qty, avg, close in holdings:
        sheet.append([sym, "INE000000000", "", qty, 0, qty, 0, 0, avg, close, round((close - avg) * qty, 2),
                      round((close / avg - 1) * 100, 2)])
    sheet.append([])
    sheet.append(["Total", None, None, None, None, None, None, None, None, None, 1234.5, None])
    book.save(path)


def test_zerodha_console_xlsx_with_account_lines(tmp_path, known):
    path = tmp_path / "holdings-AB1234.xlsx"
    console_workbook(path, [("TCS", 10, 3300.0, 3150.0), ("ABB", 5, 6100.0, 6050.0), ("NSE:ITC", 100, 420.0, 405.0)])
    pf = load_portfolio(path, known_symbols=known)
    assert pf.symbols == ["TCS", "ABB", "ITC"] and pf.quantities.tolist() == [10, 5, 100]
    assert [h.close_price for h in pf.holdings] == [3150.0, 6050.0, 405.0]
    assert pf.metadata["format"] == "xlsx" and pf.metadata["layout"] == "zerodha-console"


def test_a_broken_xlsx_is_named_without_its_directory(tmp_path):
    path = tmp_path / "holdings.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(InputError) as err:
        load_portfolio(path)
    assert "holdings.xlsx" in err.value.message and str(tmp_path) not in str(err.value.to_dict())


@pytest.mark.parametrize("header, layout", [
    ("Symbol,Qty,Avg Price,LTP", "csv"),                                  # Angel One / Upstox style
    ("Stock Symbol,Company Name,ISIN Code,Qty,Average Cost Price,Current Market Price", "csv"),  # ICICI Direct
    ("Scrip,Quantity,Avg. Buy Price,Closing Price", "csv"),
    ("tradingsymbol,exchange,quantity,average_price", "kite-connect"),
])
def test_other_broker_column_sets(tmp_path, known, header, layout):
    cols = header.split(",")
    values = {0: "SBIN", 1: "30"}
    if "Company Name" in cols:
        row = "SBIN,STATE BANK OF INDIA,INE062A01020,30,780.5,915"
    elif "exchange" in cols:
        row = "SBIN,NSE,30,780.5"
    else:
        row = ",".join([values[0], values[1], "780.5", "915"])
    path = tmp_path / "h.csv"
    path.write_text(header + "\n" + row + "\n")
    pf = load_portfolio(path, known_symbols=known)
    assert pf.symbols == ["SBIN"] and pf.quantities.tolist() == [30] and pf.average_prices.tolist() == [780.5]
    assert detect_format(cols) == layout


def test_exchange_prefixes_are_kept(tmp_path, known):
    path = tmp_path / "h.csv"
    path.write_text("symbol,qty,avg_price\nNSE:INFY,5,1500\nBSE:TCS,3,3100\nbse : sbin,4,800\n")
    pf = load_portfolio(path, known_symbols=known)
    assert pf.symbols == ["INFY", "TCS", "SBIN"]
    assert [h.exchange for h in pf.holdings] == ["NSE", "BSE", "BSE"]
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,exchange,qty,avg_price\nBSE:TCS,NSE,3,3100\nMCX:GOLD,,1,10\n")
    with pytest.raises(InputError) as err:
        load_portfolio(bad, known_symbols=known)
    text = err.value.message
    assert "row 2" in text and "BSE" in text and "NSE" in text and "row 3" in text and "MCX" in text


def forty_stock_file(tmp_path, market) -> tuple:
    inst = market.all_instruments()
    stocks = inst[inst["instrument_type"] == "EQ"]
    chosen = list(stocks["tradingsymbol"].iloc[::12][:35])
    assert len(chosen) == 35
    unknown = [("ZZNOTREAL", 10, 100.0, 95.0), ("KINGFISHER", 50, 40.0, None), ("SATYAMCOMP", 20, 150.0, 12.5),
               ("UNLISTEDCO", 100, 250.0, None), ("RELAINCE", 7, 1400.0, 1510.0)]
    lines = ["Instrument,Qty.,Avg. cost,LTP"]
    last = inst.set_index("tradingsymbol")["last_price"]
    for i, sym in enumerate(chosen):
        lines.append(f"{sym},{i + 1},{float(last[sym]) * 0.9:.2f},{float(last[sym]):.2f}")
    for j, (sym, qty, avg, ltp) in enumerate(unknown):
        lines.insert(3 + 7 * j, f"{sym},{qty},{avg},{'' if ltp is None else ltp}")
    path = tmp_path / "forty.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, chosen, unknown


def test_forty_stocks_with_five_unknown(tmp_path, market, known):
    path, chosen, unknown = forty_stock_file(tmp_path, market)
    pf = load_portfolio(path, known_symbols=known)
    assert sorted(pf.symbols) == sorted(chosen) and len(pf) == 35
    gone = {d["symbol"]: d for d in pf.metadata["symbols_without_data"]}
    assert set(gone) == {u[0] for u in unknown}
    for sym, qty, _, ltp in unknown:
        entry = gone[sym]
        assert "not a symbol the market data provider knows" in entry["reason"]
        assert entry["quantity"] == qty and entry["row"] > 1
        if ltp is None:
            assert "left out" in entry["reason"] and "market_value" not in entry
        else:
            assert entry["market_value"] == pytest.approx(qty * ltp) and "valued at the file's last price" in entry["reason"]
    assert "RELIANCE" in gone["RELAINCE"]["reason"]  # with the close match
    # the tool values the 35 and names the 5
    ctx = ToolContext(market=market, portfolio=str(path), paths_allowed=True)
    res = analyze_portfolio.tool.run({"lookback_days": 120}, ctx)
    assert res.error is None, res.error
    assert len(res.output["holdings"]) == 35
    assert {d["symbol"] for d in res.output["symbols_without_data"]} == set(gone)


def test_a_file_with_nothing_priceable_is_an_error_naming_each_row(tmp_path, known):
    path = tmp_path / "h.csv"
    path.write_text("symbol,qty,avg_price\nZZNOTREAL,1,10\nQQQQ,2,10\n")
    with pytest.raises(InputError) as err:
        load_portfolio(path, known_symbols=known)
    assert "row 2" in err.value.message and "row 3" in err.value.message and "ZZNOTREAL" in err.value.message
    assert str(tmp_path) not in err.value.message


def test_symbol_tools_price_the_wider_universe(market):
    from qlwork.tools.trading import calculate_risk_metrics, get_market_data

    ctx = ToolContext(market=market, as_of="2026-11-20")
    out = get_market_data.tool.run({"symbols": ["DMART", "nse:persistent", "TCS"], "limit": 5}, ctx)
    assert out.error is None, out.error
    risk = calculate_risk_metrics.tool.run({"symbols": ["DMART", "ZZNOTREAL"], "lookback_days": 60}, ctx).output
    assert list(risk["metrics"]) == ["DMART"]
    bad = get_market_data.tool.run({"symbols": ["INFOSIS"]}, ctx)  # suggestions as before, from the core list
    assert "did you mean INFY" in str(bad.error)


def test_cli_holdings_reads_a_console_workbook(tmp_path, capsys):
    from qlwork.cli.commands import main

    path = tmp_path / "holdings.xlsx"
    console_workbook(path, [("TCS", 10, 3300.0, 3150.0), ("DMART", 5, 3900.0, 3700.0), ("NOTREAL", 3, 10.0, 12.0)])
    assert main(["holdings", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 holdings (zerodha-console layout), 1 left out" in out and "NSE:DMART" in out and "file price" in out
    assert "left out: NOTREAL (row 7)" in out and "INR 36.00" in out
