"""Which uploads are holdings files (content decides, never the name), and what they load as."""

from __future__ import annotations

import json

import pytest

from qlwork.errors import InputError
from qlwork.tools.files import FileStore
from qlwork.tools.holdings_files import MAX_HOLDINGS_BYTES, holdings_format, load_holdings_file

ROW = {"tradingsymbol": "TCS", "exchange": "NSE", "quantity": 5, "average_price": 3000}


@pytest.mark.parametrize("kind,data,expected", [
    ("json", json.dumps({"status": "success", "data": [ROW]}), "json"),  # Kite holdings()
    ("json", json.dumps({"status": "success", "data": {"holdings": [ROW]}}), "json"),
    ("json", json.dumps([ROW]), "json"),
    ("json", json.dumps({"portfolio_id": "pf-1", "holdings": [ROW]}), "json"),
    ("json", json.dumps({"positions": [{"symbol": "TCS", "qty": 5, "avg_price": 3000}]}), "json"),
    ("csv", "\ufeffsymbol,qty,avg_price\nTCS,5,3000\n", "csv"),
    ("text", "Trading Symbol,Quantity,Average Price\nTCS,5,3000\n", "csv"),
    ("csv", "symbol,quarter,revenue\nTCS,Q2FY27,65210\n", None),  # an earnings table
    ("json", json.dumps({"title": "note", "body": "TCS quantity"}), None),
    ("json", json.dumps([{"symbol": "TCS", "close": 3400}]), None),  # prices, no quantity
    ("json", "{not json", None),
    ("png", "\x89PNG", None),
    ("csv", "", None),
])
def test_holdings_format(kind, data, expected):
    assert holdings_format(kind, data.encode("utf-8")) == expected


def test_loading_validates_and_skips_other_files(tmp_path):
    fs = FileStore(tmp_path)
    good = fs.create(json.dumps({"status": "success", "data": [ROW]}).encode(), "anything.bin")
    assert load_holdings_file(fs, good.id, {"TCS"}).symbols == ["TCS"]
    note = fs.create(b"just words\n", "n.txt")
    assert load_holdings_file(fs, note.id) is None
    big = fs.create(b"tradingsymbol,quantity,average_price\n" + b"TCS,1,1\n" * (MAX_HOLDINGS_BYTES // 8 + 1), "big.csv")
    assert load_holdings_file(fs, big.id) is None  # never read as holdings
    bad = fs.create(b"tradingsymbol,quantity,average_price\nTCSX,5,3000\n", "h.csv")
    with pytest.raises(InputError) as exc:
        load_holdings_file(fs, bad.id, {"TCS", "INFY"})
    assert "TCSX" in str(exc.value)
