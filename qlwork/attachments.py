"""Files attached to assistant messages (used by the widget's upload button and by notebooks).

An upload is saved as ``$QLWORK_HOME/uploads/<file_id>/<name>`` and referenced from the message by
its ``file_id`` (the Assistants ``attachments`` shape). Until the file tools land, a CSV attachment
is read as a portfolio: validated with :func:`qlwork.portfolio.load_portfolio` and made the current
thread's portfolio (stored in the thread metadata, so reopening the thread keeps it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .assistant.objects import new_id
from .config import home
from .errors import InputError

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
PORTFOLIO_SUFFIXES = (".csv",)

__all__ = ["MAX_UPLOAD_BYTES", "attachment_name", "is_portfolio_file", "save_upload", "thread_portfolio",
           "upload_dir", "use_as_portfolio"]


def upload_dir() -> Path:
    """``$QLWORK_HOME/uploads`` (created on demand)."""
    path = home() / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _safe_name(name: str) -> str:
    base = Path(str(name or "")).name.strip()
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", base).strip(" .")
    return base or "upload"


def save_upload(name: str, content: bytes | bytearray | memoryview) -> dict:
    """Save an uploaded file; returns ``{"file_id", "name", "path", "size"}``."""
    data = bytes(content)
    if not data:
        raise InputError(f"The file {name!r} is empty.", fix="Attach a file with content.", code="empty_file")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(f"The file {name!r} is {len(data):,} bytes; the limit is {MAX_UPLOAD_BYTES:,}.",
                         fix="Attach a smaller file.", code="file_too_large")
    file_id = new_id("file")
    folder = upload_dir() / file_id
    folder.mkdir(parents=True)
    path = folder / _safe_name(name)
    path.write_bytes(data)
    return {"file_id": file_id, "name": path.name, "path": str(path), "size": len(data)}


def attachment_name(file_id: str) -> str:
    """The saved file name of an upload, or the id itself when the file is gone."""
    folder = upload_dir() / Path(str(file_id)).name
    files = sorted(folder.iterdir()) if folder.is_dir() else []
    return files[0].name if files else str(file_id)


def is_portfolio_file(name: str) -> bool:
    """True for files read as portfolios (CSV holdings)."""
    return Path(str(name)).suffix.lower() in PORTFOLIO_SUFFIXES


def _known_symbols(session: Any) -> set[str] | None:
    """Tradable symbols of the session's market, if it can be loaded (else None: checked at run time)."""
    try:
        market = session.market
        if market is None or isinstance(market, str):
            from .assistant.session import _load_market

            market = session.market = _load_market(market)
        return set(market.instruments()["tradingsymbol"]) if market is not None else None
    except Exception:  # noqa: BLE001 - a provider problem is reported when the tools run
        return None


def use_as_portfolio(session: Any, saved: dict) -> Any:
    """Validate an uploaded CSV and make it the session's and current thread's portfolio.

    Raises :class:`~qlwork.errors.InputError` (with a fix) when the file is not a valid portfolio.
    Returns the loaded :class:`~qlwork.portfolio.Portfolio`.
    """
    from .portfolio import load_portfolio

    portfolio = load_portfolio(saved["path"], known_symbols=_known_symbols(session))
    session.portfolio = saved["path"]
    session.thread = session.store.update_thread_metadata(session.thread_id, {"portfolio_id": saved["path"]})
    return portfolio


def thread_portfolio(thread: Any) -> str | None:
    """The portfolio recorded on a thread when it can still be loaded (a sample or an existing file)."""
    value = (getattr(thread, "metadata", None) or {}).get("portfolio_id")
    if not isinstance(value, str) or not value.strip():
        return None
    if value.strip().lower().startswith("sample:") or Path(value).expanduser().is_file():
        return value
    return None
