"""Shared input checks and array helpers for :mod:`qlwork.analytics` (private).

Conventions used by every analytics module:

* Arrays are ``days`` (1-D) or ``days x symbols`` (2-D), float64; pandas objects are accepted
  through :func:`numpy.asarray` (index and labels are dropped).
* ``inf``/``-inf`` are treated exactly like ``NaN``: a missing observation.
* Bad input (wrong ``ndim``, too few rows, no finite value at all, bad parameters) raises
  :class:`qlwork.errors.InputError` with a ``fix``.
"""

from __future__ import annotations

import math

import numpy as np
from qlwork.errors import InputError


def as_2d(x, name: str = "x", *, min_rows: int = 1) -> tuple[np.ndarray, bool]:
    """``x`` as a float64 ``(days, symbols)`` array plus whether it was 1-D.

    Non-finite values become NaN. Raises InputError on ndim other than 1/2, fewer than
    ``min_rows`` rows, or no finite value anywhere.
    """
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} is not numeric: {exc}.", fix=f"Pass {name} as a float array.") from exc
    if arr.ndim not in (1, 2):
        raise InputError(
            f"{name} has {arr.ndim} dimensions; expected 1 (days) or 2 (days x symbols).",
            fix="Pass a 1-D series or a 2-D days x symbols array.",
        )
    if arr.shape[0] < min_rows:
        raise InputError(
            f"{name} has {arr.shape[0]} rows; at least {min_rows} are needed.",
            fix="Pass a longer history or use a shorter window.",
        )
    with np.errstate(over="ignore", invalid="ignore"):
        all_finite = arr.size > 0 and np.isfinite(arr.sum())  # one cheap pass in the common case
    if not all_finite:
        finite = np.isfinite(arr)
        if not finite.any():
            raise InputError(f"{name} has no finite values.", fix="Check the data source for missing prices.")
        if not finite.all():
            arr = np.where(finite, arr, np.nan)
    was_1d = arr.ndim == 1
    return (arr[:, None] if was_1d else arr), was_1d


def out_shape(arr: np.ndarray, was_1d: bool) -> np.ndarray:
    """Undo the 1-D -> 2-D promotion of :func:`as_2d`."""
    return arr[:, 0] if was_1d else arr


def check_period(n, name: str = "n", minimum: int = 1) -> int:
    """``n`` as a positive int (>= ``minimum``) or InputError."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise InputError(f"{name}={n!r} must be an integer >= {minimum}.", fix=f"Pass a valid {name}.")
    return int(n)


def forward_fill(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Forward-fill NaNs down each column of a 2-D array.

    Returns ``(filled, first, missing)``: leading NaNs take the column's first valid value
    (so differences there are 0), ``first`` is each column's first valid row (``days`` when the
    column is all-NaN; such a column stays NaN), and ``missing`` is the NaN mask of the input, or
    None when nothing was missing.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(arr.sum()):
            return arr, np.zeros(arr.shape[1], dtype=np.intp), None
    finite = ~np.isnan(arr)
    if finite.all():
        return arr, np.zeros(arr.shape[1], dtype=np.intp), None
    rows = np.arange(arr.shape[0])[:, None]
    has = finite.any(axis=0)
    first = np.where(has, finite.argmax(axis=0), arr.shape[0]).astype(np.intp)
    idx = np.maximum.accumulate(np.where(finite, rows, -1), axis=0)
    idx = np.where(idx < 0, np.minimum(first, arr.shape[0] - 1)[None, :], idx)
    return np.take_along_axis(arr, idx, axis=0), first, ~finite


def _block_size(m: int, beta: float) -> int:
    """Block length for :func:`recurrence`: about sqrt(m), with beta**-block <= 1e30."""
    b = max(4, int(math.sqrt(m)))
    if 0.0 < beta < 1.0:
        b = min(b, max(1, int(30.0 / -math.log10(beta))))
    return max(1, min(b, m))


def _scan_blocks(blocks: np.ndarray, beta: float, prev: np.ndarray) -> np.ndarray:
    """In place: ``blocks`` (nb, b, w) holds ``u * beta**-j``; turn it into ``z / beta**j``.

    Returns the true ``z`` at the end of the last block (the carry into the next rows).
    """
    nb, b, w = blocks.shape
    for i in range(1, b):  # cumulative sum inside every block at once
        blocks[:, i] += blocks[:, i - 1]
    # z[k*b+i] = beta**i * (local[k, i] + beta * z_before_block_k); the block-end values follow
    # their own short linear recursion end_k = beta**(b-1) * local[k, -1] + beta**b * end_{k-1}.
    # (a loop over ~sqrt(days) blocks, vectorised across columns: no scipy import on this path).
    step, gain = beta**b, beta ** (b - 1)
    ends = np.multiply(blocks[:, -1, :], gain)
    last = prev
    for k in range(nb):
        ends[k] += step * last
        last = ends[k]
    carry = np.empty((nb, w))
    carry[0] = prev
    carry[1:] = ends[:-1]
    carry *= beta
    blocks += carry[:, None, :]
    return ends[-1]


def recurrence(u: np.ndarray, beta: float, z0, *, scale: float | None = 1.0, out=None) -> np.ndarray:
    """``z[t] = beta * z[t-1] + u[t]`` down axis 0 of a finite 2-D ``u``, with ``z[-1] = z0``.

    Returns ``scale * z`` (in ``out`` if given; ``out`` may be ``u`` itself and must be
    C-contiguous). The linear recursion is evaluated in blocks of about sqrt(days) rows: inside a
    block it is a cumulative sum of ``u * beta**-j`` (vectorised across all blocks and columns),
    and blocks are joined by a short loop over carries. This is several times faster than
    ``scipy.signal.lfilter`` here and matches a sequential recursion to ~1e-15 relative.
    ``scale=None`` skips the final ``beta**j`` rescale: the result is then ``z / beta**(t mod B)``,
    which is only useful for ratios of two outputs over the same rows (RSI).
    """
    m, w = u.shape
    res = np.empty((m, w)) if out is None else out
    if m == 0:
        return res
    prev = np.array(np.broadcast_to(np.asarray(z0, dtype=float), (w,)))
    if beta == 0.0:
        np.multiply(u, 1.0 if scale is None else scale, out=res)
        return res
    b = _block_size(m, beta)
    j = np.arange(b, dtype=float)
    inv = (beta**-j)[:, None]
    grow = None if scale is None else (scale * beta**j)[:, None]
    main = (m // b) * b
    for lo, hi, size in ((0, main, b), (main, m, m - main)):
        if hi == lo:
            continue
        blocks = res[lo:hi].reshape(-1, size, w)
        np.multiply(u[lo:hi].reshape(-1, size, w), inv[:size], out=blocks)
        prev = _scan_blocks(blocks, beta, prev)
        if grow is not None:
            blocks *= grow[:size]
    return res


def accumulate(a: np.ndarray, ufunc, initial) -> np.ndarray:
    """In-place running ``ufunc`` (``np.multiply`` or ``np.maximum``) down axis 0 of a
    C-contiguous 2-D array, starting from ``initial``: ``a[t] = ufunc(a[t-1], a[t])``, with
    ``a[-1] = initial``. Blocked like :func:`recurrence`; numpy's own ``accumulate`` along
    axis 0 is several times slower on days x symbols arrays."""
    m, w = a.shape
    carry = np.array(np.broadcast_to(np.asarray(initial, dtype=float), (w,)))
    if m == 0:
        return a
    b = max(4, int(math.sqrt(m)))
    main = (m // b) * b
    for lo, hi, size in ((0, main, b), (main, m, m - main)):
        if hi == lo:
            continue
        blocks = a[lo:hi].reshape(-1, size, w)
        for i in range(1, size):
            ufunc(blocks[:, i], blocks[:, i - 1], out=blocks[:, i])
        carries = np.empty((blocks.shape[0], w))
        for k in range(blocks.shape[0]):
            carries[k] = carry
            carry = ufunc(carry, blocks[k, -1])
        ufunc(blocks, carries[:, None, :], out=blocks)
    return a
