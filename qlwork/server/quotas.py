"""Per-user storage quotas of ``qlwork serve``: total bytes and number of files a user may keep.

``QLWORK_USER_MAX_BYTES`` (default 1 GiB) and ``QLWORK_USER_MAX_FILES`` (default 1000) count the files
the ownership records give the user (uploads and code-interpreter figures). An upload past either
answers 429 ``quota_exceeded`` naming the limit, the setting and the user's usage; deleting files
frees the quota at once, so no Retry-After is sent.
"""

from __future__ import annotations

import os

from ..assistant.store import ownership
from .errors import APIError

DEFAULT_MAX_BYTES = 1024 ** 3
DEFAULT_MAX_FILES = 1000


def _setting(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        return default
    return value if value > 0 else default


def usage(files, store, user: str) -> tuple[int, int]:
    """(files, bytes) the user keeps in the file store."""
    ids = ownership.owned_ids(store, user, "file")
    count = total = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        row = files.conn().execute(f"SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM files WHERE id IN "
                                   f"({','.join('?' * len(chunk))})", chunk).fetchone()
        count, total = count + row[0], total + row[1]
    return count, total


def check_upload(files, store, user: str, incoming: int) -> None:
    """Raise 429 ``quota_exceeded`` when storing ``incoming`` more bytes would pass the user's quota."""
    max_files = _setting("QLWORK_USER_MAX_FILES", DEFAULT_MAX_FILES)
    max_bytes = _setting("QLWORK_USER_MAX_BYTES", DEFAULT_MAX_BYTES)
    count, total = usage(files, store, user)
    if count + 1 > max_files:
        raise APIError(429, f"File quota reached: you keep {count:,} files; the limit is {max_files:,} per user "
                            "(QLWORK_USER_MAX_FILES). Delete files you no longer need.", code="quota_exceeded",
                       param="file")
    if total + incoming > max_bytes:
        raise APIError(429, f"Storage quota reached: you keep {total:,} bytes and this file has {incoming:,}; the "
                            f"limit is {max_bytes:,} bytes per user (QLWORK_USER_MAX_BYTES). Delete files you no "
                            "longer need.", code="quota_exceeded", param="file")
