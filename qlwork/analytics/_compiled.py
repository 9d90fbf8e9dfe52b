"""Optional compiled kernels (numba). Each has a pure-NumPy twin in the calling module; the
compiled one is used when numba imports, and tests check both against TA-Lib."""

from __future__ import annotations

import numpy as np

try:  # numba is a runtime dependency, but keep the NumPy path working without it
    from numba import njit
except ImportError:  # pragma: no cover - exercised by forcing the fallback in tests
    njit = None


def _rsi_wilder(filled: np.ndarray, first: np.ndarray, n: int, out: np.ndarray) -> None:
    """Wilder RSI per column into ``out`` (pre-filled with NaN), TA-Lib seeding and arithmetic.

    ``filled`` is days x symbols with no interior NaN (forward-filled); ``first[j]`` is column j's
    first valid row. Rows are the outer loop so memory is read in order.
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
    keep = n - 1.0
    for i in range(1, t):
        for j in range(w):
            if i <= first[j] + n:
                continue
            d = filled[i, j] - filled[i - 1, j]
            g = d if d > 0 else 0.0
            lo = -d if d < 0 else 0.0
            gain[j] = (gain[j] * keep + g) / n
            loss[j] = (loss[j] * keep + lo) / n
            total = gain[j] + loss[j]
            out[i, j] = 100.0 * (gain[j] / total) if total != 0.0 else 0.0


rsi_wilder = njit(cache=True, nogil=True)(_rsi_wilder) if njit is not None else None
