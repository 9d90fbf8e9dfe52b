"""Persistence of the Assistants objects: the store and what keeps it whole.

Owns the SQLite / PostgreSQL store of assistants, threads, messages, runs and run steps (``store.py``),
its ordered schema migrations (``schema.py``), run leases shared by servers on one store
(``leases.py``), recovery of runs nothing will finish (``recovery.py``), the verified SQLite ->
PostgreSQL copy (``dbcopy.py``), and ownership (``ownership.py``): which process owns a run, and which
user owns a file, vector store, assistant or thread (``owns``, the one rule every part asks).

Imports only the objects (``..objects``) and the base layer (``qlwork.db``, ``qlwork.errors``, ...):
never the runner, the backends, the offline engine, tools or anything above the assistant.
"""

from .recovery import DEFAULT_ACTION_TIMEOUT
from .schema import MIGRATIONS
from .store import Store

__all__ = ["DEFAULT_ACTION_TIMEOUT", "MIGRATIONS", "Store"]
