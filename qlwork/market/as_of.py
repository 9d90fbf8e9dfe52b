"""Checking an analysis date (``as_of``) against today and the data: a future date is refused, a date
before a provider's data (or too early for a year of prices) is refused naming the first usable day,
and a weekend or holiday is analysed as of the last trading day before it, said in plain words.
Dates are India dates (Asia/Kolkata)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ..config import TIMEZONE
from ..errors import InputError
from .base import parse_date

REVIEW_LOOKBACK_DAYS = 252
"""Trading days of prices a review needs before its date (a year)."""


@dataclass(frozen=True)
class AsOf:
    """``requested``: the date asked for; ``trading_day``: the last trading day on or before it."""

    requested: dt.date
    trading_day: dt.date

    @property
    def note(self) -> str | None:
        """A sentence when the date is not a trading day, else None."""
        if self.trading_day == self.requested:
            return None
        return (f"{self.requested.isoformat()} is a {self.requested.strftime('%A')}, not a trading day: prices are "
                f"up to the close of {self.trading_day.strftime('%A')} {self.trading_day.isoformat()}, the last "
                "trading day before it.")


def today_in_india(now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(dt.timezone.utc)).astimezone(ZoneInfo(TIMEZONE)).date()


def check_as_of(value, market=None, *, today: dt.date | None = None, lookback_days: int = REVIEW_LOOKBACK_DAYS,
                field: str = "as_of") -> AsOf:
    """The checked date; raises :class:`InputError` for a future date or one the data cannot cover.

    ``market`` (optional) gives ``first_date()`` / ``trading_days(start, end)`` where it has them (the
    demo provider); without them weekends are the only days known not to trade.
    """
    day = parse_date(value, field=field)
    now = today or today_in_india()
    if day > now:
        raise InputError(f"{field} {day.isoformat()} is in the future (today is {now.isoformat()} in India); "
                         "there are no prices for it yet.", fix=f"Use {now.isoformat()} or an earlier date.",
                         field=field, value=day.isoformat(), code="future_date")
    first = market.first_date() if market is not None and hasattr(market, "first_date") else None
    if first is not None and hasattr(market, "trading_days"):
        calendar = market.trading_days(first, None)
        usable = calendar[min(lookback_days, len(calendar) - 1)]
        if day < usable:
            synthetic = bool((market.metadata() if hasattr(market, "metadata") else {}).get("synthetic"))
            raise InputError(f"{field} {day.isoformat()} is too early: the {'demo (synthetic) ' if synthetic else ''}"
                             f"prices start on {first.isoformat()}, and a review needs {lookback_days} trading days "
                             "of prices before its date.", fix=f"Use {usable.isoformat()} or later.", field=field,
                             value=day.isoformat(), code="before_data", first_usable=usable.isoformat())
        return AsOf(day, market.trading_days(first, day)[-1])
    return AsOf(day, day - dt.timedelta(days=max(0, day.weekday() - 4)))  # weekends: back to Friday
