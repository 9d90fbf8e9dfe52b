"""Return periods ("1W", "1M", "3M", "6M", "YTD", "1Y", "3Y", or since a date) and window returns.

A period ending at ``as_of`` has a *base date*: the return runs from the last close on or before it
to the last close on or before ``as_of``. Calendar arithmetic, not trading-day counts: "1M" to
2026-11-20 starts at the close of 2026-10-20; "YTD" at the last close of the previous year; a date
("since 2026-03-01") at the last close before that date, so that day's move counts.

Pure: dates and NumPy arrays in, fractions out (simple returns, not percentages). Used by the weekly
review's period table (``qlwork.review.series``) and the ``compare_with_benchmark`` tool, so both
report the same figures for the same window.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

import numpy as np

from ..errors import InputError

PERIODS = ("1W", "1M", "3M", "6M", "YTD", "1Y", "3Y")
"""The named periods; ``nW``, ``nM``, ``nY`` (n 1 to 20) and ISO dates are accepted too."""

_SPAN = re.compile(r"^(\d{1,2})([WMY])$")


def _months_back(day: dt.date, months: int) -> dt.date:
    total = day.year * 12 + (day.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def normalise_period(period: str) -> str:
    """``period`` in canonical form ("1y" -> "1Y", " ytd " -> "YTD", "2026-03-01" kept);
    an InputError naming the accepted forms otherwise."""
    text = str(period).strip().upper()
    if text == "YTD" or _SPAN.match(text):
        n = _SPAN.match(text)
        if n and not 1 <= int(n.group(1)) <= 20:
            raise InputError(f"Period {period!r} is out of range.", fix="Use 1 to 20 weeks, months or years.",
                             field="period")
        return text
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise InputError(f"Unknown return period {period!r}.",
                         fix=f"Use one of {', '.join(PERIODS)}, nW / nM / nY, or a start date YYYY-MM-DD.",
                         field="period", allowed=list(PERIODS)) from None


def period_start(as_of: dt.date, period: str) -> dt.date:
    """The base date of ``period`` ending at ``as_of`` (see the module docstring)."""
    text = normalise_period(period)
    if text == "YTD":
        return dt.date(as_of.year - 1, 12, 31)
    span = _SPAN.match(text)
    if span is None:
        since = dt.date.fromisoformat(text)
        if since > as_of:
            raise InputError(f"Start date {since} is after the analysis date {as_of}.",
                             fix="Use a start date on or before the analysis date.", field="period")
        return since - dt.timedelta(days=1)
    n, unit = int(span.group(1)), span.group(2)
    if unit == "W":
        return as_of - dt.timedelta(days=7 * n)
    return _months_back(as_of, n if unit == "M" else 12 * n)


def period_label(period: str) -> str:
    """A reader's name for ``period``: "1Y" -> "1 year", "YTD" -> "year to date", a date -> "since <date>"."""
    text = normalise_period(period)
    if text == "YTD":
        return "year to date"
    span = _SPAN.match(text)
    if span is None:
        return f"since {text}"
    n, unit = int(span.group(1)), {"W": "week", "M": "month", "Y": "year"}[span.group(2)]
    return f"{n} {unit}{'s' * (n != 1)}"


def base_indices(days: np.ndarray, bases: list[dt.date]) -> np.ndarray:
    """Row of the last date on or before each base date in ``days`` (sorted ``datetime64[D]``); -1 when
    the history starts after it."""
    return np.searchsorted(days, np.array(bases, dtype="datetime64[D]"), side="right") - 1


def window_returns(levels: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Simple return of each column of ``levels`` (days x series: values, index levels or growth
    factors) from row ``starts[i]`` to the last row: an array periods x series. NaN where a start is
    -1 (not covered), the last row itself, or a base level is missing."""
    levels = np.asarray(levels, dtype=float)
    levels = levels[:, None] if levels.ndim == 1 else levels
    starts = np.asarray(starts, dtype=int)
    valid = (starts >= 0) & (starts < len(levels) - 1)
    base = levels[np.where(valid, starts, 0)]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = levels[-1][None, :] / base - 1.0
    out[~valid] = np.nan
    return out
