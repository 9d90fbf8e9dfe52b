"""Who may see what: every lookup is scoped to the key's user, and anything else answers 404.

Threads belong to the user in their ``user_id`` column; messages, runs and steps belong to their
thread; assistants to the user who created them through the server (plus the shared default
assistant, which everyone may use but nobody may change). Lists are paginated like the Assistants
API: ``limit`` (1-100), ``order``, and ``after`` / ``before`` cursors that must be in the same list.
"""

from __future__ import annotations

from typing import Any, Callable

from ..assistant.objects import Assistant, Message, Run, RunStep, Thread
from ..assistant.store.schema import from_row
from ..assistant.store import Store
from ..errors import InputError
from .errors import APIError, not_found
from .keys import KeyStore


class Access:
    def __init__(self, store: Store, keys: KeyStore, default_assistant_id: str | None = None) -> None:
        self.store = store
        self.keys = keys
        self.default_assistant_id = default_assistant_id

    # -- single objects --------------------------------------------------------------------------
    def thread(self, user: str, thread_id: str) -> Thread:
        if not self.keys.owns(user, "thread", thread_id):
            raise not_found("thread", thread_id)
        try:
            return self.store.get_thread(thread_id)
        except InputError:
            raise not_found("thread", thread_id) from None

    def assistant(self, user: str, assistant_id: str, write: bool = False) -> Assistant:
        shared = assistant_id == self.default_assistant_id
        if not shared and not self.keys.owns(user, "assistant", assistant_id):
            raise not_found("assistant", assistant_id)
        if shared and write:
            raise APIError(403, "The default qlwork assistant is shared and cannot be changed; create your own "
                           "with assistants.create().", code="permission_denied")
        try:
            return self.store.get_assistant(assistant_id)
        except InputError:
            raise not_found("assistant", assistant_id) from None

    def message(self, user: str, thread_id: str, message_id: str) -> Message:
        self.thread(user, thread_id)
        try:
            message = self.store.get_message(message_id)
        except InputError:
            raise not_found("message", message_id) from None
        if message.thread_id != thread_id:
            raise not_found("message", message_id)
        return message

    def run(self, user: str, thread_id: str, run_id: str) -> Run:
        self.thread(user, thread_id)
        try:
            run = self.store.get_run(run_id)
        except InputError:
            raise not_found("run", run_id) from None
        if run.thread_id != thread_id:
            raise not_found("run", run_id)
        return run

    def step(self, user: str, thread_id: str, run_id: str, step_id: str) -> RunStep:
        self.run(user, thread_id, run_id)
        try:
            step = self.store.get_step(step_id)
        except InputError:
            raise not_found("run step", step_id) from None
        if step.run_id != run_id:
            raise not_found("run step", step_id)
        return step

    # -- lists -----------------------------------------------------------------------------------
    def messages(self, user: str, thread_id: str, limit: int, order: str, after: str | None,
                 before: str | None, run_id: str | None = None) -> tuple[list[Message], bool]:
        self.thread(user, thread_id)
        self._cursors(after, before, lambda i: self.store.get_message(i).thread_id == thread_id)
        return paginate(lambda n: self.store.list_messages(thread_id, order=order, limit=n, after=after,
                                                           before=before, run_id=run_id), limit, after, before)

    def runs(self, user: str, thread_id: str, limit: int, order: str, after: str | None,
             before: str | None) -> tuple[list[Run], bool]:
        self.thread(user, thread_id)
        self._cursors(after, before, lambda i: self.store.get_run(i).thread_id == thread_id)
        return paginate(lambda n: self.store.list_runs(thread_id, order=order, limit=n, after=after, before=before),
                        limit, after, before)

    def steps(self, user: str, thread_id: str, run_id: str, limit: int, order: str, after: str | None,
              before: str | None) -> tuple[list[RunStep], bool]:
        self.run(user, thread_id, run_id)
        self._cursors(after, before, lambda i: self.store.get_step(i).run_id == run_id)
        return paginate(lambda n: self.store.list_steps(run_id, order=order, limit=n, after=after, before=before),
                        limit, after, before)

    def assistants(self, user: str, limit: int, order: str, after: str | None,
                   before: str | None) -> tuple[list[Assistant], bool]:
        visible = lambda i: i == self.default_assistant_id or self.keys.owns(user, "assistant", i)  # noqa: E731
        self._cursors(after, before, visible)
        where = ("(id IN (SELECT object_id FROM server_owners WHERE kind = 'assistant' AND user_id = ?) "
                 "OR id = ?)")
        return paginate(lambda n: self._select("assistants", Assistant, where, [user, self.default_assistant_id or ""],
                                               n, order, after, before), limit, after, before)

    def _cursors(self, after: str | None, before: str | None, belongs: Callable[[str], bool]) -> None:
        for name, cursor in (("after", after), ("before", before)):
            if cursor is None:
                continue
            try:
                ok = belongs(cursor)
            except InputError:
                ok = False
            if not ok:
                raise APIError(400, f"The {name} cursor {cursor!r} is not an object of this list.",
                               code="invalid_cursor", param=name)

    def _select(self, table: str, model: type, where: str, params: list, limit: int, order: str,
                after: str | None, before: str | None) -> list[Any]:
        """Keyset pagination over ``table`` (same ordering as the store's lists)."""
        conn = self.store.connection()
        clauses, args = [where], list(params)
        for cursor, later in ((after, True), (before, False)):
            if cursor is None:
                continue
            key = conn.execute(f"SELECT created_at, rowid FROM {table} WHERE id = ?", (cursor,)).fetchone()
            if key is None:
                raise not_found(table[:-1], cursor)
            clauses.append(f"(created_at, rowid) {'>' if later == (order == 'asc') else '<'} (?, ?)")
            args += [key[0], key[1]]
        reverse = before is not None and after is None
        direction = "ASC" if (order == "asc") != reverse else "DESC"
        rows = conn.execute(f"SELECT * FROM {table} WHERE {' AND '.join(clauses)} "
                            f"ORDER BY created_at {direction}, rowid {direction} LIMIT ?", [*args, limit]).fetchall()
        items = [from_row(model, r) for r in rows]
        return items[::-1] if reverse else items


def paginate(fetch: Callable[[int], list], limit: int, after: str | None, before: str | None) -> tuple[list, bool]:
    """Fetch one more than ``limit`` to learn ``has_more`` (the extra item is on the far side)."""
    items = fetch(limit + 1)
    if len(items) <= limit:
        return items, False
    if before is not None and after is None:
        return items[1:], True
    return items[:limit], True
