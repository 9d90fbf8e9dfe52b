"""portfolio_review.xlsx (qlwork.reports.xlsx): read back with openpyxl, numbers as numbers with Indian
number formats, the same figures as the review result, reproducible bytes."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from qlwork.assistant.store import Store
from qlwork.errors import InputError
from qlwork.reports.xlsx import INR, PCT, workbook_bytes
from qlwork.review import run_review

openpyxl = pytest.importorskip("openpyxl")
NOW = dt.datetime(2026, 11, 21, 6, 30, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("home") / "qlwork.db")
    return run_review("bharat", "2026-11-20", portfolio="sample:diversified", store=store, now=NOW).summary()


def _rows(ws) -> list[tuple]:
    return list(ws.iter_rows(values_only=True))


def test_workbook_has_every_sheet_with_numbers_as_numbers(result):
    data = workbook_bytes(result)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["Holdings", "Sector weights", "Returns", "Metrics", "Recommendations", "Audit trail"]
    hold = wb["Holdings"]
    rows = _rows(hold)
    assert rows[0][-3:] == ("Weight", "P&L (INR)", "P&L %") and len(rows) == len(result["holdings"]) + 2
    by = {r[0]: r for r in rows[1:]}
    for h in result["holdings"]:
        row = by[h["symbol"]]
        assert row[2] == h["quantity"] and row[5] == h["market_value"] and row[6] == h["weight"] and row[8] == h["pnl_pct"]
        assert all(isinstance(v, (int, float)) for v in row[2:])
    assert by["Total"][5] == result["total_value"] and by["Total"][7] == result["total_pnl"]
    value_cell = hold.cell(2, 6)
    assert value_cell.number_format == INR and hold.cell(2, 7).number_format == PCT
    assert "##\\,##\\,##0.00" in INR  # lakh grouping: 2,40,340.00, not 240,340.00
    sectors = _rows(wb["Sector weights"])[1:]
    assert [r[0] for r in sectors] == [r["sector"] for r in result["sectors"]]
    assert sum(r[3] for r in sectors) == pytest.approx(0.0, abs=1e-5)
    returns = {r[0]: r for r in _rows(wb["Returns"])[1:]}
    assert returns["1Y"][3] == result["returns"]["1Y"]["portfolio"] and returns["1Y"][2] == 252
    metrics = {r[0]: r for r in _rows(wb["Metrics"])[1:]}
    assert metrics["cagr"][1:3] == tuple(result["tearsheet_metrics"]["cagr"])
    assert metrics["calmar_ratio"][3] == "ratio" and metrics["cagr"][3] == "fraction"
    recs = _rows(wb["Recommendations"])[1:]
    assert [(r[0], r[1], r[3]) for r in recs] == [(x["action"], x["symbol"], x["confidence"])
                                                  for x in result["recommendations"]]
    audit = _rows(wb["Audit trail"])[1:]
    assert [r[1] for r in audit][-1] == "portfolio_tearsheet" and "analyze_portfolio" in [r[1] for r in audit]
    assert all(r[3] in ("ok", "error") for r in audit)


def test_workbook_bytes_are_reproducible(result):
    assert workbook_bytes(result) == workbook_bytes(dict(result))


def test_unknown_format_names_the_choices(tmp_path):
    from qlwork.reports import run_batch

    with pytest.raises(InputError) as err:
        run_batch("2026-11-20", formats="html,docx", output_dir=tmp_path, progress=False)
    assert "docx" in str(err.value) and "xlsx" in err.value.fix
