"""Rule-based trading signals from indicators on the last row of a days x symbols price array.

Rules (each votes +1 bullish, -1 bearish or 0; weights sum to 1)
-----------------------------------------------------------------
* ``trend`` (0.35): close > SMA50 > SMA200 -> +1, close < SMA50 < SMA200 -> -1. With fewer than
  200 days only close vs SMA50 is used.
* ``momentum`` (0.25): sign of the MACD histogram (MACD 12/26/9).
* ``mean_reversion`` (0.25): RSI(14) < 30 -> +1 (oversold), > 70 -> -1 (overbought).
* ``bands`` (0.15): position within Bollinger(20, 2) bands < 0.05 -> +1, > 0.95 -> -1.

``score`` = weighted vote sum in [-1, 1]. Action: ``buy`` if score >= 0.3, ``sell`` if <= -0.3,
else ``hold``. ``agreement`` counts the rules voting in the action's direction: ``{"agree": n,
"rules": 4}`` ("signal agreement n of 4 rules"), and ``confidence`` is that share ``n / 4`` for a buy
or sell. It is a count of agreeing rules, not a calibrated probability. A hold has no confidence of
action: ``confidence`` 0 and ``agree`` 0. A symbol with no price on the last row, or too little
history for MACD (34 days), is ``hold``. High volatility (ATR/close > 5%) is named in the reasons.
Everything is deterministic; numbers are plain floats rounded to 4 dp (None when unavailable).
"""

from __future__ import annotations

import numpy as np

from qlwork.errors import InputError

from . import indicators as ind
from ._common import as_2d

__all__ = ["generate_signals", "RULE_WEIGHTS"]

RULE_WEIGHTS = {"trend": 0.35, "momentum": 0.25, "mean_reversion": 0.25, "bands": 0.15}
MIN_DAYS = 35  # MACD(12, 26, 9) needs 34 rows; one more to see a histogram cross


def _num(v) -> float | None:
    v = float(v)
    return round(v, 4) if np.isfinite(v) else None


def _symbols(close, symbols, width: int) -> list[str]:
    if symbols is None:
        cols = getattr(close, "columns", None)
        name = getattr(close, "name", None)
        if cols is not None:
            symbols = [str(c) for c in cols]
        elif name is not None and width == 1:
            symbols = [str(name)]
        else:
            symbols = [f"col{i}" for i in range(width)]
    symbols = [str(s) for s in symbols]
    if len(symbols) != width:
        raise InputError(f"{len(symbols)} symbols for {width} price columns.", fix="Pass one symbol per column.")
    return symbols


def generate_signals(close, high=None, low=None, symbols=None) -> list[dict]:
    """One signal dict per symbol, from the last row of ``close`` (days x symbols or 1-D).

    Each dict: ``{"symbol", "action", "confidence", "score", "agreement": {"agree", "rules"}, "reasons": [str],
    "votes": {rule: -1|0|1},
    "indicators": {"close", "rsi", "macd", "macd_signal", "macd_hist", "sma_50", "sma_200",
    "bb_upper", "bb_lower", "bb_position", "atr", "atr_pct"}}``. ``high``/``low`` (same shape) give
    a true ATR; without them ATR uses close-to-close ranges.
    """
    c, _ = as_2d(close, "close", min_rows=MIN_DAYS)
    names = _symbols(close, symbols, c.shape[1])
    h = c if high is None else as_2d(high, "high")[0]
    lo = c if low is None else as_2d(low, "low")[0]
    last = c[-1]
    rsi = ind.rsi(c, 14)[-1]
    line, sig, hist_all = ind.macd(c)
    tiny = 1e-9 * np.abs(c[-1])  # treat float noise in the histogram as zero
    hist, prev_hist = (np.where(np.abs(a) <= tiny, 0.0, a) for a in (hist_all[-1], hist_all[-2]))
    sma50 = ind.sma(c, 50)[-1] if len(c) >= 50 else np.full(c.shape[1], np.nan)
    sma200 = ind.sma(c, 200)[-1] if len(c) >= 200 else np.full(c.shape[1], np.nan)
    upper, _, lower = (a[-1] for a in ind.bbands(c, 20, 2.0))
    atr = ind.atr(h, lo, c, 14)[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        width = upper - lower
        bb_pos = np.where(width > 0, (last - lower) / np.where(width > 0, width, 1.0), 0.5)
        bb_pos = np.where(np.isnan(width), np.nan, np.clip(bb_pos, 0.0, 1.0))
        atr_pct = atr / last
        long_ok = ~np.isnan(sma200)
        up = np.where(long_ok, (last > sma50) & (sma50 > sma200), last > sma50)
        down = np.where(long_ok, (last < sma50) & (sma50 < sma200), last < sma50)
    votes = {
        "trend": np.where(np.isnan(sma50), 0, up.astype(int) - down.astype(int)),
        "momentum": np.nan_to_num(np.sign(hist)).astype(int),
        "mean_reversion": np.where(rsi < 30, 1, np.where(rsi > 70, -1, 0)),
        "bands": np.where(bb_pos < 0.05, 1, np.where(bb_pos > 0.95, -1, 0)),
    }
    score = sum(RULE_WEIGHTS[k] * v for k, v in votes.items())
    action = np.where(score >= 0.3, "buy", np.where(score <= -0.3, "sell", "hold"))
    direction = np.where(action == "buy", 1, np.where(action == "sell", -1, 0))
    agree = np.where(direction != 0, sum((v == direction) for v in votes.values()), 0)
    conf = agree / len(votes)
    usable = np.isfinite(last) & np.isfinite(hist)
    cross_up = (prev_hist <= 0) & (hist > 0)
    cross_down = (prev_hist >= 0) & (hist < 0)

    out = []
    for i, sym in enumerate(names):  # formatting only; all numbers above are vectorised
        ind_vals = {
            "close": _num(last[i]), "rsi": _num(rsi[i]), "macd": _num(line[-1, i]),
            "macd_signal": _num(sig[-1, i]), "macd_hist": _num(hist[i]), "sma_50": _num(sma50[i]),
            "sma_200": _num(sma200[i]), "bb_upper": _num(upper[i]), "bb_lower": _num(lower[i]),
            "bb_position": _num(bb_pos[i]), "atr": _num(atr[i]), "atr_pct": _num(atr_pct[i]),
        }
        if not usable[i]:
            out.append({"symbol": sym, "action": "hold", "confidence": 0.0, "score": 0.0,
                        "agreement": {"agree": 0, "rules": len(votes)},
                        "reasons": ["insufficient price history or no price on the last day"],
                        "votes": {k: 0 for k in votes}, "indicators": ind_vals})
            continue
        reasons = []
        t = int(votes["trend"][i])
        base = "SMA50 and SMA200" if long_ok[i] else "SMA50"
        if t:
            reasons.append(f"{'Uptrend' if t > 0 else 'Downtrend'}: price {'above' if t > 0 else 'below'} {base}")
        elif not np.isnan(sma50[i]):
            reasons.append("Mixed trend: price and moving averages not aligned")
        if cross_up[i]:
            reasons.append("Bullish MACD crossover")
        elif cross_down[i]:
            reasons.append("Bearish MACD crossover")
        else:
            reasons.append(f"MACD histogram {'positive' if hist[i] > 0 else 'negative' if hist[i] < 0 else 'flat'}")
        if votes["mean_reversion"][i] > 0:
            reasons.append(f"RSI {rsi[i]:.1f} oversold (<30)")
        elif votes["mean_reversion"][i] < 0:
            reasons.append(f"RSI {rsi[i]:.1f} overbought (>70)")
        else:
            reasons.append(f"RSI {rsi[i]:.1f} neutral")
        if votes["bands"][i]:
            reasons.append(f"Price near the {'lower' if votes['bands'][i] > 0 else 'upper'} Bollinger band")
        if atr_pct[i] > 0.05:
            reasons.append(f"High volatility: ATR {100 * atr_pct[i]:.1f}% of price")
        out.append({
            "symbol": sym, "action": str(action[i]), "confidence": round(float(conf[i]), 4),
            "score": round(float(score[i]), 4), "agreement": {"agree": int(agree[i]), "rules": len(votes)},
            "reasons": reasons,
            "votes": {k: int(v[i]) for k, v in votes.items()}, "indicators": ind_vals,
        })
    return out
