"""Sectors from NSE's industry classification: the bundled list, `qlwork sectors update` against a local
server (and offline), aliases, and Unclassified left out of sector-balance scoring but reported."""

from __future__ import annotations

import contextlib
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qlwork.analytics.health import assess_health
from qlwork.market import DemoMarketData
from qlwork.market import sectors as sec
from qlwork.tools.registry import ToolContext
from qlwork.tools.trading import analyze_portfolio


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def nse_site():
    """A local stand-in for NSE's site: /list.csv (a newer list), /page.html (not a list), /down (HTTP 503)."""
    newer = sec.BUNDLED.read_text(encoding="utf-8").replace(
        ",Information Technology,TCS,", ",Services,TCS,") + "NewCo Ltd.,Power,NEWCO,EQ,INE000N01010\n"
    pages = {"/list.csv": (200, "text/csv", newer.encode()),
             "/page.html": (200, "text/html", b"<html>" + b"x" * 5000 + b"</html>"),
             "/down": (503, "text/plain", b"maintenance")}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status, ctype, body = pages.get(self.path, (404, "text/plain", b"no"))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _cli(argv) -> tuple[int, str]:
    from qlwork.cli.commands import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(argv)
    return code, out.getvalue()


def test_bundled_list_and_lookup(home):
    table = sec.industries()
    assert table is sec.bundled_industries() and len(table["symbol"]) >= 500
    assert sec.industry_of("TCS") == "Information Technology"
    assert sec.industry_of("ANYTHING", isin="INE467B01029") == "Information Technology"  # TCS's ISIN
    assert sec.industry_of("NOTLISTED") == sec.UNCLASSIFIED
    assert sec.source()["bundled"] is True


@pytest.mark.parametrize("word, expected", [
    ("IT", "Information Technology"), ("tech", "Information Technology"), ("banks", "Financial Services"),
    ("pharma", "Healthcare"), ("fmcg", "Fast Moving Consumer Goods"), ("energy", "Oil Gas & Consumable Fuels"),
    ("metals", "Metals & Mining"), ("Financial Services", "Financial Services"), ("telecom", "Telecommunication"),
    ("astrology", None),
])
def test_aliases_map_to_nse_names(word, expected):
    labels = set(DemoMarketData().instruments()["sector"])
    assert sec.match_sector(word, labels) == expected


def test_update_from_nse_then_offline_and_bad_content(home, nse_site):
    code, text = _cli(["sectors", "update", "--url", f"{nse_site}/list.csv"])
    assert code == 0, text
    assert "502 symbols" in text
    assert sec.industry_of("TCS") == "Services" and sec.industry_of("NEWCO") == "Power"
    assert sec.source()["bundled"] is False and sec.source()["url"].endswith("/list.csv")
    # the demo keeps the bundled copy: reproducible
    assert DemoMarketData().sectors(["TCS"]) == {"TCS": "Information Technology"}
    # offline, HTTP errors and a page that is not the list: clear errors, the list in use kept
    for url, pattern in ((f"http://127.0.0.1:9/{sec.FILE_NAME}", "Could not download"),
                         (f"{nse_site}/down", "HTTP 503"), (f"{nse_site}/page.html", "is not NSE's NIFTY 500 list")):
        code, text = _cli(["sectors", "update", "--url", url, "--timeout", "2"])
        assert code == 2 and pattern in text and "Fix:" in text, text
        assert sec.industry_of("NEWCO") == "Power"
    code, text = _cli(["sectors", "show"])
    assert code == 0 and "refreshed" in text and "502 symbols" in text


def test_offline_update_keeps_the_bundled_list(home):
    code, text = _cli(["sectors", "update", "--url", "http://127.0.0.1:9/x.csv", "--timeout", "2"])
    assert code == 2 and "bundled copy" in text
    assert sec.source()["bundled"] is True and not sec.refreshed_path().exists()


def test_unclassified_is_left_out_of_sector_balance():
    bench = {"Information Technology": 0.3, "Financial Services": 0.7}
    base = assess_health([30, 70], ["Information Technology", "Financial Services"], bench, 0.15, -0.1, 0.9)
    mixed = assess_health([30, 70, 100], ["Information Technology", "Financial Services", "Unclassified"], bench,
                          0.15, -0.1, 0.9)
    assert base.components["sector_balance"]["score"] == 10.0
    assert mixed.components["sector_balance"]["score"] == 10.0  # the unknown half does not count as a sector
    assert mixed.unclassified_weight == pytest.approx(0.5)
    assert "Unclassified" not in mixed.active_sector_weights
    assert any("50.0% of the portfolio has no known sector" in n for n in mixed.notes)
    lost = assess_health([1, 1], ["Unclassified", "Unclassified"], bench, 0.15, -0.1, 0.9)
    assert "sector_balance" not in lost.components and lost.unclassified_weight == 1.0
    assert sum(c["weight"] for c in lost.components.values()) == pytest.approx(1.0)


def test_a_liquid_fund_is_cash_not_an_unclassified_sector(home):
    """LIQUIDBEES has no NSE industry; it is a liquid fund, so the analysis counts it as cash (issue 26),
    never as a sector called Unclassified, and says how much of the portfolio that is."""
    ctx = ToolContext(market=DemoMarketData(), portfolio="sample:near_cash", as_of="2026-11-20")
    out = analyze_portfolio.tool.invoke({"lookback_days": 60}, ctx)
    liquid = sum(h["weight"] for h in out["holdings"] if h["symbol"] == "LIQUIDBEES")
    assert liquid > 0.7 and out["asset_classes"]["cash"] == pytest.approx(liquid, abs=1e-3)
    assert out["unclassified_weight"] == 0 and all(h["sector"] != "Unclassified" for h in out["holdings"])
    text = " ".join(out["insights"])
    assert f"cash-like funds {liquid:.2%}" in text and "top sector Unclassified" not in text