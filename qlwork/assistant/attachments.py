"""Files attached to assistant messages (used by the widget's upload button and by notebooks).

An upload goes into the file store (:mod:`qlwork.tools.files`: ``$QLWORK_HOME/files``, type sniffed
from the content, size limit ``QLWORK_MAX_FILE_BYTES``) and the message references it by ``file_id``
with the tools that read it, as in the Assistants API: documents (PDF, text) go to file_search, data
and images (CSV, JSON, PNG, JPEG) to code_interpreter. A CSV is read as a portfolio: validated with
:func:`qlwork.portfolio.load_portfolio` and made the current thread's portfolio (stored in the
thread metadata, so reopening the thread keeps it).

On the server any attached holdings file (CSV or JSON, detected from its content by
:mod:`qlwork.tools.holdings_files`) becomes the thread's portfolio from that message on
(:func:`holdings_attachment`, :func:`attached_portfolio`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..market.base import priceable_symbols
from ..tools.files import file_store

PORTFOLIO_SUFFIXES = (".csv",)
TOOLS_BY_KIND = {"pdf": ("file_search",), "text": ("file_search",), "csv": ("code_interpreter",),
                 "json": ("code_interpreter",), "png": ("code_interpreter",), "jpeg": ("code_interpreter",)}

__all__ = ["PORTFOLIO_FILE", "attached_portfolio", "attachment_name", "holdings_attachment", "is_portfolio_file",
           "latest_portfolio_attachment", "message_attachment", "record_portfolio_attachment", "save_upload",
           "thread_portfolio", "use_as_portfolio"]


def save_upload(name: str, content: bytes | bytearray | memoryview, store: Any = None,
                user_id: str | None = None) -> dict:
    """Store an uploaded file; returns ``{"file_id", "name", "path", "size", "kind", "tools"}``.
    With ``store`` and ``user_id`` the upload is recorded as that user's (the ownership record MCP and
    the server ask; a thread's metadata naming the file grants nothing). Empty, oversized, unreadable
    or unsupported files raise :class:`InputError` with a fix."""
    fs = file_store()
    obj = fs.create(content, name or "upload")
    if store is not None and user_id:
        from .store import ownership

        ownership.claim(store, "file", obj.id, user_id)
    return {"file_id": obj.id, "name": obj.filename, "path": str(fs.path(obj.id)), "size": obj.bytes,
            "kind": obj.kind, "tools": list(TOOLS_BY_KIND.get(obj.kind, ("file_search",)))}


def message_attachment(saved: dict, as_portfolio: bool = False) -> dict:
    """The Assistants ``{file_id, tools}`` for a saved upload; a portfolio CSV is the thread's
    holdings (read by the trading tools), so no file tool is asked to read it."""
    tools = [] if as_portfolio else [{"type": t} for t in saved.get("tools", ())]
    return {"file_id": saved["file_id"], "tools": tools}


def attachment_name(file_id: str) -> str:
    """The file name of an attachment, or the id itself when the file is gone."""
    try:
        return file_store().get(file_id).filename
    except InputError:
        return str(file_id)


def is_portfolio_file(name: str) -> bool:
    """True for files read as portfolios (CSV holdings)."""
    return Path(str(name)).suffix.lower() in PORTFOLIO_SUFFIXES


def _known_symbols(session: Any) -> set[str] | None:
    """Tradable symbols of the session's market, if it can be loaded (else None: checked at run time)."""
    try:
        market = session.market_provider()
        return priceable_symbols(market) if market is not None else None
    except Exception:  # noqa: BLE001 - a provider problem is reported when the tools run
        return None


def use_as_portfolio(session: Any, saved: dict) -> Any:
    """Validate an uploaded CSV and make it the session's and current thread's portfolio.

    Raises :class:`~qlwork.errors.InputError` (with a fix) when the file is not a valid portfolio.
    Returns the loaded :class:`~qlwork.portfolio.Portfolio`.
    """
    from ..portfolio import load_portfolio

    portfolio = load_portfolio(saved["path"], known_symbols=_known_symbols(session), label=saved.get("name"))
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


# -- holdings attached to a message (the server's path; see docs/server.md "Portfolios") ------------

PORTFOLIO_FILE = "_qlwork_portfolio_file"
"""Thread metadata key: ``{"file_id", "message_id"}`` of the latest holdings file attached to a message.
Internal (``_qlwork`` keys never reach the wire), so a platform's own ``portfolio_id`` stays as sent."""


def holdings_attachment(file_ids: list[str], known_symbols: set[str] | None = None) -> str | None:
    """The last of ``file_ids`` that holds a portfolio, validated (InputError with the fix when a
    holdings file has bad rows); None when none of them is a holdings file."""
    from ..tools.holdings_files import load_holdings_file

    found = None
    for file_id in file_ids:
        if load_holdings_file(file_store(), file_id, known_symbols) is not None:
            found = file_id
    return found


def record_portfolio_attachment(store: Any, thread_id: str, file_id: str | None, message_id: str | None) -> None:
    """Make ``file_id`` the thread's portfolio from ``message_id`` on (None: forget the attached one)."""
    value = {"file_id": file_id, "message_id": message_id} if file_id else None
    store.update_thread_metadata(thread_id, {PORTFOLIO_FILE: value})


def attached_portfolio(metadata: dict, known_symbols: set[str] | None = None) -> Any:
    """The portfolio attached to the thread (a :class:`~qlwork.portfolio.Portfolio`), or None when none
    was attached or the file is gone or no longer valid (the caller then falls back to ``portfolio_id``)."""
    from ..tools.holdings_files import load_holdings_file

    entry = (metadata or {}).get(PORTFOLIO_FILE)
    file_id = entry.get("file_id") if isinstance(entry, dict) else None
    if not file_id:
        return None
    try:
        return load_holdings_file(file_store(), str(file_id), known_symbols)
    except InputError:
        return None


def latest_portfolio_attachment(store: Any, thread_id: str) -> tuple[str | None, str | None]:
    """(file_id, message_id) of the newest message of the thread carrying a holdings file (after a
    message was deleted); files that fail validation now are skipped."""
    for message in store.list_messages(thread_id, order="desc", limit=100):
        ids = [a.file_id for a in message.attachments or []]
        if not ids:
            continue
        try:
            found = holdings_attachment(ids)
        except InputError:
            continue
        if found:
            return found, message.id
    return None, None
