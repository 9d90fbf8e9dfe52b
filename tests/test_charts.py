"""qlwork.charts figures and qlwork.review.series.review_series."""

from __future__ import annotations

import json

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from qlwork import charts
from qlwork.analytics import macd, rsi, sma
from qlwork.market import DEMO_AS_OF, get_provider
from qlwork.review.series import review_series
from qlwork.tools.registry import ToolContext
from qlwork.tools.trading import analyze_portfolio, generate_trading_signals, get_market_data

DATES = [f"2026-0{m}-{d:02d}" for m in range(1, 4) for d in range(1, 29)]


@pytest.fixture(scope="module")
def market():
    return get_provider("demo")


def _labels(fig: Figure) -> list[tuple[str, str]]:
    return [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]


def _title(fig: Figure) -> str:
    return fig._suptitle.get_text() if fig._suptitle else ""


def _synthetic_marks(fig: Figure) -> int:
    """How many text artists anywhere in the figure (titles, axes, legends, ticks) say SYNTHETIC."""
    from matplotlib.text import Text

    return sum("SYNTHETIC" in t.get_text() for t in fig.findobj(Text))


def test_allocation_and_sector_figures_are_labelled_and_marked_synthetic():
    holdings = [{"symbol": "TCS", "weight": 0.6, "pnl": -10.0}, {"symbol": "INFY", "weight": 0.4, "pnl": 5.0}]
    fig = charts.allocation_figure(holdings, synthetic=True)
    assert isinstance(fig, Figure)
    (xl, yl), = _labels(fig)
    assert "Weight" in xl and yl == "Holding"
    assert charts.SYNTHETIC_LABEL in _title(fig)
    assert _synthetic_marks(fig) == 1
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["INFY", "TCS"]
    fig = charts.sector_figure({"IT": 0.6, "Banks": 0.4}, {"Banks": 0.3, "IT": 0.12, "Energy": 0.15})
    assert charts.SYNTHETIC_LABEL not in _title(fig)
    assert _synthetic_marks(fig) == 0
    assert {t.get_text() for t in fig.axes[0].get_yticklabels()} == {"IT", "Banks", "Energy"}
    assert fig.axes[0].xaxis.get_major_formatter()(0.25, 0) == "25%"


def _bars(ax) -> list[tuple[str, list[float], list[str]]]:
    """(label, bar widths, bar colours as hex) of each bar container, bottom to top."""
    from matplotlib.colors import to_hex

    return [(c.get_label(), [round(p.get_width(), 6) for p in c.patches],
             [to_hex(p.get_facecolor()) for p in c.patches]) for c in ax.containers]


def test_allocation_figure_compares_holdings_with_benchmark_weights():
    holdings = [{"symbol": "TCS", "weight": 0.5, "pnl": -10.0}, {"symbol": "INFY", "weight": 0.3, "pnl": 5.0},
                {"symbol": "SMALLCO", "weight": 0.2, "pnl": 1.0}]
    bench = {"TCS": 0.04, "INFY": 0.06, "RELIANCE": 0.1}
    fig = charts.allocation_figure(holdings, synthetic=True, benchmark_weights=bench)
    ax, = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["SMALLCO", "INFY", "TCS"]  # largest on top
    (p_label, p_w, p_c), (b_label, b_w, b_c) = _bars(ax)
    assert (p_label, p_w) == ("Portfolio", [0.2, 0.3, 0.5])
    assert (b_label, b_w) == ("NIFTY 50 weight", [0.0, 0.06, 0.04])  # not a constituent -> 0
    assert p_c == [charts.style.PORTFOLIO_COLOR, charts.style.PORTFOLIO_COLOR, charts.style.NEG_COLOR]  # red = at a loss
    assert set(b_c) == {charts.style.BENCH_COLOR}
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["Portfolio", "Portfolio, position at a loss"] and legend[2].startswith("NIFTY 50 weight")
    assert "NIFTY 50" in _title(fig) and charts.SYNTHETIC_LABEL in _title(fig)
    assert _synthetic_marks(fig) == 1
    assert "red = position at a loss" in ax.get_xlabel() and ax.get_ylabel() == "Holding"


def test_allocation_figure_without_benchmark_weights_falls_back_to_holdings():
    holdings = [{"symbol": "TCS", "weight": 0.6, "pnl": -1.0}, {"symbol": "INFY", "weight": 0.4}]
    fig = charts.allocation_figure(holdings, benchmark_weights={})  # provider has none (Kite)
    ax, = fig.axes
    (label, widths, _), = _bars(ax)
    assert (label, widths) == ("Portfolio", [0.4, 0.6])
    assert ax.get_legend().get_title().get_text() == "benchmark weights not available from this provider"
    assert "NIFTY 50" not in _title(fig)
    # not asked for (chat charts): holdings only, no legend
    ax, = charts.allocation_figure(holdings).axes
    assert len(ax.containers) == 1 and ax.get_legend() is None


def _line(ax, label: str):
    (line,) = [ln for ln in ax.lines if ln.get_label() == label]
    return line


def test_equity_figure_panels_and_projection_caption():
    eq = np.cumprod(1 + np.random.default_rng(1).normal(0, 0.01, len(DATES)))
    fig = charts.equity_drawdown_figure(DATES, eq * 1e5, eq * 2e4, synthetic=True)
    assert len(fig.axes) == 2
    assert [yl for _, yl in _labels(fig)] == ["Value (start = 100)", "Drawdown"]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["Portfolio", "NIFTY 50"]
    assert _synthetic_marks(fig) == 1
    assert fig.axes[0].get_title(loc="left") == ""  # a backtest's curve is not a projection
    fig = charts.equity_drawdown_figure(DATES, eq * 1e5, eq * 2e4, synthetic=True, projected=True)
    caption = fig.axes[0].get_title(loc="left")
    assert "Today's holdings" in caption and "not the actual past portfolio" in caption
    assert _synthetic_marks(fig) == 1
    # the caption sits between the title block and the plot, overlapping neither
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    cap_box = fig.axes[0]._left_title.get_window_extent(renderer)
    assert cap_box.y0 >= fig.axes[0].get_window_extent(renderer).y1 - 1
    assert cap_box.y1 <= fig._suptitle.get_window_extent(renderer).y0 + 1


def test_indicator_figure_has_moving_averages_and_volume():
    n = 320
    dates = [str(d.date()) for d in pd.bdate_range("2025-06-02", periods=n)]
    close = 1000 * np.cumprod(1 + np.random.default_rng(2).normal(0, 0.01, n))
    volume = np.random.default_rng(3).integers(1_00_000, 50_00_000, n).astype(float)
    line, sig, hist = macd(close)
    shown = 250  # a window after 70 days of history: the averages are computed on the history too
    fig = charts.indicator_figure(dates[-shown:], close, rsi(close), line, sig, hist, "TCS", synthetic=True,
                                  volume=volume)
    p_ax, v_ax, r_ax, m_ax = fig.axes
    assert [yl for _, yl in _labels(fig)] == ["Close (INR)", "Volume\n(lakh shares)", "RSI", "MACD (INR)"]
    assert [t.get_text() for t in p_ax.get_legend().get_texts()] == ["TCS close", "SMA50", "SMA200"]
    sma50, sma200 = _line(p_ax, "SMA50").get_ydata(), _line(p_ax, "SMA200").get_ydata()
    np.testing.assert_allclose(sma50, sma(close, 50)[-shown:], rtol=1e-12)
    assert np.isfinite(sma50).all()  # 70 + 250 closes: the 50-day average exists on every shown day
    assert np.isnan(sma200[: 199 - (n - shown)]).all() and np.isfinite(sma200[199 - (n - shown):]).all()
    np.testing.assert_allclose(sma200[-1], close[-200:].mean(), rtol=1e-12)
    # volume bars: one vertical segment per day, up days green and down days red, heights = volume
    bars = {tuple(np.round(c.get_color()[0][:3], 3)): c.get_segments() for c in v_ax.collections}
    assert len(bars) == 2 and sum(len(v) for v in bars.values()) == shown
    heights = sorted(seg[1][1] for segs in bars.values() for seg in segs)
    np.testing.assert_allclose(heights, np.sort(volume[-shown:]))
    fmt = v_ax.yaxis.get_major_formatter()
    assert (fmt(6_000_000.0, 0), fmt(250_000.0, 0), fmt(1_23_45_67_80_000.0, 0)) == ("60", "2.5", "12,34,568")  # lakh
    assert _synthetic_marks(fig) == 1 and "TCS" in _title(fig)
    assert p_ax.yaxis.get_major_formatter()(123456.0, 0) == "INR 1,23,456"
    # averages given by the caller are drawn as given; no volume -> the panel says so
    fig = charts.indicator_figure(dates[-shown:], close[-shown:], rsi(close)[-shown:], line, sig, hist, "TCS",
                                  sma50=np.full(shown, 5.0), sma200=np.full(shown, 7.0))
    assert set(_line(fig.axes[0], "SMA50").get_ydata()) == {5.0}
    assert set(_line(fig.axes[0], "SMA200").get_ydata()) == {7.0}
    assert [t.get_text() for t in fig.axes[1].texts] == ["volume not available"]
    assert _synthetic_marks(fig) == 0


def test_volume_axis_follows_the_digit_grouping(monkeypatch):
    monkeypatch.setenv("QLWORK_NUMBER_GROUPING", "international")
    volume = np.full(len(DATES), 3_000_000.0)
    fig = charts.indicator_figure(DATES, np.linspace(100, 120, len(DATES)), *[np.zeros(len(DATES))] * 4, "A",
                                  volume=volume)
    v_ax = fig.axes[1]
    assert v_ax.get_ylabel() == "Volume\n(million shares)"
    assert v_ax.yaxis.get_major_formatter()(3_000_000.0, 0) == "3"


def test_time_axes_end_at_the_data():
    eq = np.linspace(1, 2, len(DATES))
    first, last = np.datetime64(DATES[0]), np.datetime64(DATES[-1])
    figs = [charts.equity_drawdown_figure(DATES, eq), charts.rebased_figure(DATES, {"A": eq, "B": eq * 2}),
            charts.indicator_figure(DATES, eq * 100, eq, eq, eq, eq, "A")]
    for fig in figs:
        for ax in fig.axes:
            lo, hi = (mdates.num2date(v).replace(tzinfo=None) for v in ax.get_xlim())
            assert (np.datetime64(lo), np.datetime64(hi)) == (first, last)


def _luminance(color) -> float:
    """WCAG relative luminance of an RGB(A) colour."""
    from matplotlib.colors import to_rgb

    c = np.array(to_rgb(color))
    c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(c @ [0.2126, 0.7152, 0.0722])


def test_charts_are_readable_on_dark_pages():
    """A notebook's inline backend makes figures transparent and a dark style makes text light; either
    would leave black-on-dark or white-on-white charts. Figures keep their opaque light card and dark text."""
    import io

    import matplotlib
    import matplotlib.image
    import matplotlib.style
    from matplotlib.text import Text

    eq = np.cumprod(1 + np.random.default_rng(1).normal(0, 0.01, len(DATES)))
    hostile = {"figure.facecolor": (1, 1, 1, 0), "figure.edgecolor": (1, 1, 1, 0), "axes.facecolor": "none",
               "savefig.transparent": True, "savefig.facecolor": "none"}  # what matplotlib-inline sets, and worse
    with matplotlib.style.context("dark_background"), matplotlib.rc_context(hostile):
        fig = charts.equity_drawdown_figure(DATES, eq * 1e5, eq * 2e4, synthetic=True, projected=True)
        png = charts.to_png(fig)
        svg = charts.to_svg(fig)
        assert matplotlib.rcParams["figure.facecolor"] == (1, 1, 1, 0)  # the caller's settings are left alone
    pixels = matplotlib.image.imread(io.BytesIO(png))
    assert pixels.shape[2] == 4 and pixels[..., 3].min() == 1.0  # every pixel opaque
    assert tuple(pixels[2, 2, :3]) == (1.0, 1.0, 1.0)  # the card is white
    assert "fill: #ffffff" in svg.split("<g id=\"axes_1\">")[0]  # the SVG's figure background is white too
    background = _luminance(fig.get_facecolor())
    texts = [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]
    assert len(texts) > 10
    for t in texts:  # WCAG AA contrast (4.5:1) of every text against the card
        assert (background + 0.05) / (_luminance(t.get_color()) + 0.05) >= 4.5, (t.get_text(), t.get_color())
    assert charts.to_png(charts.equity_drawdown_figure(DATES, eq * 1e5, eq * 2e4, synthetic=True,
                                                       projected=True)) == png  # the same bytes in any theme


def test_figures_render_deterministically():
    def build():
        return charts.sector_figure({"IT": 0.6, "Banks": 0.4}, {"IT": 0.12}, synthetic=True)

    first = build()
    png = charts.to_png(first)
    assert png == charts.to_png(first) == charts.to_png(build())
    assert charts.to_svg(build()) == charts.to_svg(build())
    assert b"Software" not in png[:4096]
    assert "<dc:date>" not in charts.to_svg(build())
    assert charts.figure_html(build()).startswith('<img alt="chart" src="data:image/png;base64,')


def test_inr_formatting():
    assert charts.inr(1234567.0) == "INR 12,34,567"
    assert charts.inr(-950.0) == "-INR 950"
    assert charts.inr(102.5) == "INR 102.5"
    assert charts.inr(float("nan")) == ""


def test_figure_from_tool_output(market):
    ctx = ToolContext(market=market, portfolio="sample:it_heavy", as_of=DEMO_AS_OF)
    data = get_market_data.tool.invoke({"symbols": ["TCS", "INFY"], "start": "2026-06-01"}, ctx)
    fig = charts.figure_from_tool_output("get_market_data", json.loads(json.dumps(data)))
    assert isinstance(fig, Figure) and charts.SYNTHETIC_LABEL in _title(fig)
    assert fig.axes[0].get_ylabel() == "Close (start = 100)"
    signals = generate_trading_signals.tool.invoke({"sector": "IT", "strategy": "momentum"}, ctx)
    fig = charts.figure_from_tool_output("generate_trading_signals", signals)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["Momentum backtest", "NIFTY 50", "Equal-weight buy-and-hold"]  # beside both comparisons
    bh = _line(fig.axes[0], "Equal-weight buy-and-hold").get_ydata()
    np.testing.assert_allclose(bh, np.asarray(signals["backtest"]["series"]["buy_and_hold"]) * 100)
    assert charts.figure_from_tool_output("generate_trading_signals",
                                          generate_trading_signals.tool.invoke({"sector": "IT"}, ctx)) is None
    assert isinstance(charts.figure_from_tool_output("analyze_portfolio", analyze_portfolio.tool.invoke({}, ctx)), Figure)
    assert charts.figure_from_tool_output("calculate_risk_metrics", {"metrics": {}}) is None
    assert charts.figure_from_tool_output("get_market_data", {"error": {"message": "x"}}) is None
    assert charts.figure_from_tool_output("get_market_data", "not a dict") is None


def test_review_series_matches_the_tools_and_analytics(market):
    ctx = ToolContext(market=market, portfolio="sample:diversified", as_of=DEMO_AS_OF)
    analysis = analyze_portfolio.tool.invoke({}, ctx)
    s = review_series(market, {h["symbol"]: h["quantity"] for h in analysis["holdings"]}, DEMO_AS_OF)
    assert len(s.dates) == len(s.equity) == len(s.drawdown) == len(s.benchmark) == 253
    assert s.dates[-1] == "2026-11-20" and s.synthetic
    assert s.summary()["portfolio_max_drawdown"] == pytest.approx(analysis["risk_metrics"]["max_drawdown"], abs=1e-4)
    assert s.equity[-1] == pytest.approx(analysis["total_value"], rel=1e-6)
    top = sorted(analysis["holdings"], key=lambda h: -h["weight"])[:3]
    assert [p.symbol for p in s.indicators] == [h["symbol"] for h in top]
    panel = s.indicators[0]
    full = market.close_prices([panel.symbol], end=DEMO_AS_OF)[panel.symbol].to_numpy()[-(253 + 60):]
    np.testing.assert_allclose(panel.rsi, rsi(full)[-253:], atol=1e-9)
    np.testing.assert_allclose(panel.hist, macd(full)[2][-253:], atol=1e-9)
    assert np.isfinite(panel.macd).all()  # warm-up history keeps the displayed window gap-free
    history = market.close_prices([panel.symbol], end=DEMO_AS_OF)[panel.symbol].to_numpy()
    np.testing.assert_allclose(panel.sma50, sma(history, 50)[-253:], rtol=1e-9)
    np.testing.assert_allclose(panel.sma200, sma(history, 200)[-253:], rtol=1e-9)
    assert np.isfinite(panel.sma200).all()  # 199 days of history before the window: no blank start
    volume = market.ohlcv([panel.symbol], end=DEMO_AS_OF)["volume"][panel.symbol].to_numpy()[-253:]
    np.testing.assert_array_equal(panel.volume, volume)
    fig = charts.indicator_figure(panel.dates, panel.close, panel.rsi, panel.macd, panel.signal, panel.hist,
                                  panel.symbol, synthetic=s.synthetic, volume=panel.volume, sma50=panel.sma50,
                                  sma200=panel.sma200)
    assert [ax.get_ylabel() for ax in fig.axes] == ["Close (INR)", "Volume\n(lakh shares)", "RSI", "MACD (INR)"]
    np.testing.assert_array_equal(_line(fig.axes[0], "SMA200").get_ydata(), panel.sma200)


def test_series_of_different_lengths_are_aligned_at_the_end():
    fig = charts.equity_drawdown_figure(DATES[1:], np.linspace(1, 2, len(DATES)))
    assert len(fig.axes[0].lines[0].get_xdata()) == len(DATES) - 1


def test_code_interpreter_figures_in_answer_images(tmp_path, monkeypatch):
    from IPython.display import Image

    from qlwork.tools.files import file_store

    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "home"))
    fs = file_store()
    png = charts.to_png(charts.rebased_figure(DATES[:5], {"TCS": [1, 2, 3, 2, 4]}))
    kept, gone = fs.create(png, "figure_1.png", purpose="assistants_output"), fs.create(png, "figure_2.png")
    fs.delete(gone.id)
    output = {"status": "ok", "stdout": "", "images": [
        {"type": "image", "file_id": kept.id, "filename": "figure_1.png", "bytes": kept.bytes},
        {"type": "image", "file_id": gone.id, "filename": "figure_2.png", "bytes": kept.bytes}, {"type": "image"}]}
    steps = [{"step_details": {"tool_calls": [
        {"function": {"name": "analyze_portfolio", "output": json.dumps({"holdings": [{"symbol": "TCS", "weight": 1.0}]})}},
        {"function": {"name": "code_interpreter", "output": json.dumps(output)}}]}}]
    assert [i["file_id"] for i in charts.tool_output_images(output)] == [kept.id, gone.id]
    assert charts.tool_output_images({"images": "x"}) == [] and charts.tool_output_images(None) == []
    assert charts.stored_png(kept.id) == png and charts.stored_png(gone.id) is None
    assert charts.stored_png(fs.create(b"a,b\n1,2\n", "t.csv").id) is None  # not a PNG
    assert len(charts.answer_figures(steps)) == 1  # Figures only, as before
    images = charts.answer_images(steps)
    assert all(isinstance(i, Image) for i in images) and len(images) == 2  # missing file skipped
    assert images[1].data == png and images[0].data[:8] == png[:8]
    assert charts.image(png).data == png
