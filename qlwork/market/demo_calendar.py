"""The demo trading calendar: weekdays minus NSE-like holidays (fixed dates, Good Friday, and
deterministic approximations of Holi, Dussehra and Diwali). Dates are ``datetime.date``."""

from __future__ import annotations

import datetime as dt

import numpy as np

# deterministic approximations of the moving holidays (Holi, Diwali Laxmi Puja, Dussehra)
_HOLI = {2014: (3, 17), 2015: (3, 6), 2016: (3, 24), 2017: (3, 13), 2018: (3, 2), 2019: (3, 21),
         2020: (3, 10), 2021: (3, 29), 2022: (3, 18), 2023: (3, 7), 2024: (3, 25), 2025: (3, 14),
         2026: (3, 4)}
_DIWALI = {2014: (10, 23), 2015: (11, 11), 2016: (10, 31), 2017: (10, 19), 2018: (11, 7), 2019: (10, 28),
           2020: (11, 16), 2021: (11, 4), 2022: (10, 24), 2023: (11, 14), 2024: (11, 1), 2025: (10, 21),
           2026: (11, 9)}
_DUSSEHRA = {2014: (10, 3), 2015: (10, 22), 2016: (10, 11), 2017: (9, 30), 2018: (10, 18), 2019: (10, 8),
             2020: (10, 26), 2021: (10, 15), 2022: (10, 5), 2023: (10, 24), 2024: (10, 12), 2025: (10, 2),
             2026: (10, 20)}
_FIXED_HOLIDAYS = ((1, 26), (5, 1), (8, 15), (10, 2), (12, 25))


def _good_friday(year: int) -> dt.date:
    """Good Friday by the anonymous Gregorian computus."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = (h + l_ - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day) - dt.timedelta(days=2)


def nse_holidays(year: int) -> set[dt.date]:
    """NSE-like holidays of ``year`` (weekday or not): Republic Day, Maharashtra Day, Independence Day,
    Gandhi Jayanti, Christmas, Good Friday and approximate Holi, Dussehra and Diwali dates."""
    days = {dt.date(year, m, d) for m, d in _FIXED_HOLIDAYS}
    days.add(_good_friday(year))
    for table in (_HOLI, _DIWALI, _DUSSEHRA):
        if year in table:
            days.add(dt.date(year, *table[year]))
    return days


def trading_days(start: dt.date, end: dt.date) -> np.ndarray:
    """Demo trading days in ``[start, end]`` as ``datetime64[D]`` (weekdays minus :func:`nse_holidays`)."""
    holidays = np.array(sorted(h for y in range(start.year, end.year + 1) for h in nse_holidays(y)),
                        dtype="datetime64[D]")
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1, dtype="datetime64[D]")
    return days[np.is_busday(days, holidays=holidays)]
