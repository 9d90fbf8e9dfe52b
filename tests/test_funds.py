"""Mutual funds: categories, a CAS PDF generated in the CAMS summary layout and read by the real casparser
(password from the argument or QLWORK_CAS_PASSWORD, never kept), wrong passwords and non-CAS PDFs, and the demo provider's synthetic NAVs."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from pypdf import PdfWriter

from qlwork.cli.commands import main
from qlwork.errors import InputError
from qlwork.market import DemoMarketData
from qlwork.portfolio.funds import PASSWORD_ENV, fund_category, load_cas
from cas_pdf import SAMPLE, cas_pdf

PAN = "ABCDE1234F"


@pytest.mark.parametrize("name, hint, category", [
    ("Parag Parikh Flexi Cap Fund - Direct Plan Growth", "EQUITY", "equity"),
    ("HDFC Liquid Fund - Direct Plan - Growth Option", "DEBT", "liquid"),
    ("Nippon India ETF Nifty 1D Rate Liquid BeES", None, "liquid"),
    ("UTI Nifty 50 Index Fund - Direct Plan Growth", "EQUITY", "index"),
    ("HDFC Balanced Advantage Fund - Direct Plan", "EQUITY", "hybrid"),
    ("ICICI Prudential Equity & Debt Fund", None, "hybrid"),
    ("SBI Banking & PSU Fund - Direct", "DEBT", "debt"),
    ("ICICI Prudential Corporate Bond Fund", None, "debt"),
    ("Axis ELSS Tax Saver Fund", None, "equity"),
    ("Nippon India Gold Savings Fund", None, "other"),
    ("XYZ Scheme Alpha", "DEBT", "debt"),
    ("XYZ Scheme Alpha", None, "other"),
])
def test_fund_category(name, hint, category):
    assert fund_category(name, hint) == category


@pytest.fixture
def cas_file(tmp_path):
    path = tmp_path / "CAS_20261120.pdf"
    path.write_bytes(cas_pdf(SAMPLE, password=PAN))
    return path


def test_cas_pdf_is_read_with_casparser(cas_file, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    funds = load_cas(cas_file, PAN)
    assert funds.source == "cas:CAMS" and funds.metadata["statement_to"] == "20-Nov-2026"
    by_isin = {f.isin: f for f in funds.funds}
    assert set(by_isin) == {s["isin"] for s in SAMPLE}
    ppfas = by_isin["INF879O01027"]
    assert (ppfas.units, ppfas.nav, ppfas.value, ppfas.cost) == (500.123, 88.412, 44217.07, 31175.0)
    assert ppfas.category == "equity" and ppfas.folio == "12345678" and ppfas.amc == "PPFAS Mutual Fund"
    assert by_isin["INF179KB1HP9"].category == "liquid" and by_isin["INF179K01WA6"].category == "hybrid"
    assert funds.value == pytest.approx(sum(s["value"] for s in SAMPLE))
    assert sum(funds.category_weights().values()) == pytest.approx(1.0)
    assert PAN not in json.dumps(funds.model_dump(mode="json"))  # the password is never kept
    # from the environment variable too
    monkeypatch.setenv(PASSWORD_ENV, PAN)
    assert len(load_cas(cas_file).funds) == 3


def test_wrong_password_and_not_a_cas(cas_file, tmp_path, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(InputError) as err:
        load_cas(cas_file, "WRONG0000X")
    assert err.value.details["code"] == "cas_password" and "WRONG0000X" not in str(err.value.to_dict())
    assert str(tmp_path) not in err.value.message and "CAS_20261120.pdf" in err.value.message
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buf = io.BytesIO()
    writer.write(buf)
    other = tmp_path / "invoice.pdf"
    other.write_bytes(buf.getvalue())
    with pytest.raises(InputError) as err:
        load_cas(other, PAN)
    assert err.value.details["code"] == "not_cas" and "invoice.pdf" in err.value.message
    with pytest.raises(InputError) as err:  # no password anywhere and no terminal to ask on
        load_cas(cas_file)
    assert PASSWORD_ENV in err.value.fix


def test_cli_funds_from_a_cas(cas_file, monkeypatch, capsys):
    monkeypatch.setenv(PASSWORD_ENV, PAN)
    assert main(["funds", "--cas", str(cas_file), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["source"] == "cas:CAMS" and len(out["funds"]) == 3 and PAN not in json.dumps(out)


def test_demo_fund_navs_are_synthetic_and_calibrated():
    market = DemoMarketData()
    schemes = market.fund_schemes()
    navs = market.fund_navs(list(schemes["isin"]))
    assert navs.attrs["synthetic"] is True
    at = navs.loc["2026-11-20"]
    assert np.allclose(at.to_numpy(), schemes["nav"].to_numpy())
    r = navs.pct_change().dropna()
    vol = r.std() * np.sqrt(252)
    assert vol["INF179KB1HP9"] < 0.005 < vol["INF109K016B1"] < 0.05 < vol["INF179K01WA6"] < vol["INF789F01XA0"]
    index = market.close_prices(["NIFTY 50"]).pct_change().dropna()["NIFTY 50"]
    assert np.corrcoef(r["INF789F01XA0"], index.loc[r.index])[0, 1] > 0.99
    assert market.fund_navs("INF109K016B1", start="2026-11-02", end="2026-11-20").iloc[-1, 0] == 31.2
    with pytest.raises(InputError):
        market.fund_navs(["INF000NOTREAL"])
