"""API keys and object ownership for ``qlwork serve``.

Keys are bearer tokens ``qlw-<random>``; only their SHA-256 digest is stored, so a key is shown once,
when it is created, and can never be read back. Each key belongs to one user id; revoking a key
stops it at once (every request looks the digest up). Assistants created through the server are
owned by the creating user (table ``server_owners``); threads carry their owner in the store's
``user_id`` column. Both tables live in the store's SQLite file, created on first use.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from ..assistant.objects import now
from ..assistant.store import Store, ownership
from ..config import check_user_id
from ..errors import InputError

KEY_PREFIX = "qlw-"

_TABLES = (
    """CREATE TABLE IF NOT EXISTS server_keys (id TEXT PRIMARY KEY, user_id TEXT NOT NULL,
        digest TEXT NOT NULL UNIQUE, hint TEXT NOT NULL, created_at INTEGER NOT NULL,
        revoked_at INTEGER, name TEXT)""",
    *ownership.OWNER_TABLES,
)


@dataclass(frozen=True)
class KeyInfo:
    """A stored key without its secret: id, user, a short hint of the key, timestamps."""

    id: str
    user_id: str
    hint: str
    created_at: int
    revoked_at: int | None = None
    name: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict:
        return {"id": self.id, "user_id": self.user_id, "hint": self.hint, "created_at": self.created_at,
                "revoked_at": self.revoked_at, "name": self.name, "active": self.active}


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def ensure_tables(store: Store) -> None:
    """Create the key and ownership tables if missing (idempotent)."""
    with store.transaction() as conn:
        for statement in _TABLES:
            conn.execute(statement)


class KeyStore:
    """Create, list, revoke and check API keys; record and check who owns an object."""

    def __init__(self, store: Store) -> None:
        self.store = store
        ensure_tables(store)

    # -- keys ----------------------------------------------------------------------------------
    def create(self, user_id: str, name: str | None = None) -> tuple[KeyInfo, str]:
        """A new key for ``user_id``: (info, secret). The secret is not stored; show it once."""
        check_user_id(user_id)  # one safe path segment: the user's preferences live in a folder of that name
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        info = KeyInfo(id="key_" + secrets.token_hex(8), user_id=user_id,
                       hint=f"{secret[:8]}...{secret[-4:]}", created_at=now(), name=name)
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO server_keys (id, user_id, digest, hint, created_at, name) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (info.id, info.user_id, digest(secret), info.hint, info.created_at, name))
        return info, secret

    def list(self, user_id: str | None = None, include_revoked: bool = True) -> list[KeyInfo]:
        sql = "SELECT id, user_id, hint, created_at, revoked_at, name FROM server_keys"
        clauses, params = [], []
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        if not include_revoked:
            clauses.append("revoked_at IS NULL")
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        rows = self.store.connection().execute(sql + " ORDER BY created_at, rowid", params).fetchall()
        return [KeyInfo(*tuple(r)) for r in rows]

    def revoke(self, key_id: str) -> KeyInfo:
        """Revoke a key by id (idempotent); InputError ``not_found`` for an unknown id."""
        with self.store.transaction() as conn:
            row = conn.execute("SELECT id FROM server_keys WHERE id = ?", (key_id,)).fetchone()
            if row is None:
                raise InputError(f"No API key with id {key_id!r}.", fix="Run `qlwork serve keys list`.",
                                 code="not_found", id=key_id)
            conn.execute("UPDATE server_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                         (now(), key_id))
        return next(k for k in self.list() if k.id == key_id)

    def authenticate(self, secret: str | None) -> str | None:
        """The user id of an active key, or None."""
        if not secret or not secret.startswith(KEY_PREFIX) or len(secret) > 200:
            return None
        wanted = digest(secret)
        row = self.store.connection().execute(
            "SELECT digest, user_id FROM server_keys WHERE digest = ? AND revoked_at IS NULL", (wanted,)).fetchone()
        if row is None or not hmac.compare_digest(row[0], wanted):
            return None
        return row[1]

    # -- ownership -----------------------------------------------------------------------------
    # (the records and the rule live in qlwork.assistant.store.ownership, asked by MCP and tools too)
    def claim(self, kind: str, object_id: str, user_id: str) -> None:
        ownership.claim(self.store, kind, object_id, user_id)

    def owner(self, kind: str, object_id: str) -> str | None:
        return ownership.owner_of(self.store, kind, object_id)

    def owns(self, user_id: str | None, kind: str, object_id: str) -> bool:
        return ownership.owns(self.store, user_id, kind, object_id)

    def release(self, kind: str, object_id: str) -> None:
        ownership.release(self.store, kind, object_id)


# -- library functions behind `qlwork serve keys ...` --------------------------------------------

def create_key(user_id: str, name: str | None = None, store: Store | None = None) -> tuple[KeyInfo, str]:
    return KeyStore(store or Store()).create(user_id, name)


def list_keys(user_id: str | None = None, store: Store | None = None) -> list[KeyInfo]:
    return KeyStore(store or Store()).list(user_id)


def revoke_key(key_id: str, store: Store | None = None) -> KeyInfo:
    return KeyStore(store or Store()).revoke(key_id)
