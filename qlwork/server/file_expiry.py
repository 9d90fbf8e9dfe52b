"""File expiry (``expires_after`` on ``POST /v1/files``, as OpenAI's): a file's ``expires_at`` (Unix
seconds) lives in the table ``server_file_expiry``; once past, the file is deleted (bytes, index, vector
store entries, owner) the next time anyone lists or names it, and answers 404 like any missing file.

OpenAI's rules: ``anchor`` is ``created_at``; ``seconds`` is 3,600 (an hour) to 2,592,000 (30 days);
files with ``purpose=batch`` expire after 30 days unless told otherwise; other files never expire.
"""

from __future__ import annotations

import time

from ..errors import InputError

MIN_SECONDS, MAX_SECONDS = 3_600, 2_592_000
BATCH_DEFAULT_SECONDS = MAX_SECONDS

_TABLE = ("CREATE TABLE IF NOT EXISTS server_file_expiry (file_id TEXT PRIMARY KEY, "
          "expires_at INTEGER NOT NULL)")


def ensure_table(store) -> None:
    with store.transaction() as conn:
        conn.execute(_TABLE)


def expiry_seconds(anchor: str | None, seconds: str | int | None, purpose: str) -> int | None:
    """The seconds to expiry of an upload (None: never), checked as OpenAI checks them."""
    if anchor is None and seconds is None:
        return BATCH_DEFAULT_SECONDS if purpose == "batch" else None
    if anchor != "created_at":
        raise InputError(f"expires_after[anchor] must be 'created_at', got {anchor!r}.",
                         fix="Send expires_after={'anchor': 'created_at', 'seconds': N}.", code="invalid_argument",
                         param="expires_after.anchor")
    try:
        value = int(str(seconds))
    except ValueError:
        value = None
    if value is None or not MIN_SECONDS <= value <= MAX_SECONDS:
        raise InputError(f"expires_after[seconds] must be a whole number from {MIN_SECONDS:,} (an hour) to "
                         f"{MAX_SECONDS:,} (30 days), got {seconds!r}.", fix="Pick a value in that range.",
                         code="invalid_argument", param="expires_after.seconds")
    return value


def set_expiry(store, file_id: str, expires_at: int) -> None:
    with store.transaction() as conn:
        conn.execute("INSERT INTO server_file_expiry (file_id, expires_at) VALUES (?, ?)", (file_id, int(expires_at)))


def expires_at(store, file_id: str) -> int | None:
    row = store.connection().execute("SELECT expires_at FROM server_file_expiry WHERE file_id = ?",
                                     (file_id,)).fetchone()
    return int(row[0]) if row else None


def expired(store, now: float | None = None) -> list[str]:
    """Ids of files past their expiry."""
    moment = int(now if now is not None else time.time())
    return [r[0] for r in store.connection().execute(
        "SELECT file_id FROM server_file_expiry WHERE expires_at <= ?", (moment,)).fetchall()]


def forget(store, file_id: str) -> None:
    with store.transaction() as conn:
        conn.execute("DELETE FROM server_file_expiry WHERE file_id = ?", (file_id,))
