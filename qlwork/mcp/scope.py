"""One user's view of qlwork for the MCP server: their files, their market provider, their portfolio
arguments, and the :class:`~qlwork.tools.registry.ToolContext` the tools run with.

A user's files are the files the ownership records give them (``server_owners``, kind ``file``:
uploads through ``qlwork serve`` or the widget, code-interpreter figures), asked through
:func:`qlwork.assistant.store.ownership.owns` like every other part of qlwork. Thread metadata and
message attachments are client-set and grant nothing. Nothing else in the file store is visible:
another user's id answers exactly like an id that does not exist.

Over HTTP (``remote``) a portfolio argument may only be ``sample:<name>``, one of the user's file ids or
``kite``; a path is refused, because the caller is not on this machine. Over stdio the caller is the
local user, so a CSV/JSON path works as it does in ``qlwork chat``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..assistant.store import Store, ownership
from ..errors import InputError, QlworkError
from ..market import get_provider
from ..portfolio.loaders import sample_portfolios
from ..server.keys import KeyStore
from ..tools.files import FileStore, file_store
from ..tools.registry import ToolContext

PORTFOLIO_FIELD = "portfolio"
SEARCHABLE_KINDS = ("pdf", "text", "csv", "json")
PORTFOLIO_KINDS = ("csv", "json")


class Host:
    """What every user's scope shares: the assistant store (keys and owners), the file store, the
    provider name, the reports folder and the options of ``qlwork mcp``."""

    def __init__(self, *, provider: str = "demo", reports_dir: str | Path = "reports", allow_code: bool = False,
                 remote: bool = False, store: Store | None = None, files: FileStore | None = None) -> None:
        self.provider = provider
        self.reports_dir = Path(reports_dir).expanduser().resolve()
        self.allow_code = allow_code
        self.remote = remote
        self.store = store or Store()
        self.keys = KeyStore(self.store)
        self.files = files or file_store()
        self._markets: dict[str, Any] = {}
        self._lock = threading.Lock()

    def scope(self, user: str) -> "UserScope":
        return UserScope(self, user)

    def market(self, user: str) -> Any:
        """The market provider for ``user`` (Kite: that user's own token), one per user."""
        with self._lock:
            if user not in self._markets:
                self._markets[user] = get_provider(self.provider, user_id=user)
            return self._markets[user]


class UserScope:
    """What one user may see and use."""

    def __init__(self, host: Host, user: str) -> None:
        self.host = host
        self.user = user

    # -- files -----------------------------------------------------------------------------------
    def file_ids(self) -> list[str]:
        """The user's file ids that still exist in the file store, oldest first: exactly the files the
        ownership records give the user (:func:`~qlwork.assistant.store.ownership.owns`), never a
        thread's metadata or a message's attachment list, which any client can set."""
        out = []
        for fid in ownership.owned_ids(self.host.store, self.user, "file"):
            try:
                self.host.files.get(fid)
            except InputError:
                continue
            out.append(fid)
        return out

    def owns(self, file_id: str) -> bool:
        return ownership.owns(self.host.store, self.user, "file", file_id)

    def file(self, file_id: str):
        """The user's file object; InputError ``not_found`` for anyone else's id or an unknown one."""
        if not isinstance(file_id, str) or not self.owns(file_id):
            raise InputError(f"No file with id {file_id!r}.", fix="Use one of your file ids (see the qlwork://"
                             "portfolios and file resources).", code="not_found", id=file_id)
        return self.host.files.get(file_id)

    # -- market and portfolios ------------------------------------------------------------------
    def market(self) -> Any:
        return self.host.market(self.user)

    def kite_logged_in(self) -> bool:
        from ..market.kite_auth import token_status

        try:
            return bool(token_status(user=self.user)["valid"])
        except QlworkError:
            return False

    def allowed_portfolios(self) -> list[str]:
        """The portfolio values this user may name (kite only when logged in)."""
        files = [f for f in self.file_ids() if self.host.files.get(f).kind in PORTFOLIO_KINDS]
        return ([f"sample:{n}" for n in sample_portfolios()] + files
                + (["kite"] if self.kite_logged_in() or self.host.provider == "kite" else []))

    def resolve_portfolio(self, value: Any) -> Any:
        """A portfolio argument as the tools take it: a file id becomes its stored path; over HTTP
        anything but ``sample:<name>``, an own file id or ``kite`` is refused."""
        if value is None or not isinstance(value, str):
            return value  # the registry reports a wrong type with the field named
        text = value.strip()
        if text.lower().startswith("sample:") or text.lower() == "kite":
            return text
        if text.startswith("file_"):
            try:
                return str(self.host.files.path(self.file(text).id))
            except InputError:
                pass
        elif not self.host.remote:
            return text  # the local user's own path, as in `qlwork chat --portfolio`
        allowed = self.allowed_portfolios()
        raise InputError(f"portfolio {value!r} is not one of yours.",
                         fix="Pass sample:<name>, one of your file ids or kite"
                             + ("" if self.host.remote else ", or a CSV/JSON path on this machine") + ".",
                         code="invalid_portfolio", field=PORTFOLIO_FIELD, allowed=allowed, got=value)

    # -- tool context ----------------------------------------------------------------------------
    def context(self, tool_name: str) -> ToolContext:
        """The context a tool call runs with: this user's provider, files and kernel."""
        user = self.user
        keys, store = self.host.keys, self.host.store
        owned = set(self.file_ids())
        extra: dict[str, Any] = {
            "file_store": self.host.files,
            "file_allowed": lambda file_id: ownership.owns(store, user, "file", file_id),
            "file_created": lambda file_id: keys.claim("file", file_id, user),
        }
        if tool_name == "file_search":
            extra["vector_store_ids"] = [self._search_store(owned)]
        market = self.market() if tool_name != "file_search" else None
        return ToolContext(market=market, user_id=user, thread_id=f"mcp-{user}", extra=extra)

    def _search_store(self, owned: set[str]) -> str:
        """The vector store of this user's searchable files (indexed on first use)."""
        from ..tools.file_search import add_file, get_vector_store, owned_store

        fs = self.host.files
        vs_id = owned_store(fs, "mcp_user", self.user)
        have = {f["file_id"] for f in get_vector_store(fs, vs_id)["files"]}
        for fid in owned - have:
            if fs.get(fid).kind in SEARCHABLE_KINDS:
                try:
                    add_file(fs, vs_id, fid)
                except InputError:
                    pass  # recorded as failed; file_search lists it under files_not_searchable
        return vs_id

