"""Holdings, portfolios, valuation and every way a portfolio file can be wrong."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qlwork.errors import InputError
from qlwork.market import DEMO_AS_OF, DemoMarketData
from qlwork.portfolio import (
    EXPECTED_HEADER,
    VALUATION_COLUMNS,
    Holding,
    Portfolio,
    load_portfolio,
    sample_portfolios,
)

SAMPLES = ("concentrated", "diversified", "it_heavy", "smallcap_highvol", "near_cash")


@pytest.fixture(scope="module")
def market():
    return DemoMarketData()


@pytest.fixture(scope="module")
def known(market):
    return set(market.instruments()["tradingsymbol"])


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load_error(source, **kw) -> InputError:
    with pytest.raises(InputError) as err:
        load_portfolio(source, **kw)
    return err.value


def priced(pf: Portfolio, market):
    last = market.close_prices(pf.symbols, end=DEMO_AS_OF).iloc[-1]
    return pf.valuation(last, market.sectors(pf.symbols))


# -- samples ----------------------------------------------------------------------------------

def test_sample_files_are_shipped_in_package_data():
    samples = sample_portfolios()
    assert set(SAMPLES) <= set(samples)
    for path in samples.values():
        assert path.parent.parts[-2:] == ("data", "portfolios") and path.suffix == ".csv"
        assert path.read_text(encoding="utf-8").splitlines()[0] == EXPECTED_HEADER
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"data/**/*"' in pyproject


@pytest.mark.parametrize("name", SAMPLES)
def test_samples_load_against_demo_universe(name, market, known):
    pf = load_portfolio(f"sample:{name}", known_symbols=known)
    assert pf.name == name and pf.source == f"sample:{name}"
    val = priced(pf, market)
    assert val["weight"].sum() == pytest.approx(1.0)
    assert (val["average_price"] > 0).all()
    # average prices were taken from earlier demo closes: P&L is plausible, not absurd
    assert (val["pnl_pct"].abs() < 3).all()


def test_sample_shapes(market, known):
    def load(name):
        return load_portfolio(f"sample:{name}", known_symbols=known)

    conc = priced(load("concentrated"), market)
    assert 4 <= len(conc) <= 5 and conc["weight"].max() >= 0.35
    div = priced(load("diversified"), market)
    assert 15 <= len(div) <= 20 and div["sector"].nunique() >= 8 and div["weight"].max() < 0.15
    it = load("it_heavy")
    assert it.sector_exposure(priced(it, market).set_index("symbol")["last_price"],
                              market.sectors(it.symbols))["Information Technology"] > 0.6
    small = priced(load("smallcap_highvol"), market)
    assert set(small["sector"]) <= {"Capital Goods", "Financial Services", "Construction", "Telecommunication"}
    cash = priced(load("near_cash"), market).set_index("symbol")
    assert cash.loc["LIQUIDBEES", "weight"] > 0.7 and len(cash) >= 3


def test_unknown_sample_lists_available():
    err = load_error("sample:nope")
    assert "nope" in str(err) and "sample:diversified" in str(err)


# -- valuation --------------------------------------------------------------------------------

def test_valuation_math():
    pf = load_portfolio([
        {"symbol": "TCS", "qty": 10, "avg_price": 3000, "ltp": 1.0},
        {"tradingsymbol": "INFY", "quantity": 20, "average_price": 1500.0},
        {"tradingsymbol": "ITC", "quantity": 100, "buy_price": 400.0, "last_price": 410.0},
    ], name="mix")
    prices = pd.Series({"TCS": 3300.0, "INFY": 1400.0})  # overrides TCS's ltp, ITC falls back to its ltp
    val = pf.valuation(prices, {"TCS": "IT", "INFY": "IT"})
    assert list(val.columns) == VALUATION_COLUMNS
    row = val.set_index("symbol")
    assert row.loc["TCS", "last_price"] == 3300.0 and row.loc["ITC", "last_price"] == 410.0
    expected_pnl = (np.array([3300, 1400, 410]) - np.array([3000, 1500, 400])) * np.array([10, 20, 100])
    assert np.allclose(val["pnl"], expected_pnl)
    assert np.allclose(val["invested"], [30000, 30000, 40000])
    assert np.allclose(val["market_value"], [33000, 28000, 41000])
    assert val["weight"].sum() == pytest.approx(1.0)
    assert np.allclose(val["weight"], np.array([33000, 28000, 41000]) / 102000)
    assert np.allclose(val["pnl_pct"], expected_pnl / np.array([30000, 30000, 40000]))
    assert list(val["sector"]) == ["IT", "IT", "Unknown"]
    assert pf.market_value(prices) == pytest.approx(102000)
    assert pf.weights(prices)["ITC"] == pytest.approx(41000 / 102000)
    assert pf.sector_exposure(prices, {"TCS": "IT", "INFY": "IT", "ITC": "FMCG"}) == \
        pytest.approx({"IT": 61000 / 102000, "FMCG": 41000 / 102000})
    assert np.array_equal(pf.quantities, [10, 20, 100]) and pf.symbols == ["TCS", "INFY", "ITC"]


def test_missing_price_names_the_symbol():
    pf = load_portfolio([{"tradingsymbol": "TCS", "quantity": 1, "average_price": 1.0},
                         {"tradingsymbol": "INFY", "quantity": 1, "average_price": 1.0}])
    with pytest.raises(InputError) as err:
        pf.valuation({"TCS": 10.0})
    assert "INFY" in str(err.value) and "TCS" not in err.value.message.split("for")[1]
    with pytest.raises(InputError, match="INFY"):
        pf.valuation({"TCS": 10.0, "INFY": float("nan")})


def test_records_round_trip(tmp_path):
    pf = load_portfolio("sample:concentrated")
    records = pf.to_records()
    json.dumps(pf.to_dict())
    assert records[0]["tradingsymbol"] == pf.symbols[0] and records[0]["product"] == "CNC"
    path = write(tmp_path, "round.json", json.dumps(pf.to_dict()))
    again = load_portfolio(path)
    assert again.symbols == pf.symbols and again.name == "concentrated"
    assert np.array_equal(again.quantities, pf.quantities)


def test_holding_model_validates():
    h = Holding(tradingsymbol=" nse:tcs ", quantity=5, average_price=10.5)
    assert h.tradingsymbol == "TCS" and h.exchange == "NSE" and h.product == "CNC"
    with pytest.raises(ValueError):
        Holding(tradingsymbol="TCS", quantity=0, average_price=1.0)
    with pytest.raises(ValueError):
        Holding(tradingsymbol="TCS", quantity=1, average_price=-1.0)


# -- accepted formats -------------------------------------------------------------------------

def test_csv_with_aliases_bom_and_blank_lines(tmp_path, known):
    path = write(tmp_path, "mine.csv", "\ufeffSymbol, Qty ,Avg Price,LTP,notes\n\nnse:tcs,10,3000,,long term\n"
                                       "Infy,5,1500.50,1600,\n\n")
    pf = load_portfolio(path, known_symbols=known)
    assert pf.name == "mine" and pf.symbols == ["TCS", "INFY"]
    assert pf.holdings[1].average_price == 1500.5 and pf.holdings[1].last_price == 1600
    assert pf.holdings[0].last_price is None
    assert pf.metadata["format"] == "csv"


def test_kite_holdings_response(tmp_path, known):
    body = {"status": "success", "data": [
        {"tradingsymbol": "RELIANCE", "exchange": "NSE", "instrument_token": 738561, "isin": "INE002A01018",
         "product": "CNC", "quantity": 12, "t1_quantity": 0, "average_price": 1400.5, "last_price": 1510.0,
         "close_price": 1500.0, "pnl": 1313.99, "day_change": 10.0, "day_change_percentage": 0.66},
    ]}
    pf = load_portfolio(write(tmp_path, "kite.json", json.dumps(body)), known_symbols=known)
    h = pf.holdings[0]
    assert (h.tradingsymbol, h.quantity, h.instrument_token, h.isin) == ("RELIANCE", 12, 738561, "INE002A01018")
    assert pf.metadata["format"] == "kite"
    assert pf.valuation()["pnl"].iloc[0] == pytest.approx((1510.0 - 1400.5) * 12)
    err = load_error(write(tmp_path, "kerr.json", json.dumps({"status": "error", "message": "Token expired",
                                                              "error_type": "TokenException"})))
    assert "Token expired" in str(err)


def test_json_named_holdings_and_records(tmp_path):
    path = write(tmp_path, "p.json", json.dumps({"name": "Asha", "holdings": [
        {"symbol": "TCS", "qty": "3", "avg_price": "3,100.00"}]}))
    pf = load_portfolio(path)
    assert pf.name == "Asha" and pf.holdings[0].average_price == 3100.0
    assert load_portfolio(path, name="other").name == "other"
    listed = load_portfolio(write(tmp_path, "list.json", json.dumps([{"symbol": "TCS", "qty": 1, "avg_price": 1}])))
    assert listed.name == "list"


# -- bad input: each names file, row and field ------------------------------------------------

def assert_names(err: InputError, *parts: str) -> None:
    text = str(err)
    for part in parts:
        assert part in text, f"{part!r} not in {text!r}"
    assert err.fix


def test_unknown_symbol_with_suggestion(tmp_path, known):
    path = write(tmp_path, "pf.csv", f"{EXPECTED_HEADER}\nTCS,NSE,1,10\nRELAINCE,NSE,2,100\n")
    pf = load_portfolio(path, known_symbols=known)  # left out and named, never a rejection of the file
    assert pf.symbols == ["TCS"]
    [gone] = pf.metadata["symbols_without_data"]
    assert gone["symbol"] == "RELAINCE" and gone["row"] == 3 and "RELIANCE" in gone["reason"]
    only = write(tmp_path, "bad.csv", f"{EXPECTED_HEADER}\nRELAINCE,NSE,2,100\n")
    err = load_error(only, known_symbols=known)  # nothing priceable: that is an error
    assert_names(err, "bad.csv", "row 2", "RELAINCE", "RELIANCE")
    # without a universe the symbol is accepted as written
    assert load_portfolio(path).symbols == ["TCS", "RELAINCE"]


@pytest.mark.parametrize("qty, problem", [("0", "greater than 0"), ("-5", "greater than 0"),
                                          ("2.5", "whole number"), ("ten", "not a number"), ("", "empty")])
def test_bad_quantity(tmp_path, qty, problem):
    path = write(tmp_path, "q.csv", f"{EXPECTED_HEADER}\nTCS,NSE,1,10\nINFY,NSE,{qty},100\n")
    err = load_error(path)
    assert_names(err, "q.csv", "row 3", "'quantity'", problem)
    assert err.details["row"] == 3 and err.details["field"] == "quantity"


def test_fractional_quantity_in_json(tmp_path):
    err = load_error(write(tmp_path, "f.json", json.dumps([{"tradingsymbol": "TCS", "quantity": 1.5,
                                                            "average_price": 10}])))
    assert_names(err, "f.json", "row 1", "quantity", "whole number")


def test_missing_required_columns(tmp_path):
    err = load_error(write(tmp_path, "cols.csv", "symbol,exchange\nTCS,NSE\n"))
    assert_names(err, "cols.csv", "quantity", "average_price", EXPECTED_HEADER)
    assert err.details["missing"] == ["quantity", "average_price"]
    err = load_error(write(tmp_path, "cols.json", json.dumps([{"tradingsymbol": "TCS", "quantity": 1}])))
    assert_names(err, "cols.json", "row 1", "average_price")


def test_duplicate_symbol_rows(tmp_path):
    path = write(tmp_path, "dup.csv", f"{EXPECTED_HEADER}\nTCS,NSE,1,10\nINFY,NSE,2,10\ntcs,NSE,3,12\n")
    err = load_error(path)
    assert_names(err, "dup.csv", "row 4", "tradingsymbol", "TCS", "first at row 2", "Merge")


@pytest.mark.parametrize("price", ["abc", "12..5", "-10", "0"])
def test_bad_average_price(tmp_path, price):
    err = load_error(write(tmp_path, "price.csv", f"{EXPECTED_HEADER}\nTCS,NSE,1,{price}\n"))
    assert_names(err, "price.csv", "row 2", "'average_price'")


def test_non_numeric_last_price(tmp_path):
    err = load_error(write(tmp_path, "ltp.csv", "symbol,qty,avg_price,ltp\nTCS,1,10,n/a\n"))
    assert_names(err, "ltp.csv", "row 2", "'last_price'", "not a number")


def test_several_problems_are_reported_together(tmp_path):
    err = load_error(write(tmp_path, "many.csv", f"{EXPECTED_HEADER}\nTCS,NSE,0,10\nINFY,NSE,1,x\n"))
    assert_names(err, "2 problems", "row 2", "row 3", "'quantity'", "'average_price'")
    assert len(err.details["problems"]) == 2


def test_empty_files(tmp_path):
    assert_names(load_error(write(tmp_path, "empty.csv", "")), "empty.csv", "empty", EXPECTED_HEADER)
    assert_names(load_error(write(tmp_path, "blank.csv", " \n\n")), "blank.csv", "empty")
    assert_names(load_error(write(tmp_path, "header.csv", EXPECTED_HEADER + "\n")), "header.csv", "no holdings")
    assert_names(load_error(write(tmp_path, "empty.json", "[]")), "empty.json", "no holdings")


def test_wrong_encodings(tmp_path):
    utf16 = f"{EXPECTED_HEADER}\nTCS,NSE,1,10\n".encode("utf-16")
    assert_names(load_error(write(tmp_path, "u16.csv", utf16)), "u16.csv", "UTF-16", "Save it as UTF-8")
    latin = f"{EXPECTED_HEADER}\nTCS,NSE,1,10\nNESTLÉ,NSE,1,10\n".encode("latin-1")
    err = load_error(write(tmp_path, "latin.csv", latin))
    assert_names(err, "latin.csv", "not valid UTF-8", "line 3", "Save it as UTF-8")


def test_missing_file_and_wrong_type(tmp_path):
    assert_names(load_error(tmp_path / "absent.csv"), "absent.csv", "does not exist")
    assert_names(load_error(str(tmp_path / "absent")), "absent", "does not exist")
    assert_names(load_error(write(tmp_path, "pf.xlsx", "x")), "pf.xlsx", "not a readable .xlsx")
    assert_names(load_error(write(tmp_path, "pf.txt", "x")), "pf.txt", ".csv, .xlsx or .json")
    assert str(tmp_path) not in load_error(tmp_path / "absent.csv").message  # no directories in errors
    assert_names(load_error(42), "int")


def test_invalid_json_reports_line_and_column(tmp_path):
    path = write(tmp_path, "bad.json", '[\n  {"tradingsymbol": "TCS", "quantity": 1 "average_price": 10}\n]')
    err = load_error(path)
    assert_names(err, "bad.json", "line 2", "column")
    assert err.details["row"] == 2 and err.details["column"] > 1


def test_json_wrong_shapes(tmp_path):
    assert_names(load_error(write(tmp_path, "obj.json", '{"foo": 1}')), "obj.json", "does not look like a portfolio")
    assert_names(load_error(write(tmp_path, "row.json", '[["TCS", 1, 10]]')), "row.json", "row 1", "object")


def test_extra_values_in_a_row(tmp_path):
    err = load_error(write(tmp_path, "comma.csv", f"{EXPECTED_HEADER}\nTCS,NSE,1,1,234.50\n"))
    assert_names(err, "comma.csv", "row 2", "5 values", "4 columns")
