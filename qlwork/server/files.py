"""/v1/files and /v1/vector_stores on top of :mod:`qlwork.tools.files` and :mod:`qlwork.tools.file_search`.

The file store keeps bytes and the FTS5 index; the server records which user owns each file and
vector store (``server_owners``), so another user's ids answer 404. A thread's ``portfolio_id`` may
name a sample (``sample:<name>``) or one of the user's uploaded files (``file_...``, a CSV of
holdings); it never names a server path.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from fastapi.responses import Response
from pydantic import Field

from ..assistant.store import Store
from ..errors import InputError
from .auth import ServerState, current_user, state
from .common import JSON, ListParams, list_params
from .errors import APIError, not_found
from .keys import KeyStore
from .schemas import ERRORS, DeletedOut, Id, ListOut, _In, _Out, documented


class FileAccess:
    """Ownership-checked access to the shared file store."""

    def __init__(self, store: Store) -> None:
        self.keys = KeyStore(store)
        self.store = store

    @property
    def files(self):
        from ..tools.files import file_store

        return file_store()

    def owned(self, user: str, file_id: str) -> bool:
        return self.keys.owner("file", file_id) == user

    def path(self, user: str, file_id: str) -> str | None:
        if not self.owned(user, file_id):
            return None
        try:
            return str(self.files.path(file_id))
        except InputError:
            return None

    def get(self, user: str, file_id: str):
        if not self.owned(user, file_id):
            raise not_found("file", file_id)
        try:
            return self.files.get(file_id)
        except InputError:
            raise not_found("file", file_id) from None

    def vector_store(self, user: str, vs_id: str) -> dict:
        from ..tools.file_search import get_vector_store

        if self.keys.owner("vector_store", vs_id) != user:
            raise not_found("vector store", vs_id)
        try:
            return get_vector_store(self.files, vs_id)
        except InputError:
            raise not_found("vector store", vs_id) from None

    def owned_page(self, user: str, kind: str, params: ListParams) -> tuple[list[str], bool]:
        """Ids of the user's objects of ``kind``, paginated by creation like every list."""
        conn = self.store.connection()
        clauses, args = ["kind = ?", "user_id = ?"], [kind, user]
        for cursor, later in ((params.after, True), (params.before, False)):
            if cursor is None:
                continue
            key = conn.execute("SELECT created_at, rowid FROM server_owners WHERE kind = ? AND object_id = ? "
                               "AND user_id = ?", (kind, cursor, user)).fetchone()
            if key is None:
                raise APIError(400, f"The cursor {cursor!r} is not an object of this list.", code="invalid_cursor")
            clauses.append(f"(created_at, rowid) {'>' if later == (params.order == 'asc') else '<'} (?, ?)")
            args += [key[0], key[1]]
        reverse = params.before is not None and params.after is None
        direction = "ASC" if (params.order == "asc") != reverse else "DESC"
        rows = conn.execute(f"SELECT object_id FROM server_owners WHERE {' AND '.join(clauses)} "
                            f"ORDER BY created_at {direction}, rowid {direction} LIMIT ?",
                            [*args, params.limit + 1]).fetchall()
        ids = [r[0] for r in rows][::-1] if reverse else [r[0] for r in rows]
        if len(ids) <= params.limit:
            return ids, False
        return (ids[1:] if reverse else ids[:params.limit]), True


def file_access(store: Store) -> FileAccess:
    return FileAccess(store)


def portfolio_resolver(store: Store):
    files = FileAccess(store)

    def resolve(portfolio_id: str, user: str) -> Any:
        value = portfolio_id.strip()
        if value.lower().startswith("sample:"):
            return value
        if value.startswith("file_"):
            return files.path(user, value)
        return None

    return resolve


def check_tool_resources(st: ServerState, user: str, resources: dict | None) -> None:
    """Vector stores and files named in tool_resources must be the user's (else 404)."""
    files: FileAccess = st.extras["files"]
    for vs_id in ((resources or {}).get("file_search") or {}).get("vector_store_ids") or []:
        files.vector_store(user, str(vs_id))
    for file_id in ((resources or {}).get("code_interpreter") or {}).get("file_ids") or []:
        files.get(user, str(file_id))


# -- wire shapes ---------------------------------------------------------------------------------

def file_out(obj) -> dict:
    return {"id": obj.id, "object": "file", "bytes": obj.bytes, "created_at": obj.created_at,
            "filename": obj.filename, "purpose": obj.purpose, "status": "processed", "status_details": None,
            "expires_at": None}


def vector_store_out(vs: dict) -> dict:
    counts = vs["file_counts"]
    return {"id": vs["id"], "object": "vector_store", "created_at": vs["created_at"], "name": vs["name"],
            "usage_bytes": 0, "status": "completed", "expires_after": None, "expires_at": None,
            "last_active_at": vs["created_at"], "metadata": {},
            "file_counts": {"in_progress": 0, "completed": counts["completed"], "failed": counts["failed"],
                            "cancelled": 0, "total": counts["total"]}}


def vs_file_out(vs_id: str, f: dict, created_at: int) -> dict:
    error = {"code": "unsupported_file", "message": f["last_error"]} if f.get("last_error") else None
    return {"id": f["file_id"], "object": "vector_store.file", "created_at": created_at, "vector_store_id": vs_id,
            "status": f["status"], "last_error": error, "usage_bytes": 0}


class FileOut(_Out):
    id: str
    object: str
    bytes: int
    created_at: int
    filename: str
    purpose: str


class VectorStoreOut(_Out):
    id: str
    object: str
    created_at: int
    file_counts: dict


class VectorStoreCreate(_In):
    name: Annotated[str, Field(max_length=256)] | None = None
    file_ids: Annotated[list[Id], Field(max_length=100)] | None = None


class VectorStoreFileCreate(_In):
    file_id: Id


# -- routes --------------------------------------------------------------------------------------

files_router = APIRouter(prefix="/v1/files", tags=["files"])
vs_router = APIRouter(prefix="/v1/vector_stores", tags=["vector stores"])
FileId = Path(description="A file id (file_...).")
VsId = Path(description="A vector store id (vs_...).")


@files_router.post("", response_class=JSON, responses=documented(FileOut), summary="Upload a file")
def upload(file: UploadFile = File(...), purpose: str = Form("assistants"), user: str = Depends(current_user),
           st: ServerState = Depends(state)):
    fa: FileAccess = st.extras["files"]
    data = file.file.read(fa.files.max_bytes + 1)
    obj = fa.files.create(data, file.filename or "upload", purpose)
    fa.keys.claim("file", obj.id, user)
    return JSON(file_out(obj))


@files_router.get("", response_class=JSON, responses=documented(ListOut), summary="List files")
def list_files(params: ListParams = Depends(list_params), purpose: str | None = Query(None, max_length=64),
               user: str = Depends(current_user), st: ServerState = Depends(state)):
    fa: FileAccess = st.extras["files"]
    ids, more = fa.owned_page(user, "file", params)
    objs = [fa.files.get(i) for i in ids]
    return JSON({"object": "list", "data": [file_out(o) for o in objs if purpose in (None, o.purpose)],
                 "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None, "has_more": more})


@files_router.get("/{file_id}", response_class=JSON, responses=documented(FileOut), summary="Retrieve a file")
def retrieve_file(file_id: Id = FileId, user: str = Depends(current_user), st: ServerState = Depends(state)):
    return JSON(file_out(st.extras["files"].get(user, file_id)))


@files_router.get("/{file_id}/content", responses={200: {"content": {"application/octet-stream": {}}}, **ERRORS},
                  summary="Download a file's content")
def file_content(file_id: Id = FileId, user: str = Depends(current_user), st: ServerState = Depends(state)):
    fa: FileAccess = st.extras["files"]
    obj = fa.get(user, file_id)
    return Response(fa.files.content(obj.id), media_type="application/octet-stream")


@files_router.delete("/{file_id}", response_class=JSON, responses=documented(DeletedOut), summary="Delete a file")
def delete_file(file_id: Id = FileId, user: str = Depends(current_user), st: ServerState = Depends(state)):
    fa: FileAccess = st.extras["files"]
    fa.get(user, file_id)
    fa.files.delete(file_id)
    fa.keys.release("file", file_id)
    return JSON({"id": file_id, "object": "file", "deleted": True})


@vs_router.post("", response_class=JSON, responses=documented(VectorStoreOut), summary="Create a vector store")
def create_vector_store(body: VectorStoreCreate, user: str = Depends(current_user), st: ServerState = Depends(state)):
    from ..tools.file_search import create_vector_store as create

    fa: FileAccess = st.extras["files"]
    for file_id in body.file_ids or []:
        fa.get(user, file_id)
    vs = create(fa.files, body.name)
    fa.keys.claim("vector_store", vs["id"], user)
    for file_id in body.file_ids or []:
        _add(fa, vs["id"], file_id)
    return JSON(vector_store_out(fa.vector_store(user, vs["id"])))


def _add(fa: FileAccess, vs_id: str, file_id: str) -> None:
    from ..tools.file_search import add_file

    try:
        add_file(fa.files, vs_id, file_id)
    except InputError as exc:
        if exc.details.get("code") != "not_searchable":  # unsearchable files are recorded as failed
            raise


@vs_router.get("", response_class=JSON, responses=documented(ListOut), summary="List vector stores")
def list_vector_stores(params: ListParams = Depends(list_params), user: str = Depends(current_user),
                       st: ServerState = Depends(state)):
    fa: FileAccess = st.extras["files"]
    ids, more = fa.owned_page(user, "vector_store", params)
    return JSON({"object": "list", "data": [vector_store_out(fa.vector_store(user, i)) for i in ids],
                 "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None, "has_more": more})


@vs_router.get("/{vector_store_id}", response_class=JSON, responses=documented(VectorStoreOut),
               summary="Retrieve a vector store")
def retrieve_vector_store(vector_store_id: Id = VsId, user: str = Depends(current_user),
                          st: ServerState = Depends(state)):
    return JSON(vector_store_out(st.extras["files"].vector_store(user, vector_store_id)))


@vs_router.delete("/{vector_store_id}", response_class=JSON, responses=documented(DeletedOut),
                  summary="Delete a vector store")
def delete_vector_store(vector_store_id: Id = VsId, user: str = Depends(current_user),
                        st: ServerState = Depends(state)):
    fa: FileAccess = st.extras["files"]
    fa.vector_store(user, vector_store_id)
    with fa.files.lock, fa.files.conn() as c:
        c.execute("DELETE FROM vector_stores WHERE id = ?", (vector_store_id,))
    fa.keys.release("vector_store", vector_store_id)
    return JSON({"id": vector_store_id, "object": "vector_store.deleted", "deleted": True})


@vs_router.post("/{vector_store_id}/files", response_class=JSON, responses=documented(VectorStoreOut),
                summary="Add a file to a vector store")
def add_vector_store_file(body: VectorStoreFileCreate, vector_store_id: Id = VsId, user: str = Depends(current_user),
                          st: ServerState = Depends(state)):
    fa: FileAccess = st.extras["files"]
    vs = fa.vector_store(user, vector_store_id)
    obj = fa.get(user, body.file_id)
    _add(fa, vector_store_id, obj.id)
    entry = next(f for f in fa.vector_store(user, vector_store_id)["files"] if f["file_id"] == obj.id)
    return JSON(vs_file_out(vector_store_id, entry, vs["created_at"]))


@vs_router.get("/{vector_store_id}/files", response_class=JSON, responses=documented(ListOut),
               summary="List a vector store's files")
def list_vector_store_files(vector_store_id: Id = VsId, user: str = Depends(current_user),
                            st: ServerState = Depends(state)):
    vs = st.extras["files"].vector_store(user, vector_store_id)
    data = [vs_file_out(vector_store_id, f, vs["created_at"]) for f in vs["files"]]
    return JSON({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                 "last_id": data[-1]["id"] if data else None, "has_more": False})


def routers() -> list[APIRouter]:
    return [files_router, vs_router]
