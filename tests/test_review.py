"""qlwork.review: the weekly review behind notebooks/portfolio_review.ipynb."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from qlwork.review import executive as ex, render as rr, tearsheet_html as sheet
from qlwork.assistant.store import Store
from qlwork.errors import QlworkError
from qlwork.assistant.preferences import AIPreferences, save_preferences
from qlwork.review.weekly import (REVIEW_KIND, REVIEW_MIME, _backend, compare, effective_preferences, find_previous_review,
                           find_week_thread, iso_week, run_review)
from qlwork.reports.job import mask_volatile_html

SECTIONS = {"header_html": ex, "holdings_html": rr, "assessment_html": rr, "recommendations_html": rr,
            "insights_html": rr, "change_html": rr, "appendix_html": ex, "disclaimer_html": rr}
NOW = dt.datetime(2026, 11, 21, 6, 30, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def weeks(tmp_path_factory):
    """Two consecutive weekly reviews of one user, and a second run of the second week."""
    home = tmp_path_factory.mktemp("home")
    store = Store(home / "qlwork.db")
    kw = dict(portfolio="sample:it_heavy", risk_profile="moderate", horizon="long", store=store)
    first = run_review("chitra", "2026-11-13", now=NOW, **kw)
    second = run_review("chitra", "2026-11-20", now=NOW, **kw)
    again = run_review("chitra", "2026-11-20", now=NOW + dt.timedelta(hours=1), **kw)
    yield store, first, second, again
    store.close()


def test_iso_week():
    assert iso_week("2026-11-20") == "2026-W47"
    assert iso_week(dt.date(2027, 1, 1)) == "2026-W53"


def test_thread_per_user_per_week_linked_to_previous_week(weeks):
    store, first, second, again = weeks
    meta1 = store.get_thread(first.thread_id).metadata
    meta2 = store.get_thread(second.thread_id).metadata
    assert meta1["kind"] == meta2["kind"] == REVIEW_KIND
    assert (meta1["week"], meta2["week"]) == ("2026-W46", "2026-W47")
    assert "previous_thread_id" not in meta1 and meta2["previous_thread_id"] == first.thread_id
    assert meta2["user_id"] == "chitra" and meta2["review"]["overall_score"] == second.response["overall_score"]
    # a re-run of the same week appends a run to this week's thread, still linked to last week's
    assert again.thread_id == second.thread_id and again.run_id != second.run_id
    assert store.get_thread(again.thread_id).metadata["previous_thread_id"] == first.thread_id
    assert find_week_thread(store, "chitra", "2026-W47") == second.thread_id
    assert len(store.list_threads(user_id="chitra")) == 2  # one thread per user per week
    assert [r.id for r in store.list_runs(second.thread_id, order="asc")] == [second.run_id, again.run_id]
    assert find_previous_review(store, "chitra", "2026-W47")["thread_id"] == first.thread_id
    assert find_previous_review(store, "someone-else", "2026-W47") is None
    # the assistant was told about last week's review (thread and figures) on this week's thread
    questions = [m.text for m in store.list_messages(second.thread_id, order="asc") if m.role == "user"]
    assert len(questions) == 2 and questions[0] == questions[1]
    assert first.thread_id in questions[0] and "previous weekly review (as of 2026-11-13" in questions[0]


def test_review_content(weeks):
    _, first, second, _ = weeks
    assert first.change() is None and first.summary()["has_previous"] is False
    s = second.summary()
    assert s["status"] == "ok" and s["user_id"] == "chitra" and s["week"] == "2026-W47"
    assert s["synthetic"] is True and s["data_source"]["provider"] == "demo"
    assert 0 <= s["overall_score"] <= 10 and s["risk_level"] in ("low", "moderate", "high", "very_high")
    assert s["tools_used"][0] == "analyze_portfolio"
    assert s["change"]["previous_as_of"] == "2026-11-13"
    assert s["change"]["total_value"]["delta"] == pytest.approx(
        second.analysis["total_value"] - first.analysis["total_value"], abs=0.01)
    json.dumps(s)  # the MIME payload is plain JSON
    assert len(second.series.indicators) == 3


def test_review_carries_benchmark_constituent_weights(weeks):
    _, first, second, again = weeks
    bench = second.benchmark_weights
    assert len(bench) > 10 and sum(bench.values()) == pytest.approx(1.0, abs=1e-4)
    assert all(0 < w < 1 for w in bench.values())
    held = [h["symbol"] for h in second.analysis["holdings"]]
    assert held and all(s in bench for s in held)  # the IT-heavy sample holds NIFTY 50 constituents only
    assert bench == again.benchmark_weights == first.benchmark_weights  # deterministic
    ax, = rr.figure(second, "allocation").axes
    labels = [c.get_label() for c in ax.containers]
    assert labels == ["Portfolio", "NIFTY 50 weight"]
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert [round(p.get_width(), 6) for p in ax.containers[1].patches] == [bench.get(n, 0.0) for n in names]
    assert sorted(names) == sorted(held)


def test_summary_is_deterministic_and_ids_are_volatile(weeks):
    _, _, second, again = weeks
    assert second.summary() == again.summary()
    assert second.run_id != again.run_id
    vol = second.volatile_metadata()
    assert vol["thread_id"] == second.thread_id and vol["generated_at"] == "2026-11-21T06:30:00+00:00"
    text = json.dumps(second.summary())
    assert second.thread_id not in text and "2026-11-21T06" not in text
    for name, mod in SECTIONS.items():  # HTML differs only inside declared volatile spans
        assert mask_volatile_html(getattr(mod, name)(second)) == mask_volatile_html(getattr(mod, name)(again)), name


def test_sections_render(weeks):
    _, _, second, _ = weeks
    html = {name: getattr(mod, name)(second) for name, mod in SECTIONS.items()}
    assert "SYNTHETIC DATA" in html["header_html"] and "offline" in html["appendix_html"]
    assert 'data-field="generated_at"' in html["appendix_html"] and "generated_at" not in html["header_html"]
    for h in second.analysis["holdings"]:
        assert f"<td>{h['symbol']}</td>" in html["holdings_html"]
    assert "Sector weights vs NIFTY 50" in html["holdings_html"]
    assert "Largest peak-to-trough fall" in html["assessment_html"]  # metric definitions
    for rec in second.response["recommendations"]:
        assert f"<td>{rec['symbol']}</td>" in html["recommendations_html"]
    assert "Compared with the review as of 2026-11-13" in html["change_html"]
    assert "analyze_portfolio" in html["appendix_html"] and 'data-field="duration_ms"' in html["appendix_html"]
    assert "not investment advice" in html["disclaimer_html"] and "No orders were placed" in html["disclaimer_html"]
    for name in ("allocation", "sectors", "equity"):
        assert rr.figure(second, name).axes
    with pytest.raises(ValueError):
        rr.figure(second, "nope")


def test_emit_displays_the_custom_mime_bundle(weeks, monkeypatch):
    _, _, second, _ = weeks
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append((obj, kw)))
    second.emit()
    (bundle, kw), = shown
    assert bundle[REVIEW_MIME] == second.summary() and kw["raw"] is True
    assert kw["metadata"][REVIEW_MIME]["thread_id"] == second.thread_id
    assert "chitra" in bundle["text/plain"]


def test_compare_lists_what_changed():
    prev = {"as_of": "2026-11-13", "overall_score": 7.0, "risk_level": "moderate", "total_value": 100.0,
            "risk_metrics": {"beta": 1.0}, "weights": {"A": 0.5, "B": 0.5},
            "recommendations": [["add", "A"], ["hold", "B"]]}
    cur = {"as_of": "2026-11-20", "overall_score": 6.5, "risk_level": "high", "total_value": 110.0,
           "risk_metrics": {"beta": 1.2, "new": 1.0}, "weights": {"A": 0.7, "C": 0.3},
           "recommendations": [["add", "A"], ["reduce", "C"]]}
    ch = compare(prev, cur)
    assert ch["score"]["delta"] == -0.5 and ch["risk_level"]["changed"] is True
    assert ch["total_value"]["delta"] == 10.0
    assert ch["risk_metrics"] == {"beta": {"previous": 1.0, "current": 1.2, "delta": 0.2}}  # "new": no last week
    assert ch["added"] == ["C"] and ch["removed"] == ["B"] and ch["weight_changes"] == {"A": 0.2}
    assert ch["new_recommendations"] == [["reduce", "C"]] and ch["dropped_recommendations"] == [["hold", "B"]]


def test_bad_inputs_fail_clearly(tmp_path):
    store = Store(tmp_path / "q.db")
    with pytest.raises(QlworkError, match="sample"):
        run_review("x", "2026-11-20", portfolio="sample:nope", store=store)
    with pytest.raises(QlworkError):
        run_review("x", "2026-11-20", portfolio="sample:diversified", provider="nope", store=store)
    store.close()


def test_backend_merges_saved_preferences_with_per_user_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "home"))
    save_preferences("dina", AIPreferences(model="saved-model", timeout=90, max_retries=4, api_key_env="DINA_KEY"))
    prefs = effective_preferences("dina", "openai-chat", base_url="http://127.0.0.1:9/v1", timeout=12.5)
    assert (prefs.model, prefs.api_key_env, prefs.timeout, prefs.max_retries) == ("saved-model", "DINA_KEY", 12.5, 4)
    backend = _backend("dina", "openai-chat", None, "http://127.0.0.1:9/v1", None, timeout=7, max_retries=1)
    assert (backend.conn.timeout, backend.conn.max_retries, backend.model) == (7, 1, "saved-model")
    assert _backend("dina", "offline", None, None, None, timeout=7) == "offline"


def test_review_series_has_no_look_ahead_for_a_late_listed_holding():
    """A holding first priced part-way through the window is not held before then: the equity curve
    follows the other holdings' returns, ends at today's value and never uses a later price."""
    import numpy as np

    from qlwork.market import get_provider
    from qlwork.review.series import review_series

    market = get_provider("demo")

    class LateListing:  # the demo market with INFY's first 40 prices of the window missing
        def __getattr__(self, name):
            return getattr(market, name)

        def close_prices(self, symbols, **kw):
            close = market.close_prices(symbols, **kw).copy()
            close.iloc[:-30, close.columns.get_loc("INFY")] = np.nan
            return close

    holdings = {"TCS": 10, "INFY": 20}
    full = review_series(market, holdings, "2026-11-20", lookback_days=60)
    late = review_series(LateListing(), holdings, "2026-11-20", lookback_days=60)
    assert np.isfinite(late.equity).all() and np.isfinite(late.drawdown).all()
    assert late.equity[-1] == pytest.approx(full.equity[-1], rel=1e-12)  # today's value of the holdings
    tcs = market.close_prices(["TCS"], end="2026-11-20")["TCS"].to_numpy()[-61:]
    early = late.equity[:30]  # only TCS was held: the curve moves with TCS alone
    assert early[1:] / early[:-1] == pytest.approx(tcs[1:30] / tcs[:29], rel=1e-9)


def test_tearsheet_comes_from_a_tool_call_in_the_audit_trail(weeks):
    """The tearsheet's numbers check against plain NumPy on the same prices, and every figure is drawn
    from the portfolio_tearsheet output that the audit trail lists."""
    import numpy as np

    from qlwork.analytics.risk import holding_returns
    from qlwork.market import get_provider
    from qlwork.portfolio import load_portfolio

    _, _, second, _ = weeks
    call = next(c for c in second.report_calls if c["name"] == "portfolio_tearsheet")
    out = call["output"]
    assert call["error"] is None and call["arguments"] == {"lookback_days": 756}
    assert "portfolio_tearsheet" in ex.appendix_html(second) and '{&quot;lookback_days&quot;: 756}' in rr.audit_html(second)
    # independent: the same window's prices, today's quantities held through it
    market = get_provider("demo")
    pf = load_portfolio("sample:it_heavy")
    w = out["window"]
    close = market.close_prices(pf.symbols + ["NIFTY 50"], start=dt.date.fromisoformat(w["start"]),
                                end=dt.date.fromisoformat(w["end"]))
    value = (close[pf.symbols].ffill().to_numpy() * pf.quantities).sum(axis=1)
    daily = value[1:] / value[:-1] - 1
    assert len(out["daily_returns"]) == len(daily) == w["days"]
    assert np.allclose(out["daily_returns"], daily, atol=1e-6)
    assert out["total_return"] == pytest.approx(value[-1] / value[0] - 1, abs=1e-6)
    assert np.prod([1 + m for m in out["monthly_returns"].values()]) - 1 == pytest.approx(out["total_return"], abs=1e-4)
    assert out["var_95"] == pytest.approx(np.percentile(daily, 5), abs=1e-4)
    assert out["cvar_95"] == pytest.approx(daily[daily <= np.percentile(daily, 5)].mean(), abs=2e-4)
    last = daily[-126:]
    assert out["rolling"]["portfolio_volatility"][-1] == pytest.approx(last.std(ddof=1) * np.sqrt(252), abs=1e-4)
    rf = (1 + out["rolling"]["risk_free_rate"]) ** (1 / 252) - 1
    sharpe = (last - rf).mean() / (last - rf).std(ddof=1) * np.sqrt(252)
    assert out["rolling"]["portfolio_sharpe"][-1] == pytest.approx(sharpe, rel=1e-3)
    held = close[pf.symbols].ffill().to_numpy() * pf.quantities
    contrib = (held[-1] - held[0]) / value[0]
    assert contrib.sum() == pytest.approx(out["total_return"], abs=1e-6)
    best = pf.symbols[int(np.argmax(contrib))]
    assert out["contributors"][0]["symbol"] == best
    assert [r["contribution"] for r in out["contributors"]] == sorted((r["contribution"] for r in out["contributors"]),
                                                                      reverse=True)
    assert all(r["contribution"] < 0 for r in out["detractors"])
    assert np.allclose(holding_returns(close[pf.symbols].ffill().to_numpy(), pf.quantities)[-5:], daily[-5:])
    # four figures, all from that output (the monthly heatmap and calendar years are tables)
    figures = sheet.tearsheet_figures(second)
    assert [n for n, _ in figures] == ["underwater plot", "rolling volatility, Sharpe and beta",
                                       "daily returns, VaR and CVaR", "contributors and detractors"]
    dist = dict(figures)["daily returns, VaR and CVaR"]
    marked = sorted(line.get_xdata()[0] for line in dist.axes[0].get_lines())
    assert marked == pytest.approx(sorted([out["var_95"], out["cvar_95"]]))
    assert "Tearsheet" in sheet.tearsheet_html(second) and "portfolio_tearsheet" in sheet.tearsheet_html(second)


def test_indicator_panel_images_are_shared_only_for_identical_content(weeks):
    import numpy as np

    _, first, second, _ = weeks
    panel = second.series.indicators[0]
    img = rr.indicator_image(second, panel)
    assert rr.indicator_image(second, panel) is img  # drawn once
    assert img.svg == rr.indicator_image(second, type(panel)(**{**vars(panel)})).svg
    changed = type(panel)(**{**vars(panel), "close": np.where(np.arange(len(panel.close)) == 5, panel.close + 1,
                                                                panel.close)})
    assert rr.indicator_image(second, changed) is not img  # one different price: a new drawing
    older = first.series.indicators[0]
    assert older.dates != panel.dates and rr.indicator_image(first, older) is not img


def _rows(html: str) -> list[list[str]]:
    """The body rows of every table in ``html`` as lists of cell texts (tags stripped)."""
    from html import unescape
    import re

    return [[unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
            for tr in re.findall(r"<tr>(.*?)</tr>", html, re.S) if "<td" in tr]


def _number(cell: str) -> float:
    """``"+3.32%"`` -> 0.0332, ``"-0.21 pp"`` -> -0.0021, ``"15,01,185.00"`` -> 1501185.0, ``"0.19"`` -> 0.19."""
    text = cell.replace(",", "").strip()
    if text.endswith("%") or text.endswith(" pp"):
        return float(text.rstrip("%").removesuffix(" pp")) / 100
    return float(text)


def test_change_table_holds_last_and_this_weeks_figures(weeks):
    """Two weekly reviews through one store: every cell of the change table is filled, with last week's
    figures from the first review's stored snapshot and this week's from the second review."""
    from qlwork.formatting import label

    store, first, second, _ = weeks
    assert store.get_thread(first.thread_id).metadata["review"]["risk_metrics"] == first.analysis["risk_metrics"]
    rows = {r[0]: r[1:] for r in _rows(rr.change_html(second))}
    assert rows and all(cell for cells in rows.values() for cell in cells), rows
    prev, cur = first.analysis["risk_metrics"], second.analysis["risk_metrics"]
    assert set(prev) == set(cur) and len(prev) >= 5
    for key in cur:
        last, this, change = rows[label(key)]
        if key in ("sharpe_ratio", "sortino_ratio", "beta"):  # ratios, 2 decimals
            assert (last, this) == (f"{prev[key]:.2f}", f"{cur[key]:.2f}"), key
            assert change == f"{round(cur[key] - prev[key], 4):+.2f}", key
        else:  # fractions as %, their change in percentage points
            assert (last, this) == (f"{prev[key] * 100:.2f}%", f"{cur[key] * 100:.2f}%"), key
            assert change == f"{round(cur[key] - prev[key], 4) * 100:+.2f} pp", key
    last, this, change = rows["Value (INR)"]
    assert _number(last) == pytest.approx(first.analysis["total_value"], abs=0.005)
    assert _number(this) == pytest.approx(second.analysis["total_value"], abs=0.005)
    assert this == "15,01,185.00" or this.count(",") >= 2  # Indian grouping: lakh and thousand separators
    assert _number(change) == pytest.approx(second.analysis["total_value"] - first.analysis["total_value"], abs=0.01)
    assert rows["Health score (0-10)"][:2] == [f"{first.response['overall_score']:.1f}",
                                               f"{second.response['overall_score']:.1f}"]
    assert rows["Risk level"][:2] == [first.response["risk_level"].replace("_", " ").capitalize(),
                                      second.response["risk_level"].replace("_", " ").capitalize()]


def test_executive_summary_first_with_returns_score_breakdown_and_actions(weeks):
    import numpy as np

    from qlwork.market import get_provider
    from qlwork.portfolio import load_portfolio

    _, first, second, _ = weeks
    html = ex.header_html(second)
    marks = ["Weekly portfolio review: chitra", "SYNTHETIC DATA", "Executive summary", "<h4>Returns</h4>",
             "what it is made of", "<h4>Top actions</h4>"]
    assert [html.index(m) for m in marks] == sorted(html.index(m) for m in marks)
    # returns, independently: today's quantities through the demo closes, base = last close on or before
    pf = load_portfolio("sample:it_heavy")
    close = get_provider("demo").close_prices(pf.symbols + ["NIFTY 50"], end=dt.date(2026, 11, 20))
    value = close[pf.symbols].ffill().to_numpy() @ np.asarray(pf.quantities, dtype=float)
    bench = close["NIFTY 50"].to_numpy()
    days = [d.date() for d in close.index]
    table = {r[0].split(" (")[0]: r for r in _rows(html)
             if r and r[0].split(" (")[0] in ("1 week", "1 month", "Year to date", "1 year")}
    assert table["1 year"][0] == "1 year (252 trading days)"
    for name, base in (("1 week", dt.date(2026, 11, 13)), ("1 month", dt.date(2026, 10, 20)),
                       ("Year to date", dt.date(2025, 12, 31)), ("1 year", None)):
        # the year is the analysis window (252 trading days), the others calendar periods
        k = len(days) - 1 - 252 if base is None else max(i for i, d in enumerate(days) if d <= base)
        port, ref = value[-1] / value[k] - 1, bench[-1] / bench[k] - 1
        _, start, p_cell, b_cell, a_cell = table[name]
        assert start == days[k].isoformat(), name
        assert _number(p_cell) == pytest.approx(port, abs=6e-5) and _number(b_cell) == pytest.approx(ref, abs=6e-5)
        assert a_cell.endswith(" pp") and _number(a_cell) == pytest.approx(port - ref, abs=1.1e-4), name
    # the week's return is the change in value since last week's review (same holdings)
    week = second.analysis["total_value"] / first.analysis["total_value"] - 1
    assert second.returns["1W"]["portfolio"] == pytest.approx(week, abs=1e-4)
    value_cell, pnl_cell, week_cell, score, change, risk = _rows(html)[0]
    assert _number(value_cell) == pytest.approx(second.analysis["total_value"], abs=0.005)
    assert _number(week_cell) == pytest.approx(week, abs=6e-5)
    assert score == f"{second.response['overall_score']:.1f}"
    assert change == f"{second.response['overall_score'] - first.response['overall_score']:+.1f}"
    assert risk == second.response["risk_level"].replace("_", " ").capitalize() and "_" not in risk
    # the score's components: one row each, with the tool's score and weight
    comps = second.analysis["score_components"]
    rows = [r for r in _rows(html) if len(r) == 5 and r[0].lower().replace(" ", "_") in comps]
    assert len(rows) == len(comps) >= 5
    for r in rows:
        c = comps[r[0].lower().replace(" ", "_")]
        assert r[1] == f"{c['score']:.1f}" and r[2] == f"{c['weight'] * 100:.0f}%" and r[4] == c["rule"]
    assert "not a quality rating" in html
    # the top three actions, in the recommendations' order
    recs = second.response["recommendations"]
    picks = ([r for r in recs if r["action"] != "hold"] or recs)[:3]
    assert picks
    shown = [html.index(f"<b>{r['action'].capitalize()} {r['symbol']}</b>") for r in picks]
    assert shown == sorted(shown) and html.count("<li><b>") == len(picks)
    # run details moved to the appendix
    assert second.thread_id not in html and "qlwork version" not in html


def test_appendix_names_the_real_thread_and_shows_times_in_ist(weeks):
    _, _, second, again = weeks
    html = ex.appendix_html(second)
    assert html.index("Appendix: run details and audit trail") < html.index("Run details") < \
        html.index("Audit trail: tool calls")
    assert "THREAD_ID" not in html and html.count(second.thread_id) >= 3  # details, the command, the audit intro
    assert f'qlwork threads show <span class="qlwork-volatile" data-field="thread_id">{second.thread_id}</span>' in html
    assert second.run_id in html
    assert '<span class="qlwork-volatile" data-field="generated_at">21 Nov 2026, 12:00:00 IST</span>' in html
    assert "+00:00" not in html and "13:00:00 IST" in ex.appendix_html(again)  # one hour later


def test_notebook_shows_the_summary_first_and_the_appendix_last():
    from pathlib import Path

    import nbformat

    nb = nbformat.read(Path(__file__).parents[1] / "notebooks" / "portfolio_review.ipynb", as_version=4)
    calls = [c.source.strip() for c in nb.cells if c.cell_type == "code" and c.source.startswith("review.")]
    assert calls[0] == "review.header()" and calls[-3:] == ["review.appendix()", "review.disclaimer()", "review.emit()"]
    assert calls.index("review.changes()") < calls.index("review.appendix()")


def test_period_start_dates():
    from qlwork.review.series import period_start

    day = dt.date(2026, 3, 31)
    assert [period_start(day, p) for p in ("1W", "1M", "YTD", "1Y")] == [
        dt.date(2026, 3, 24), dt.date(2026, 2, 28), dt.date(2025, 12, 31), dt.date(2025, 3, 31)]
    assert period_start(dt.date(2024, 2, 29), "1Y") == dt.date(2023, 2, 28)
    assert period_start(dt.date(2026, 1, 15), "1M") == dt.date(2025, 12, 15)
    with pytest.raises(QlworkError, match="1W, 1M, YTD, 1Y"):
        period_start(day, "5Y")


def test_top_actions_prefer_changes_and_keep_the_order():
    recs = [{"action": "hold", "symbol": "A"}, {"action": "reduce", "symbol": "B"}, {"action": "add", "symbol": "C"},
            {"action": "rebalance", "symbol": "D"}, {"action": "add", "symbol": "E"}]
    assert [r["symbol"] for r in ex.top_actions(recs)] == ["B", "C", "D"]
    assert [r["symbol"] for r in ex.top_actions(recs[:1])] == ["A"]  # only a hold: shown
    assert ex.top_actions([]) == []


def test_it_heavy_report_trims_it_and_shows_what_its_labels_measure(weeks):
    _, _, second, _ = weeks
    html = ex.header_html(second)
    actions = html[html.index("<h4>Top actions</h4>"):]
    assert "<b>Reduce TCS</b>" in actions and "<b>Add" not in actions  # IT is 80%+ of it: no adds
    assert "; sell " in actions and " shares (INR " in actions  # sized in whole shares
    assert "portfolio limit rule" in actions and "confidence" not in actions
    assert "sector active share" in html and "Risk level: mean of the volatility" in html
    recs = rr.recommendations_html(second)
    assert "<th>Signal agreement</th>" in recs and "<th>Size</th>" in recs
    audit = rr.audit_html(second)
    assert 'class="qlwork-advice"' in audit and "consistent with the portfolio and profile" in audit
