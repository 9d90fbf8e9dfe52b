"""On-disk candle cache keyed by (provider, instrument_token, interval, day).

One SQLite file (``$QLWORK_HOME/cache/candles.sqlite``, WAL mode) holds two tables:

- ``bars``: one row per candle; ``ts`` is the bar start in epoch seconds (UTC), prices in INR;
- ``coverage``: the IST calendar days whose bars are complete in ``bars`` (a covered day with no bar is
  a holiday or weekend).

A provider asks :meth:`CandleCache.missing` for the uncovered runs of days, fetches only those, and
stores them with :meth:`CandleCache.store`, marking days covered only up to ``complete_through`` (the
day before today, IST), so today's partial bar is fetched again on every call and replaced.
Thread-safe; safe for several processes (SQLite locking, 30 s busy timeout).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import TIMEZONE, home
from ..errors import ProviderError
from .base import CANDLE_COLUMNS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bars (
    provider TEXT NOT NULL, token INTEGER NOT NULL, interval TEXT NOT NULL, ts INTEGER NOT NULL,
    open REAL, high REAL, low REAL, close REAL, volume INTEGER, oi INTEGER,
    PRIMARY KEY (provider, token, interval, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS coverage (
    provider TEXT NOT NULL, token INTEGER NOT NULL, interval TEXT NOT NULL, day TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (provider, token, interval, day)
) WITHOUT ROWID;
"""


def _day_bounds(start: dt.date, end: dt.date) -> tuple[int, int]:
    """Epoch seconds of ``start`` 00:00 IST and ``end + 1 day`` 00:00 IST."""
    lo = pd.Timestamp(start).tz_localize(TIMEZONE)
    hi = pd.Timestamp(end + dt.timedelta(days=1)).tz_localize(TIMEZONE)
    return int(lo.timestamp()), int(hi.timestamp())


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


class CandleCache:
    """SQLite candle store; ``path`` defaults to ``$QLWORK_HOME/cache/candles.sqlite``."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else home() / "cache" / "candles.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            with closing(self._connect()) as con, con:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ProviderError(f"The candle cache {self.path} is unusable ({exc}).",
                                fix=f"Delete {self.path}; it is rebuilt on the next fetch.") from None

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30.0)

    # -- coverage ---------------------------------------------------------------------------
    def covered_days(self, provider: str, token: int, interval: str, start: dt.date, end: dt.date) -> set[dt.date]:
        """The covered days in ``[start, end]``."""
        with closing(self._connect()) as con:
            rows = con.execute(
                "SELECT day FROM coverage WHERE provider=? AND token=? AND interval=? AND day BETWEEN ? AND ?",
                (provider, int(token), interval, start.isoformat(), end.isoformat())).fetchall()
        return {dt.date.fromisoformat(r[0]) for r in rows}

    def missing(self, provider: str, token: int, interval: str, start: dt.date,
                end: dt.date) -> list[tuple[dt.date, dt.date]]:
        """Contiguous runs ``[(first, last), ...]`` of days in ``[start, end]`` not yet covered."""
        if start > end:
            return []
        have = self.covered_days(provider, token, interval, start, end)
        runs: list[tuple[dt.date, dt.date]] = []
        run_start: dt.date | None = None
        for day in _days(start, end):
            if day in have:
                if run_start is not None:
                    runs.append((run_start, day - dt.timedelta(days=1)))
                    run_start = None
            elif run_start is None:
                run_start = day
        if run_start is not None:
            runs.append((run_start, end))
        return runs

    # -- write ------------------------------------------------------------------------------
    def store(self, provider: str, token: int, interval: str, start: dt.date, end: dt.date,
              frame: pd.DataFrame, *, complete_through: dt.date) -> int:
        """Replace the bars of days ``[start, end]`` with ``frame`` (a candle frame) and mark the days
        up to ``complete_through`` covered. Returns the number of bars written."""
        lo, hi = _day_bounds(start, end)
        rows: list[tuple] = []
        if len(frame):
            ts = pd.to_datetime(frame["date"], utc=True).dt.as_unit("s").astype("int64")
            keep = (ts >= lo) & (ts < hi)
            sub = frame.loc[keep.to_numpy()]
            oi = sub["oi"] if "oi" in sub.columns else pd.Series([None] * len(sub), index=sub.index)
            rows = list(zip(ts[keep].astype(int).tolist(), sub["open"].astype(float).tolist(),
                            sub["high"].astype(float).tolist(), sub["low"].astype(float).tolist(),
                            sub["close"].astype(float).tolist(), sub["volume"].astype("int64").tolist(),
                            [None if pd.isna(v) else int(v) for v in oi]))
        covered = [d.isoformat() for d in _days(start, min(end, complete_through))]
        stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        key = (provider, int(token), interval)
        with self._lock, closing(self._connect()) as con, con:
            con.execute("DELETE FROM bars WHERE provider=? AND token=? AND interval=? AND ts>=? AND ts<?",
                        (*key, lo, hi))
            con.executemany("INSERT OR REPLACE INTO bars VALUES (?,?,?,?,?,?,?,?,?,?)",
                            [(*key, *r) for r in rows])
            con.executemany("INSERT OR REPLACE INTO coverage VALUES (?,?,?,?,?)",
                            [(*key, d, stamp) for d in covered])
        return len(rows)

    # -- read -------------------------------------------------------------------------------
    def load(self, provider: str, token: int, interval: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Cached bars of days ``[start, end]`` as a candle frame (date tz-aware Asia/Kolkata, sorted;
        ``oi`` added only when stored)."""
        lo, hi = _day_bounds(start, end)
        with closing(self._connect()) as con:
            rows = con.execute(
                "SELECT ts, open, high, low, close, volume, oi FROM bars WHERE provider=? AND token=? "
                "AND interval=? AND ts>=? AND ts<? ORDER BY ts", (provider, int(token), interval, lo, hi)).fetchall()
        arr = np.array(rows, dtype=object).reshape(-1, 7)
        frame = pd.DataFrame({
            "date": pd.to_datetime(arr[:, 0].astype("int64"), unit="s", utc=True).tz_convert(TIMEZONE),
            "open": arr[:, 1].astype(float), "high": arr[:, 2].astype(float), "low": arr[:, 3].astype(float),
            "close": arr[:, 4].astype(float), "volume": arr[:, 5].astype("int64"),
        }, columns=CANDLE_COLUMNS)
        if len(arr) and any(v is not None for v in arr[:, 6]):
            frame["oi"] = pd.array([None if v is None else int(v) for v in arr[:, 6]], dtype="Int64")
        return frame

    def clear(self, provider: str | None = None) -> None:
        """Forget cached bars and coverage (of one provider, or everything)."""
        with self._lock, closing(self._connect()) as con, con:
            for table in ("bars", "coverage"):
                if provider is None:
                    con.execute(f"DELETE FROM {table}")
                else:
                    con.execute(f"DELETE FROM {table} WHERE provider=?", (provider,))

    def summary(self) -> dict:
        """``{"bars": n, "covered_days": n, "path": ...}``."""
        with closing(self._connect()) as con:
            bars = con.execute("SELECT COUNT(*) FROM bars").fetchone()[0]
            days = con.execute("SELECT COUNT(*) FROM coverage").fetchone()[0]
        return {"bars": int(bars), "covered_days": int(days), "path": str(self.path)}
