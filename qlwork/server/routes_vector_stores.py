"""/v1/vector_stores: stores, their files (retrieve, delete, attributes, parsed content), file batches
and search, on top of :mod:`qlwork.tools.file_search` (SQLite FTS5).

Stores and their file lists are read from ``FileStore.objects``: the shared database when
``QLWORK_DATABASE_URL`` is set (so every server lists the same stores), else ``files.db``. Search and
a file's parsed content use this host's FTS5 index, filled on demand from the shared file bytes.

Files are indexed while the request runs, so a store, file or batch is ``completed`` (or ``failed``,
with the reason) when the response arrives; ``cancel`` on a batch therefore finds nothing left to
cancel and returns it as it is. What the Assistants API keeps beside a store (``metadata``,
``expires_after``, file ``attributes``, batches) lives in the server's own table ``server_extras``.
"""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query

from ..errors import InputError
from .auth import ServerState, current_user, state
from .common import JSON, ListParams, list_params
from .errors import APIError, not_found
from .files import FileAccess, new_vector_store, vector_store_out, vs_file_out, add_to_store
from .schemas import DeletedOut, Id, ListOut, documented
from .vector_stores import (AttributesUpdate, Extras, FileBatchCreate, FileBatchOut, PageOut, SearchRequest,
                            VectorStoreCreate, VectorStoreFileCreate, VectorStoreFileOut, VectorStoreOut,
                            VectorStoreUpdate, matches)
from .wire import page, unit_scores

router = APIRouter(prefix="/v1/vector_stores", tags=["vector stores"])
VsId = Path(description="A vector store id (vs_...).")
FileId = Path(description="A file id (file_...).")
BatchId = Path(description="A file batch id (vsfb_...).")
def _files(st: ServerState) -> FileAccess:
    return st.extras["files"]


def _store_out(st: ServerState, user: str, vs_id: str) -> dict:
    out = vector_store_out(_files(st).vector_store(user, vs_id))
    extra = Extras(st).get("vs", vs_id)
    out["metadata"] = extra.get("metadata") or {}
    if extra.get("name") is not None:
        out["name"] = extra["name"]
    if extra.get("expires_after"):
        out["expires_after"] = extra["expires_after"]
    return out


def _file_entry(st: ServerState, user: str, vs_id: str, file_id: str) -> dict:
    vs = _files(st).vector_store(user, vs_id)
    row = _files(st).files.objects.connection().execute(
        "SELECT file_id, status, last_error, created_at FROM vector_store_files WHERE vector_store_id = ? AND "
        "file_id = ?", (vs_id, file_id)).fetchone()
    if row is None:
        raise not_found("vector store file", file_id)
    return {**_entry(row), "vs_created": vs["created_at"]}


def _entry(row) -> dict:
    return {"file_id": row[0], "status": row[1], "last_error": row[2], "created_at": row[3]}


def _file_out(st: ServerState, vs_id: str, entry: dict) -> dict:
    out = vs_file_out(vs_id, entry, int(entry["created_at"]))
    out["attributes"] = Extras(st).get("vs_file", f"{vs_id}/{entry['file_id']}").get("attributes") or {}
    return out


def _add_file(st: ServerState, user: str, vs_id: str, file_id: str, attributes: dict | None) -> dict:
    obj = _files(st).get(user, file_id)
    add_to_store(_files(st), vs_id, obj.id)
    if attributes is not None:
        Extras(st).put("vs_file", f"{vs_id}/{obj.id}", {"attributes": attributes})
    return _file_entry(st, user, vs_id, obj.id)


# -- vector stores -----------------------------------------------------------------------------------

@router.post("", response_class=JSON, responses=documented(VectorStoreOut), summary="Create a vector store")
def create_vector_store(body: VectorStoreCreate, user: str = Depends(current_user), st: ServerState = Depends(state)):
    vs_id = new_vector_store(_files(st), user, body.name, body.file_ids or [])
    if body.metadata or body.expires_after:
        Extras(st).put("vs", vs_id, {"metadata": body.metadata or {},
                                     "expires_after": body.expires_after.model_dump() if body.expires_after else None})
    return JSON(_store_out(st, user, vs_id))


@router.get("", response_class=JSON, responses=documented(ListOut), summary="List vector stores")
def list_vector_stores(params: ListParams = Depends(list_params), user: str = Depends(current_user),
                       st: ServerState = Depends(state)):
    ids, more = _files(st).owned_page(user, "vector_store", params)
    return JSON(page((_store_out(st, user, i) for i in ids), more))


@router.get("/{vector_store_id}", response_class=JSON, responses=documented(VectorStoreOut),
            summary="Retrieve a vector store")
def retrieve_vector_store(vector_store_id: Id = VsId, user: str = Depends(current_user),
                          st: ServerState = Depends(state)):
    return JSON(_store_out(st, user, vector_store_id))


@router.post("/{vector_store_id}", response_class=JSON, responses=documented(VectorStoreOut),
             summary="Modify a vector store")
def modify_vector_store(body: VectorStoreUpdate, vector_store_id: Id = VsId, user: str = Depends(current_user),
                        st: ServerState = Depends(state)):
    _files(st).vector_store(user, vector_store_id)
    extras = Extras(st)
    current = extras.get("vs", vector_store_id)
    given = body.model_dump(exclude_unset=True)
    if "metadata" in given:
        current["metadata"] = body.metadata or {}
    if "expires_after" in given:
        current["expires_after"] = body.expires_after.model_dump() if body.expires_after else None
    if "name" in given and body.name is not None:
        current["name"] = body.name
    extras.put("vs", vector_store_id, current)
    return JSON(_store_out(st, user, vector_store_id))


@router.delete("/{vector_store_id}", response_class=JSON, responses=documented(DeletedOut),
               summary="Delete a vector store")
def delete_vector_store(vector_store_id: Id = VsId, user: str = Depends(current_user),
                        st: ServerState = Depends(state)):
    from ..tools.file_search import delete_vector_store as delete

    fa = _files(st)
    fa.vector_store(user, vector_store_id)
    delete(fa.files, vector_store_id)
    fa.keys.release("vector_store", vector_store_id)
    extras = Extras(st)
    for kind in ("vs", "vs_file"):
        extras.drop(kind, vector_store_id)
    return JSON({"id": vector_store_id, "object": "vector_store.deleted", "deleted": True})


# -- files of a vector store -------------------------------------------------------------------------

@router.post("/{vector_store_id}/files", response_class=JSON, responses=documented(VectorStoreFileOut),
             summary="Add a file to a vector store")
def add_vector_store_file(body: VectorStoreFileCreate, vector_store_id: Id = VsId, user: str = Depends(current_user),
                          st: ServerState = Depends(state)):
    _files(st).vector_store(user, vector_store_id)
    return JSON(_file_out(st, vector_store_id, _add_file(st, user, vector_store_id, body.file_id, body.attributes)))


@router.get("/{vector_store_id}/files", response_class=JSON, responses=documented(ListOut),
            summary="List a vector store's files")
def list_vector_store_files(vector_store_id: Id = VsId, params: ListParams = Depends(list_params),
                            filter: Literal["in_progress", "completed", "failed", "cancelled"] | None = Query(
                                None, description="Only files with this status."),
                            user: str = Depends(current_user), st: ServerState = Depends(state)):
    _files(st).vector_store(user, vector_store_id)
    return JSON(_file_page(st, vector_store_id, params, filter))


def _file_page(st: ServerState, vs_id: str, params: ListParams, status: str | None,
               only: list[str] | None = None) -> dict:
    """A page of a store's files by creation (``only``: restricted to these file ids, e.g. a batch's)."""
    conn = _files(st).files.objects.connection()
    clauses, args = ["vector_store_id = ?"], [vs_id]
    if status is not None:
        clauses.append("status = ?")
        args.append(status)
    if only is not None:
        clauses.append(f"file_id IN ({', '.join('?' * len(only))})" if only else "1 = 0")
        args += only
    for name, cursor, later in (("after", params.after, True), ("before", params.before, False)):
        if cursor is None:
            continue
        key = conn.execute("SELECT created_at, rowid FROM vector_store_files WHERE vector_store_id = ? AND file_id = ?",
                           (vs_id, cursor)).fetchone()
        if key is None:
            raise APIError(400, f"The {name} cursor {cursor!r} is not a file of this vector store.",
                           code="invalid_cursor", param=name)
        clauses.append(f"(created_at, rowid) {'>' if later == (params.order == 'asc') else '<'} (?, ?)")
        args += [key[0], key[1]]
    reverse = params.before is not None and params.after is None
    direction = "ASC" if (params.order == "asc") != reverse else "DESC"
    rows = conn.execute(f"SELECT file_id, status, last_error, created_at FROM vector_store_files WHERE "
                        f"{' AND '.join(clauses)} ORDER BY created_at {direction}, rowid {direction} LIMIT ?",
                        [*args, params.limit + 1]).fetchall()
    items = [_entry(r) for r in rows][::-1] if reverse else [_entry(r) for r in rows]
    more = len(items) > params.limit
    if more:
        items = items[1:] if reverse else items[:params.limit]
    return page((_file_out(st, vs_id, f) for f in items), more)


@router.get("/{vector_store_id}/files/{file_id}", response_class=JSON, responses=documented(VectorStoreFileOut),
            summary="Retrieve a vector store file")
def retrieve_vector_store_file(vector_store_id: Id = VsId, file_id: Id = FileId, user: str = Depends(current_user),
                               st: ServerState = Depends(state)):
    return JSON(_file_out(st, vector_store_id, _file_entry(st, user, vector_store_id, file_id)))


@router.post("/{vector_store_id}/files/{file_id}", response_class=JSON, responses=documented(VectorStoreFileOut),
             summary="Update a vector store file's attributes")
def update_vector_store_file(body: AttributesUpdate, vector_store_id: Id = VsId, file_id: Id = FileId,
                             user: str = Depends(current_user), st: ServerState = Depends(state)):
    entry = _file_entry(st, user, vector_store_id, file_id)
    Extras(st).put("vs_file", f"{vector_store_id}/{file_id}", {"attributes": body.attributes or {}})
    return JSON(_file_out(st, vector_store_id, entry))


@router.delete("/{vector_store_id}/files/{file_id}", response_class=JSON, responses=documented(DeletedOut),
               summary="Remove a file from a vector store (the file itself stays)")
def delete_vector_store_file(vector_store_id: Id = VsId, file_id: Id = FileId, user: str = Depends(current_user),
                             st: ServerState = Depends(state)):
    from ..tools.file_search import remove_file

    _file_entry(st, user, vector_store_id, file_id)
    remove_file(_files(st).files, vector_store_id, file_id)
    Extras(st).drop("vs_file", f"{vector_store_id}/{file_id}")
    return JSON({"id": file_id, "object": "vector_store.file.deleted", "deleted": True})


@router.get("/{vector_store_id}/files/{file_id}/content", response_class=JSON, responses=documented(PageOut),
            summary="The parsed text of a vector store file")
def vector_store_file_content(vector_store_id: Id = VsId, file_id: Id = FileId, user: str = Depends(current_user),
                              st: ServerState = Depends(state)):
    from ..tools.file_search import index_file

    entry = _file_entry(st, user, vector_store_id, file_id)
    fs = _files(st).files
    if entry["status"] == "completed":  # added through another server: index it on this host first
        try:
            index_file(fs, file_id)
        except InputError:
            raise not_found("vector store file", file_id) from None
    rows = fs.conn().execute("SELECT text FROM chunks WHERE file_id = ? ORDER BY CAST(page AS INTEGER), "
                             "CAST(chunk AS INTEGER)", (file_id,)).fetchall()
    return JSON({"object": "vector_store.file_content.page", "data": [{"type": "text", "text": r[0]} for r in rows],
                 "has_more": False, "next_page": None})


# -- file batches ------------------------------------------------------------------------------------

def _batch(st: ServerState, user: str, vs_id: str, batch_id: str) -> dict:
    _files(st).vector_store(user, vs_id)
    batch = Extras(st).get("batch", batch_id)
    if not batch or batch.get("vector_store_id") != vs_id:
        raise not_found("file batch", batch_id)
    return batch


def _batch_out(st: ServerState, batch_id: str, batch: dict) -> dict:
    ids = batch["file_ids"]
    conn = _files(st).files.objects.connection()
    rows = conn.execute(f"SELECT status FROM vector_store_files WHERE vector_store_id = ? AND file_id IN "
                        f"({', '.join('?' * len(ids))})", [batch["vector_store_id"], *ids]).fetchall() if ids else []
    statuses = [r[0] for r in rows]
    counts = {s: statuses.count(s) for s in ("in_progress", "completed", "failed", "cancelled")}
    return {"id": batch_id, "object": "vector_store.files_batch", "created_at": batch["created_at"],
            "vector_store_id": batch["vector_store_id"], "status": "completed",
            "file_counts": {**counts, "total": len(statuses)}}


@router.post("/{vector_store_id}/file_batches", response_class=JSON, responses=documented(FileBatchOut),
             summary="Add files to a vector store as a batch")
def create_file_batch(body: FileBatchCreate, vector_store_id: Id = VsId, user: str = Depends(current_user),
                      st: ServerState = Depends(state)):
    fa = _files(st)
    fa.vector_store(user, vector_store_id)
    for file_id in body.file_ids:  # all the user's, before anything is added
        fa.get(user, file_id)
    ids = list(dict.fromkeys(body.file_ids))
    for file_id in ids:
        _add_file(st, user, vector_store_id, file_id, body.attributes)
    from ..tools.files import new_id

    batch_id = new_id("vsfb")
    batch = {"vector_store_id": vector_store_id, "file_ids": ids, "created_at": int(time.time())}
    Extras(st).put("batch", batch_id, batch)
    return JSON(_batch_out(st, batch_id, batch))


@router.get("/{vector_store_id}/file_batches/{batch_id}", response_class=JSON, responses=documented(FileBatchOut),
            summary="Retrieve a file batch")
def retrieve_file_batch(vector_store_id: Id = VsId, batch_id: Id = BatchId, user: str = Depends(current_user),
                        st: ServerState = Depends(state)):
    return JSON(_batch_out(st, batch_id, _batch(st, user, vector_store_id, batch_id)))


@router.post("/{vector_store_id}/file_batches/{batch_id}/cancel", response_class=JSON,
             responses=documented(FileBatchOut), summary="Cancel a file batch (already finished: returned as is)")
def cancel_file_batch(vector_store_id: Id = VsId, batch_id: Id = BatchId, user: str = Depends(current_user),
                      st: ServerState = Depends(state)):
    return JSON(_batch_out(st, batch_id, _batch(st, user, vector_store_id, batch_id)))


@router.get("/{vector_store_id}/file_batches/{batch_id}/files", response_class=JSON, responses=documented(ListOut),
            summary="List the files of a batch")
def list_file_batch_files(vector_store_id: Id = VsId, batch_id: Id = BatchId, params: ListParams = Depends(list_params),
                          filter: Literal["in_progress", "completed", "failed", "cancelled"] | None = Query(
                              None, description="Only files with this status."),
                          user: str = Depends(current_user), st: ServerState = Depends(state)):
    batch = _batch(st, user, vector_store_id, batch_id)
    return JSON(_file_page(st, vector_store_id, params, filter, only=batch["file_ids"]))


# -- search ------------------------------------------------------------------------------------------

@router.post("/{vector_store_id}/search", response_class=JSON, responses=documented(PageOut),
             summary="Search a vector store")
def search_vector_store(body: SearchRequest, vector_store_id: Id = VsId, user: str = Depends(current_user),
                        st: ServerState = Depends(state)):
    from ..tools.file_search import search

    fa = _files(st)
    fa.vector_store(user, vector_store_id)
    queries = [body.query] if isinstance(body.query, str) else list(body.query)
    best: dict[tuple, dict] = {}
    for query in queries:
        if not query.strip():
            continue
        try:
            hits = search(fa.files, query, [vector_store_id], body.max_num_results)
        except InputError as exc:
            raise APIError(400, f"The query cannot be searched: {exc}", code="invalid_query", param="query") from None
        for hit in hits:
            key = (hit["file_id"], hit["page"], hit["chunk"])
            if key not in best or hit["score"] > best[key]["score"]:
                best[key] = hit
    hits = sorted(best.values(), key=lambda h: -h["score"])[:body.max_num_results]
    extras = Extras(st)
    data = [{"file_id": h["file_id"], "filename": h["filename"], "score": score,
             "attributes": extras.get("vs_file", f"{vector_store_id}/{h['file_id']}").get("attributes") or {},
             "content": [{"type": "text", "text": h["text"]}]}
            for h, score in zip(hits, unit_scores([h["score"] for h in hits]))]
    if body.filters:
        data = [d for d in data if matches(d["attributes"], body.filters)]
    return JSON({"object": "vector_store.search_results.page", "search_query": queries, "data": data,
                 "has_more": False, "next_page": None})
