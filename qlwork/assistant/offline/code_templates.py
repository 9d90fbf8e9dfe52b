"""Python the offline engine runs in the code sandbox for a computation request, with the tools'
conventions: simple daily returns, Wilder RSI from :func:`qlwork.analytics.rsi` (the one the signals
tool uses, on the same 300 bars), the window asked for ("over 1 year" is the report's 1Y window: from
the last close on or before the base date of :func:`qlwork.analytics.periods.period_start`), the
plot asked for, and the SYNTHETIC DATA line on every figure drawn from demo data.

Each template prints one JSON line the composer reads; the code is shown to the user as code.
"""

from __future__ import annotations

import datetime as dt
import re

from ...analytics.periods import period_label, period_start

_HEAD = ("import json\nfrom qlwork.charts.style import SYNTHETIC_LABEL\n"
         "SYNTHETIC = bool(_qlwork_market().metadata().get('synthetic')) if _QLWORK_PROVIDER == 'demo' else False\n")


def _window(text: str, default: int) -> tuple[int, bool]:
    m = re.search(r"(\d{1,3})\s*-?\s*(?:day|d\b|session)", text.lower())
    return (max(2, min(int(m.group(1)), 500)), True) if m else (default, False)


def _rows(as_of: dt.date, base: dt.date) -> int:
    """Daily rows to fetch so the window from ``base`` to ``as_of`` is covered (trading days < 0.72 x calendar)."""
    return int((as_of - base).days * 0.72) + 40


def _title(text: str) -> str:
    return f"ax.set_title({text!r} + ('\\n' + SYNTHETIC_LABEL if SYNTHETIC else ''), fontsize=10)\n"


def code_for_request(intent, text: str) -> str | None:
    """Python for a computation request (correlation, RSI, volatility) or None if not recognised.
    ``intent.request`` (when present) carries the period, the plot flag and the analysis date."""
    req = intent.request
    low, syms = text.lower(), intent.symbols
    period = req.period if req is not None else None
    as_of = dt.date.fromisoformat(req.as_of) if req is not None and req.as_of else None
    plot = bool(req and req.plot)
    if ("correlat" in low or "covariance" in low) and len(syms) >= 2:
        n, explicit = _window(text, 20)
        if period and as_of:
            base, label = period_start(as_of, period).isoformat(), period_label(period)
            rows = _rows(as_of, period_start(as_of, period))
        else:
            base, label, rows = None, f"{n} days", max(n, 120) + 1
        a, b = syms[:2]
        take = (f"px = px.loc[px.index[px.index <= pd.Timestamp({base!r}, tz=px.index.tz)].max():]\n" if base else "")
        span = "ret" if base else f"ret.tail({n})"
        return (_HEAD + f"px = get_close_prices({syms!r}, days={rows})\n{take}ret = px.pct_change().dropna()\n"
                f"corr = {span}.corr()\nroll = ret[{a!r}].rolling({n}).corr(ret[{b!r}]).dropna()\n"
                f"ax = roll.plot(figsize=(8, 3.5))\n" + _title(f"{n}-day rolling correlation {a} vs {b} (daily returns)")
                + "ax.set_ylabel('correlation'); plt.show()\n"
                f"print(json.dumps({{'analysis': 'correlation', 'window_days': {n}, 'period': {label!r}, 'symbols': {syms!r}, "
                f"'start': str({span}.index[0].date()), 'end': str(ret.index[-1].date()), 'days': int(len({span})), "
                "'correlation': round(float(corr.iloc[0, 1]), 4), 'rolling_min': round(float(roll.min()), 4), "
                "'rolling_max': round(float(roll.max()), 4), 'rolling_start': str(roll.index[0].date()), "
                "'synthetic': SYNTHETIC}))")
    if "rsi" in low and syms:
        n, _ = _window(text, 14)
        shown = period or ("6M" if plot else None)
        base = period_start(as_of, shown).isoformat() if shown and as_of else None
        rows = max(300, _rows(as_of, dt.date.fromisoformat(base)) + 60) if base else 300
        code = (_HEAD + "from qlwork.analytics import rsi\n"
                f"close = get_historical_prices({syms[0]!r}, days={rows})\n"
                f"value = pd.Series(rsi(close.to_numpy(dtype=float), {n}), index=close.index)\n")
        if plot:
            since = f".loc[value.index[value.index <= pd.Timestamp({base!r}, tz=value.index.tz)].max():]" if base else ""
            code += (f"ax = value{since}.plot(figsize=(8, 3.5))\nax.axhline(70, ls='--', lw=0.8); ax.axhline(30, ls='--', lw=0.8)\n"
                     "ax.set_ylim(0, 100); ax.set_ylabel('RSI')\n" + _title(f"{syms[0]} {n}-day RSI (Wilder)")
                     + "plt.show()\n")
        return code + (f"print(json.dumps({{'analysis': 'rsi', 'symbol': {syms[0]!r}, 'window_days': {n}, "
                       "'method': 'Wilder smoothing (qlwork.analytics.rsi, as the signals tool)', "
                       f"'bars': int(len(close)), 'end': str(value.index[-1].date()), 'rsi': round(float(value.iloc[-1]), 4), "
                       f"'plotted_from': {base!r} if {plot} else None, 'synthetic': SYNTHETIC}}))")
    if syms and any(w in low for w in ("volatil", "std", "returns")):
        n, _ = _window(text, 20)
        base = period_start(as_of, period).isoformat() if period and as_of else None
        rows = _rows(as_of, dt.date.fromisoformat(base)) if base else max(n, 20) + 1
        take = f"px = px.loc[px.index[px.index <= pd.Timestamp({base!r}, tz=px.index.tz)].max():]\n" if base else ""
        return (_HEAD + f"px = get_close_prices({syms!r}, days={rows})\n{take}ret = px.pct_change().dropna()\n"
                "vol = (ret.std() * 252 ** 0.5).round(4)\n"
                f"print(json.dumps({{'analysis': 'volatility', 'window_days': int(len(ret)), 'start': str(ret.index[0].date()), "
                "'end': str(ret.index[-1].date()), 'annualised_volatility': vol.to_dict(), 'synthetic': SYNTHETIC}))")
    return None
