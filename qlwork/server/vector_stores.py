"""Request and response shapes of /v1/vector_stores, the server's extras table (store metadata, file
attributes, batches), and the search helpers (scores scaled to 0-1, attribute filters)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Union

from pydantic import Field, StringConstraints

from .auth import ServerState
from .errors import APIError
from .schemas import Id, Key, _In, _Out, _WithMetadata

Attribute = Union[Annotated[str, StringConstraints(max_length=512)], float, bool]
Attributes = Annotated[dict[Key, Attribute], Field(max_length=16)]

_TABLE = """CREATE TABLE IF NOT EXISTS server_extras (kind TEXT NOT NULL, object_id TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (kind, object_id))"""


# -- request and response shapes ---------------------------------------------------------------------

class ExpiresAfter(_In):
    anchor: Literal["last_active_at"]
    days: Annotated[int, Field(ge=1, le=365)]


class VectorStoreCreate(_WithMetadata):
    name: Annotated[str, Field(max_length=256)] | None = None
    file_ids: Annotated[list[Id], Field(max_length=500)] | None = None
    expires_after: ExpiresAfter | None = None
    chunking_strategy: dict[str, Any] | None = None


class VectorStoreUpdate(_WithMetadata):
    name: Annotated[str, Field(max_length=256)] | None = None
    expires_after: ExpiresAfter | None = None


class VectorStoreFileCreate(_In):
    file_id: Id
    attributes: Attributes | None = None
    chunking_strategy: dict[str, Any] | None = None


class AttributesUpdate(_In):
    attributes: Attributes | None


class FileBatchCreate(_In):
    file_ids: Annotated[list[Id], Field(min_length=1, max_length=500)]
    attributes: Attributes | None = None
    chunking_strategy: dict[str, Any] | None = None


class SearchRequest(_In):
    query: Annotated[str, StringConstraints(max_length=4096)] | Annotated[
        list[Annotated[str, StringConstraints(max_length=4096)]], Field(min_length=1, max_length=16)]
    max_num_results: Annotated[int, Field(ge=1, le=50)] = 10
    filters: dict[str, Any] | None = None
    rewrite_query: bool | None = None
    ranking_options: dict[str, Any] | None = None


class VectorStoreOut(_Out):
    id: str
    object: Literal["vector_store"]
    created_at: int
    name: str
    file_counts: dict


class VectorStoreFileOut(_Out):
    id: str
    object: Literal["vector_store.file"]
    vector_store_id: str
    status: str


class FileBatchOut(_Out):
    id: str
    object: Literal["vector_store.files_batch"]
    vector_store_id: str
    status: str
    file_counts: dict


class PageOut(_Out):
    object: str
    data: list[dict[str, Any]]
    has_more: bool
    next_page: str | None = None


# -- the server's extras -----------------------------------------------------------------------------

class Extras:
    """JSON blobs kept per (kind, id) in the assistant store: ``vs`` (metadata, expires_after),
    ``vs_file`` (``<vs>/<file>``: attributes), ``batch`` (vector_store_id, file_ids, created_at)."""

    def __init__(self, st: ServerState) -> None:
        self.store = st.store
        if not st.extras.get("extras_ready"):
            with self.store.transaction() as conn:
                conn.execute(_TABLE)
            st.extras["extras_ready"] = True

    def get(self, kind: str, object_id: str) -> dict:
        row = self.store.connection().execute("SELECT data FROM server_extras WHERE kind = ? AND object_id = ?",
                                              (kind, object_id)).fetchone()
        return json.loads(row[0]) if row else {}

    def put(self, kind: str, object_id: str, data: dict) -> None:
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM server_extras WHERE kind = ? AND object_id = ?", (kind, object_id))  # upsert,
            conn.execute("INSERT INTO server_extras (kind, object_id, data) VALUES (?, ?, ?)",  # on any database
                         (kind, object_id, json.dumps(data)))

    def drop(self, kind: str, prefix: str) -> None:
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM server_extras WHERE kind = ? AND (object_id = ? OR object_id LIKE ?)",
                         (kind, prefix, prefix.replace("%", "") + "/%"))



def matches(attributes: dict, flt: dict) -> bool:
    """An attribute filter (comparison ``{type: eq|ne|gt|gte|lt|lte, key, value}`` or compound
    ``{type: and|or, filters}``) applied to a file's attributes."""
    kind = flt.get("type")
    if kind in ("and", "or"):
        results = [matches(attributes, f) for f in flt.get("filters") or [] if isinstance(f, dict)]
        return all(results) if kind == "and" else any(results)
    if kind not in ("eq", "ne", "gt", "gte", "lt", "lte") or "key" not in flt:
        raise APIError(400, f"Unknown filter {flt!r}.", code="invalid_filter", param="filters")
    value, target = attributes.get(str(flt["key"])), flt.get("value")
    if kind in ("eq", "ne"):
        return (value == target) == (kind == "eq")
    try:
        return {"gt": value > target, "gte": value >= target, "lt": value < target, "lte": value <= target}[kind]
    except TypeError:  # missing attribute or mixed types: no match
        return False
