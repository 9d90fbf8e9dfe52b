"""Timing shared by the bench sections: the best of several runs, in milliseconds."""

from __future__ import annotations

import time


def best_ms(fn, repeats: int) -> tuple[float, object]:
    """(best wall time of ``repeats`` calls of ``fn`` in ms, the last call's result)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e3, out
