"""Technical indicators on 1-D (days) or 2-D (days x symbols) price arrays, matching TA-Lib.

Conventions
-----------
* Input: floats, pandas accepted via ``np.asarray``; output: ndarray of the input's shape, NaN
  during each indicator's warm-up. Columns are processed together (no Python loop over symbols).
* Warm-up starts at each column's **first valid value**, so a symbol listed later (leading NaNs)
  gets the same warm-up as one listed on day 0.
* Interior gaps (NaN/inf on a day after the first valid value): the last valid price is carried
  forward for the calculation (a missing day counts as "unchanged"), and the output is NaN on the
  gap day itself. Values after the gap stay finite; warm-up is counted in rows, gaps included.
* Recursive smoothing (EMA ``alpha = 2/(n+1)``, Wilder ``alpha = 1/n``) is seeded like TA-Lib
  with the simple mean of the first ``n`` inputs; see :func:`qlwork.analytics._common.recurrence`.
"""

from __future__ import annotations

import numpy as np

from qlwork.errors import InputError

from . import _compiled
from ._common import as_2d, check_period, forward_fill, out_shape, recurrence

__all__ = ["sma", "ema", "rsi", "macd", "bbands", "atr"]


USE_COMPILED: bool | None = None
"""Which RSI path: None (default) picks the numba kernel for arrays of at least
:data:`COMPILED_MIN_SIZE` values when numba is installed, else NumPy; True / False force one (tests
check both against TA-Lib)."""
COMPILED_MIN_SIZE = 50_000
"""Below this many values the NumPy path is about as fast and importing numba (~0.3-0.6 s, once per
process) would dominate: a weekly review's few hundred days x a few symbols never loads numba."""
_BLOCK_BYTES = 2 << 20  # working-set target per column block (about one L2 cache)


def _rows(m: int) -> np.ndarray:
    return np.arange(m)[:, None]


def _smooth(u: np.ndarray, alpha: float, start: np.ndarray, window: int) -> np.ndarray:
    """Exponential smoothing ``y[t] = (1-alpha) y[t-1] + alpha u[t]`` per column.

    The seed ``y[start+window-1] = mean(u[start : start+window])``; earlier rows are NaN.
    ``start`` holds one row index per column (``>= len(u)`` means no output).
    """
    m, w = u.shape
    beta = 1.0 - alpha
    seed_row = start + window - 1
    out = np.full((m, w), np.nan)
    if np.all(start == start[0]):
        s = int(seed_row[0])
        if s >= m:
            return out
        seed = u[s - window + 1 : s + 1].mean(axis=0)
        out[s] = seed
        out[s + 1 :] = recurrence(u[s + 1 :], beta, seed / alpha, scale=alpha)
        return out
    ok = seed_row < m
    cols = np.flatnonzero(ok)
    gather = np.minimum(start[None, :] + np.arange(window)[:, None], m - 1)
    seed = np.take_along_axis(u, gather, axis=0).mean(axis=0)
    v = np.where(_rows(m) < seed_row[None, :], 0.0, u)
    v[seed_row[cols], cols] = seed[cols] / alpha
    out[:] = recurrence(v, beta, 0.0, scale=alpha)
    out[_rows(m) < seed_row[None, :]] = np.nan
    return out


def _rolling_sum(y: np.ndarray, n: int) -> np.ndarray:
    """Sum of the last ``n`` rows (rows ``< n-1`` are partial; callers mask them)."""
    if n <= 32:
        out = y.copy()
        for k in range(1, n):
            out[k:] += y[:-k]
        return out
    cs = np.cumsum(y, axis=0)
    cs[n:] = cs[n:] - cs[:-n]
    return cs


def _finish(out: np.ndarray, first: np.ndarray, warmup: int, missing, was_1d: bool) -> np.ndarray:
    """NaN before ``first + warmup`` and on missing days; restore the input's shape."""
    if np.all(first == first[0]):
        out[: first[0] + warmup] = np.nan
    else:
        out[_rows(out.shape[0]) < (first + warmup)[None, :]] = np.nan
    if missing is not None:
        out[missing] = np.nan
    return out_shape(out, was_1d)


def sma(x, n: int):
    """Simple moving average over ``n`` rows; first value at row ``n-1`` (as talib.SMA)."""
    n = check_period(n)
    arr, was_1d = as_2d(x, "x", min_rows=n)
    filled, first, missing = forward_fill(arr)
    ref = filled[np.minimum(first, len(filled) - 1), np.arange(filled.shape[1])]
    out = _rolling_sum(filled - ref, n) / n + ref  # centred for precision
    return _finish(out, first, n - 1, missing, was_1d)


def ema(x, n: int):
    """Exponential moving average, ``alpha = 2/(n+1)``, seeded with the SMA of the first ``n``
    values; first value at row ``n-1`` (as talib.EMA)."""
    n = check_period(n)
    arr, was_1d = as_2d(x, "x", min_rows=n)
    filled, first, missing = forward_fill(arr)
    out = _smooth(filled, 2.0 / (n + 1), first, n)
    return _finish(out, first, n - 1, missing, was_1d)


def _rsi_block(filled: np.ndarray, first: np.ndarray, n: int, out: np.ndarray) -> None:
    """RSI of a column block into ``out`` (pre-filled with NaN); see :func:`rsi`."""
    t, w = filled.shape
    moves = np.empty((t - 1, 2 * w))  # [gains | absolute changes]; losses = abs - gains
    np.subtract(filled[1:], filled[:-1], out=moves[:, w:])
    np.maximum(moves[:, w:], 0.0, out=moves[:, :w])
    np.abs(moves[:, w:], out=moves[:, w:])
    beta = 1.0 - 1.0 / n
    if np.all(first == first[0]):
        s = int(first[0]) + n  # last row (in changes) of the seed window
        if s > t - 1:
            return
        seed = moves[s - n : s].sum(axis=0)  # z = n * Wilder average; the ratio is unchanged
        moves[s - 1] = seed
        z, row0 = moves[s - 1 :], s  # row0: price row of z[0]
        recurrence(z[1:], beta, seed, scale=None, out=z[1:])
    else:
        start = np.concatenate([first, first])
        seed_row, m = start + n - 1, t - 1
        gather = np.minimum(start[None, :] + np.arange(n)[:, None], m - 1)
        seed = np.take_along_axis(moves, gather, axis=0).sum(axis=0)
        v = np.where(_rows(m) < seed_row[None, :], 0.0, moves)
        cols = np.flatnonzero(seed_row < m)
        v[seed_row[cols], cols] = seed[cols]
        s = n - 1 + int(first.min())
        z, row0 = recurrence(v, beta, 0.0, scale=None, out=v)[s:], s + 1
    gains, total = z[:, :w], z[:, w:]
    res = out[row0:]
    np.divide(gains, total, out=res)
    res *= 100.0
    if not np.all(seed[w:] > 0):  # 0/0 only while a column has not moved yet -> 0 (TA-Lib)
        res[np.isnan(res)] = 0.0  # (warm-up rows are re-masked by the caller)


def rsi(x, n: int = 14):
    """Relative Strength Index in [0, 100] with Wilder smoothing (``alpha = 1/n``), as talib.RSI.

    Average gain/loss are seeded with the simple mean of the first ``n`` price changes, so the first
    value is at row ``n``. RSI = 100 * avg_gain / (avg_gain + avg_loss); when both are zero (no
    price change at all) the value is 0, like TA-Lib. Columns are processed in cache-sized blocks.
    """
    n = check_period(n)
    arr, was_1d = as_2d(x, "x", min_rows=n + 1)
    t, w = arr.shape
    use = USE_COMPILED if USE_COMPILED is not None else t * w >= COMPILED_MIN_SIZE
    kernel = _compiled.rsi_wilder if use else None
    if kernel is not None:
        out = np.empty((t, w))  # the kernel writes every row from first + n; _finish masks the rest
        first = np.zeros(w, dtype=np.int64)
        kernel(arr, first, n, out)  # optimistic: no gaps. A NaN is absorbing in Wilder's recursion,
        if np.isfinite(out[-1]).all():  # so a finite last row means every column was gap-free
            return _finish(out, first, n, None, was_1d)
        filled, first, missing = forward_fill(arr)
        kernel(filled, first.astype(np.int64), n, out)
        return _finish(out, first, n, missing, was_1d)
    filled, first, missing = forward_fill(arr)
    out = np.full((t, w), np.nan)
    width = max(8, _BLOCK_BYTES // (16 * t))
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(0, w, width):
            _rsi_block(filled[:, j : j + width], first[j : j + width], n, out[:, j : j + width])
    return _finish(out, first, n, missing, was_1d)


def macd(x, fast: int = 12, slow: int = 26, signal: int = 9):
    """MACD as talib.MACD: ``(macd_line, signal_line, histogram)``.

    ``macd_line = EMA_fast - EMA_slow`` where, like TA-Lib, both EMAs start on the same row: the
    fast EMA is seeded with the SMA of the ``fast`` values ending at row ``slow-1``. The signal line
    is an EMA(signal) of the MACD line; all three outputs start at row ``slow + signal - 2`` (33).
    """
    fast, slow, signal = check_period(fast, "fast"), check_period(slow, "slow"), check_period(signal, "signal")
    if fast >= slow:
        raise InputError(f"fast={fast} must be shorter than slow={slow}.", fix="Use e.g. fast=12, slow=26.")
    arr, was_1d = as_2d(x, "x", min_rows=slow + signal - 1)
    filled, first, missing = forward_fill(arr)
    line = _smooth(filled, 2.0 / (fast + 1), first + slow - fast, fast)
    line -= _smooth(filled, 2.0 / (slow + 1), first, slow)
    start = first + slow - 1
    sig = _smooth(np.nan_to_num(line), 2.0 / (signal + 1), start, signal)
    hist = line - sig
    warm = slow + signal - 2
    return tuple(_finish(a, first, warm, missing, was_1d) for a in (line, sig, hist))


def bbands(x, n: int = 20, k: float = 2.0):
    """Bollinger bands ``(upper, middle, lower)``: SMA(n) +/- k * population std over ``n`` rows
    (ddof=0, as talib.BBANDS with matype=0). First value at row ``n-1``."""
    n = check_period(n)
    if not np.isfinite(k) or k < 0:
        raise InputError(f"k={k!r} must be a non-negative number.", fix="Use e.g. k=2.0.")
    arr, was_1d = as_2d(x, "x", min_rows=n)
    filled, first, missing = forward_fill(arr)
    ref = filled[np.minimum(first, len(filled) - 1), np.arange(filled.shape[1])]
    y = filled - ref
    mean = _rolling_sum(y, n) / n
    var = (y - mean) ** 2  # row t's own deviation; add the others' below (exact two-pass)
    for j in range(1, n):
        var[j:] += (y[:-j] - mean[j:]) ** 2
    std = np.sqrt(var / n)
    mid = mean + ref
    res = (mid + k * std, mid, mid - k * std)
    return tuple(_finish(a, first, n - 1, missing, was_1d) for a in res)


def atr(high, low, close, n: int = 14):
    """Average True Range with Wilder smoothing, as talib.ATR.

    True range ``TR[t] = max(high-low, |high-close[t-1]|, |low-close[t-1]|)`` from row 1; ATR is
    seeded with the mean of ``TR[1..n]`` (first value at row ``n``). A day counts as missing when
    any of high/low/close is missing; the three are carried forward together.
    """
    n = check_period(n)
    h, was_1d = as_2d(high, "high", min_rows=n + 1)
    lo, _ = as_2d(low, "low", min_rows=n + 1)
    c, _ = as_2d(close, "close", min_rows=n + 1)
    if not h.shape == lo.shape == c.shape:
        raise InputError(
            f"high {h.shape}, low {lo.shape} and close {c.shape} differ in shape.",
            fix="Pass aligned arrays of the same days and symbols.",
        )
    bad = np.isnan(h) | np.isnan(lo) | np.isnan(c)
    stacked = np.where(np.concatenate([bad, bad, bad], axis=1), np.nan, np.concatenate([h, lo, c], axis=1))
    filled, first3, missing3 = forward_fill(stacked)
    w = h.shape[1]
    fh, fl, fc = filled[:, :w], filled[:, w : 2 * w], filled[:, 2 * w :]
    first = first3[:w]
    missing = None if missing3 is None else missing3[:, :w]
    prev = fc[:-1]
    tr = np.maximum(fh[1:] - fl[1:], np.maximum(np.abs(fh[1:] - prev), np.abs(fl[1:] - prev)))
    out = np.full(h.shape, np.nan)
    out[1:] = _smooth(tr, 1.0 / n, first, n)
    return _finish(out, first, n, missing, was_1d)
