"""Optional compiled kernels (numba). Each has a pure-NumPy twin in the calling module; the
compiled one is used when numba imports, and tests check both against TA-Lib.

numba is imported (and the cached machine code loaded) on first use of a kernel, not when
:mod:`qlwork.analytics` is imported: a process that only ever computes small indicators (a weekly
review kernel) never pays numba's import time. ``rsi_wilder`` is resolved lazily through the module
``__getattr__`` and is None when numba is missing.
"""

from __future__ import annotations

import numpy as np


def _rsi_wilder(filled: np.ndarray, first: np.ndarray, n: int, out: np.ndarray) -> None:
    """Wilder RSI per column into ``out``, TA-Lib seeding (agrees with TA-Lib to ~1e-13).

    ``filled`` is days x symbols with no interior NaN (forward-filled); ``first[j]`` is column j's
    first valid row. Rows ``>= first[j] + n`` of column j are written; the caller masks the rows
    before (``out`` may be uninitialised there). After the seed, rows are the outer loop so memory
    is read in order, and the inner loop over columns has no branch in the common case (every
    column starts on the same row), which lets LLVM keep it tight.
    """
    t, w = filled.shape
    gain = np.zeros(w)
    loss = np.zeros(w)
    for j in range(w):
        f = first[j]
        if f + n >= t:
            continue
        g = 0.0
        lo = 0.0
        for i in range(f + 1, f + n + 1):
            d = filled[i, j] - filled[i - 1, j]
            if d > 0:
                g += d
            else:
                lo -= d
        gain[j] = g / n
        loss[j] = lo / n
        total = gain[j] + loss[j]
        out[f + n, j] = 100.0 * (gain[j] / total) if total != 0.0 else 0.0
    # n * the Wilder averages: s[t] = s[t-1] * (n-1)/n + move (one multiply-add per series, no
    # division); the RSI ratio gain / (gain + loss) is unchanged by the common factor n.
    decay = (n - 1.0) / n
    gain *= n
    loss *= n
    start = first + n + 1  # first row of the smoothing recursion, per column
    row0 = start.min()
    uniform = np.all(start == row0)
    for i in range(row0, t):
        prev = filled[i - 1]
        cur = filled[i]
        res = out[i]
        for j in range(w):
            if not uniform and i < start[j]:
                continue
            d = cur[j] - prev[j]
            gj = gain[j] * decay + max(d, 0.0)
            lj = loss[j] * decay + max(-d, 0.0)
            gain[j] = gj
            loss[j] = lj
            total = gj + lj
            res[j] = 100.0 * (gj / total) if total != 0.0 else 0.0


def _compile(fn):
    try:  # numba is a runtime dependency, but keep the NumPy path working without it
        from numba import njit
    except ImportError:  # pragma: no cover - exercised by forcing the fallback in tests
        return None
    return njit(cache=True, nogil=True)(fn)


def __getattr__(name: str):
    if name == "rsi_wilder":
        fn = globals()["rsi_wilder"] = _compile(_rsi_wilder)
        return fn
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
