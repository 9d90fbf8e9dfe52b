"""Demo provider and portfolio files: the core universe's generation, the NIFTY 500 extension built on it,
a 40-stock Kite holdings file loaded and priced, a trade-history report, and XIRR against scipy's brentq
(same flows, same run: a ratio, not a wall-clock goal)."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _ms(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def run() -> list[str]:
    from scipy.optimize import brentq

    from qlwork.analytics.cashflows import xirr
    from qlwork.market import DemoMarketData, priceable_symbols
    from qlwork.market.demo import DEMO_AS_OF, DEMO_SEED, PROVIDER, TICK, _generate
    from qlwork.market.demo_nifty500 import _extended
    from qlwork.portfolio import load_portfolio
    from qlwork.tools.trade_history import trade_history_report

    core_ms = _ms(lambda: _generate.__wrapped__(DEMO_SEED), 3)
    core = _generate(DEMO_SEED)
    ext_ms = _ms(lambda: _extended(core, DEMO_SEED, DEMO_AS_OF, TICK, PROVIDER), 3)
    market = DemoMarketData()
    inst = market.all_instruments()
    stocks = inst[inst["instrument_type"] == "EQ"]["tradingsymbol"].iloc[::12][:40].tolist()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "holdings.csv"
        path.write_text("Instrument,Qty.,Avg. cost,LTP\n" + "\n".join(f"{s},{i + 1},100,110" for i, s in enumerate(stocks)))
        known = priceable_symbols(market)

        def load_and_price():
            pf = load_portfolio(path, known_symbols=known)
            market.close_prices(pf.symbols, start="2021-11-20", end=DEMO_AS_OF)

        load_ms = _ms(load_and_price, 5)
    trades = "date,symbol,side,quantity,price\n" + "\n".join(
        f"20{16 + i % 9}-0{1 + i % 9}-1{i % 9},{s},buy,{10 + i},{100 + i}" for i, s in enumerate(stocks))
    report_ms = _ms(lambda: trade_history_report(trades, market), 3)
    rng = np.random.default_rng(1)
    days = np.sort(rng.integers(0, 3000, 60)).astype("timedelta64[D]") + np.datetime64("2015-01-01")
    amounts = np.append(-rng.uniform(1e3, 1e5, 59), 0.0)
    amounts[-1] = -1.8 * amounts[:-1].sum()
    years = (days - days[0]).astype(float) / 365
    ours = _ms(lambda: xirr(amounts, days), 50)
    ref = _ms(lambda: brentq(lambda r: float(np.sum(amounts / (1 + r) ** years)), -0.99, 10.0, xtol=1e-12), 50)
    med = statistics.median
    return ["== demo ==",
            f"core universe (56 stocks + NIFTY 50, {len(core.days)} days): median {med(core_ms):.0f} ms",
            f"NIFTY 500 extension ({len(market._x.symbols) - len(core.symbols)} more series, built on first use): "
            f"median {med(ext_ms):.0f} ms ({med(ext_ms) / med(core_ms):.2f} x the core)",
            f"40-stock Kite holdings file loaded and priced (5 years): median {med(load_ms):.1f} ms",
            f"trade-history report, {len(stocks)} trades: median {med(report_ms):.0f} ms",
            f"XIRR of 60 flows: median {med(ours) * 1000:.0f} us vs scipy brentq on the same NPV "
            f"{med(ref) * 1000:.0f} us ({med(ours) / med(ref):.2f} x)"]
