"""Asset classes from the shipped ETF table and from Kite instrument names and types."""

import pandas as pd
import pytest

from qlwork.market.asset_classes import classify, index_sectors, sector_label


def test_shipped_table_classifies_common_etfs():
    out = classify(["LIQUIDBEES", "LIQUIDCASE", "GOLDBEES", "SILVERBEES", "NIFTYBEES", "BANKBEES", "JUNIORBEES"])
    assert {s: (c["asset_class"], c["index"]) for s, c in out.items()} == {
        "LIQUIDBEES": ("cash", None), "LIQUIDCASE": ("cash", None), "GOLDBEES": ("commodity", None),
        "SILVERBEES": ("commodity", None), "NIFTYBEES": ("index_fund", "NIFTY 50"),
        "BANKBEES": ("index_fund", "NIFTY BANK"), "JUNIORBEES": ("index_fund", "NIFTY NEXT 50")}


def test_kite_names_and_types_classify_what_the_table_lacks():
    dump = pd.DataFrame({
        "tradingsymbol": ["ABSLLIQUID", "AXISGOLD", "MON100", "MOM50", "INFY", "KOTAKBKETF"],
        "name": ["ADITYA BIRLA SL CRISIL LIQUID OVERNIGHT ETF", "AXIS GOLD ETF", "MOTILAL OSWAL NASDAQ 100 ETF",
                 "MOTILAL OSWAL NIFTY 50 ETF", "INFOSYS", "KOTAK NIFTY BANK ETF"],
        "instrument_type": ["EQ"] * 6})
    out = classify(list(dump["tradingsymbol"]), dump)
    assert out["ABSLLIQUID"]["asset_class"] == "cash"
    assert out["AXISGOLD"]["asset_class"] == "commodity"
    assert out["MON100"]["asset_class"] == "fund"  # an ETF of unknown make-up is a fund, not a stock
    assert out["MOM50"] == {"asset_class": "index_fund", "index": "NIFTY 50", "source": "instrument name and type"}
    assert out["KOTAKBKETF"]["index"] == "NIFTY BANK"
    assert out["INFY"]["asset_class"] == "equity"
    assert classify(["UNKNOWNX"])["UNKNOWNX"]["asset_class"] == "equity"


def test_index_sector_weights_sum_to_one():
    for index in ("NIFTY BANK", "NIFTY NEXT 50", "NIFTY IT", "NIFTY PSU BANK", "NIFTY PHARMA"):
        weights, n = index_sectors(index)
        assert sum(weights.values()) == pytest.approx(1.0) and n > 1
    nifty, n = index_sectors("NIFTY 50", {"Financial Services": 2.0, "Information Technology": 2.0})
    assert nifty == {"Financial Services": 0.5, "Information Technology": 0.5} and n == 50
    assert index_sectors("NIFTY 50") is None and index_sectors("NIFTY MARS") is None
    assert sector_label("index_fund", "NIFTY BANK", "x") == "Index fund (NIFTY BANK)"
    assert sector_label("equity", None, "Healthcare") == "Healthcare"
