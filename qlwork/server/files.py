"""/v1/files and /v1/vector_stores on top of :mod:`qlwork.tools.files` and :mod:`qlwork.tools.file_search`.

The file store keeps bytes and the FTS5 index; the server records which user owns each file and
vector store (``server_owners``), so another user's ids answer 404. A thread's ``portfolio_id`` may
name a sample (``sample:<name>``) or one of the user's uploaded files (``file_...``, a CSV of
holdings); it never names a server path.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from fastapi.responses import Response

from ..assistant.store import Store
from ..errors import InputError
from . import file_expiry
from .auth import ServerState, current_user, state
from .common import JSON, ListParams
from .errors import APIError, not_found
from .keys import KeyStore
from .schemas import ERRORS, DeletedOut, Id, ListOut, ToolResources, _Out, documented
from .wire import page


class FileAccess:
    """Ownership-checked access to the shared file store."""

    def __init__(self, store: Store) -> None:
        self.keys = KeyStore(store)
        self.store = store
        file_expiry.ensure_table(store)

    def sweep(self) -> None:
        """Delete the files past their ``expires_at`` (see :mod:`.file_expiry`)."""
        for file_id in file_expiry.expired(self.store):
            try:
                self.files.delete(file_id)
            except InputError:
                pass  # already gone from the file store
            self.keys.release("file", file_id)
            file_expiry.forget(self.store, file_id)

    def out(self, obj) -> dict:
        """The wire file object, with ``expires_at`` when the file expires."""
        when = file_expiry.expires_at(self.store, obj.id)
        return file_out(obj) | ({"expires_at": when} if when is not None else {})

    @property
    def files(self):
        from ..tools.files import file_store

        return file_store()

    def owned(self, user: str, file_id: str) -> bool:
        return self.keys.owns(user, "file", file_id)

    def path(self, user: str, file_id: str) -> str | None:
        if not self.owned(user, file_id):
            return None
        try:
            return str(self.files.path(file_id))
        except InputError:
            return None

    def get(self, user: str, file_id: str):
        self.sweep()
        if not self.owned(user, file_id):
            raise not_found("file", file_id)
        try:
            return self.files.get(file_id)
        except InputError:
            raise not_found("file", file_id) from None

    def vector_store(self, user: str, vs_id: str) -> dict:
        from ..tools.file_search import get_vector_store

        if not self.keys.owns(user, "vector_store", vs_id):
            raise not_found("vector store", vs_id)
        try:
            return get_vector_store(self.files, vs_id)
        except InputError:
            raise not_found("vector store", vs_id) from None

    def owned_page(self, user: str, kind: str, params: ListParams,
                   keep: Callable[[list[str]], set[str]] | None = None) -> tuple[list[str], bool]:
        """Ids of the user's objects of ``kind``, paginated by creation like every list.

        ``keep(ids)`` (optional) returns the ids of a batch that belong in the list: batches are read
        until the page is full, so a filtered page is as full as an unfiltered one."""
        conn = self.store.connection()
        clauses, args = ["kind = ?", "user_id = ?"], [kind, user]
        for cursor, later in ((params.after, True), (params.before, False)):
            if cursor is None:
                continue
            key = conn.execute("SELECT created_at, rowid FROM server_owners WHERE kind = ? AND object_id = ? "
                               "AND user_id = ?", (kind, cursor, user)).fetchone()
            if key is None:
                raise APIError(400, f"The cursor {cursor!r} is not an object of this list.", code="invalid_cursor",
                               param="after" if cursor == params.after else "before")
            clauses.append(f"(created_at, rowid) {'>' if later == (params.order == 'asc') else '<'} (?, ?)")
            args += [key[0], key[1]]
        reverse = params.before is not None and params.after is None
        direction = "ASC" if (params.order == "asc") != reverse else "DESC"
        op = ">" if direction == "ASC" else "<"
        ids: list[str] = []
        last = None
        while len(ids) <= params.limit:
            where = " AND ".join(clauses + ([f"(created_at, rowid) {op} (?, ?)"] if last else []))
            rows = conn.execute(f"SELECT object_id, created_at, rowid FROM server_owners WHERE {where} "
                                f"ORDER BY created_at {direction}, rowid {direction} LIMIT ?",
                                [*args, *(last or ()), params.limit + 1]).fetchall()
            batch = [r[0] for r in rows]
            kept = keep(batch) if keep is not None and batch else set(batch)
            ids += [i for i in batch if i in kept]
            if keep is None or len(rows) <= params.limit:
                break
            last = (rows[-1][1], rows[-1][2])
        ids = ids[:params.limit + 1]
        ids = ids[::-1] if reverse else ids
        if len(ids) <= params.limit:
            return ids, False
        return (ids[1:] if reverse else ids[:params.limit]), True


def file_access(store: Store) -> FileAccess:
    return FileAccess(store)


def portfolio_resolver(store: Store, known_symbols: Callable[[], set[str]] | None = None):
    """(thread metadata, user) -> the thread's portfolio for the tools, or None.

    Order: the latest holdings file attached to a message of the thread; else ``portfolio_id`` when
    qlwork can resolve it (``sample:<name>`` or one of the user's files); else None. A platform's own
    id (``"pf-789"``) is left alone in the metadata and simply not used."""
    from ..assistant.attachments import attached_portfolio

    files = FileAccess(store)

    def resolve(metadata: dict, user: str) -> Any:
        attached = attached_portfolio(metadata, known_symbols() if known_symbols else None)
        if attached is not None:
            return attached
        value = str((metadata or {}).get("portfolio_id") or "").strip()
        if value.lower().startswith("sample:"):
            return value
        if value.startswith("file_") and files.owned(user, value):
            return value  # the tools read the user's file by id (holdings CSV or JSON)
        return None

    return resolve


def check_tool_resources(st: ServerState, user: str, resources: ToolResources | None) -> None:
    """Vector stores and files named in tool_resources must be the user's (else 404)."""
    if resources is None:
        return
    files: FileAccess = st.extras["files"]
    search, interpreter = resources.file_search, resources.code_interpreter
    for vs_id in (search.vector_store_ids if search else None) or []:
        files.vector_store(user, vs_id)
    for spec in (search.vector_stores if search else None) or []:
        for file_id in spec.file_ids or []:
            files.get(user, file_id)
    for file_id in (interpreter.file_ids if interpreter else None) or []:
        files.get(user, file_id)


def stored_tool_resources(st: ServerState, user: str, resources: ToolResources | None) -> dict:
    """tool_resources as stored (after :func:`check_tool_resources`): each inline
    ``file_search.vector_stores`` entry becomes a new vector store of the user, listed in
    ``vector_store_ids`` (as OpenAI does)."""
    if resources is None:
        return {}
    out = resources.model_dump(exclude_none=True)
    search = out.get("file_search")
    if search is not None and search.pop("vector_stores", None) is not None:
        ids = search.setdefault("vector_store_ids", [])
        for spec in resources.file_search.vector_stores or []:
            ids.append(new_vector_store(st.extras["files"], user, None, spec.file_ids or []))
    return out


def merge_tool_resources(first: dict, second: dict) -> dict:
    """Stored tool_resources combined: the id lists of each tool joined (first's ids first, no repeats)."""
    out = {tool: {field: list(ids) for field, ids in fields.items()} for tool, fields in first.items()}
    for tool, fields in second.items():
        target = out.setdefault(tool, {})
        for field, ids in fields.items():
            target[field] = list(dict.fromkeys([*target.get(field, []), *ids]))
    return out


# -- wire shapes ---------------------------------------------------------------------------------

def file_out(obj) -> dict:
    return {"id": obj.id, "object": "file", "bytes": obj.bytes, "created_at": obj.created_at,
            "filename": obj.filename, "purpose": obj.purpose, "status": "processed"}


def vector_store_out(vs: dict) -> dict:
    counts = vs["file_counts"]
    return {"id": vs["id"], "object": "vector_store", "created_at": vs["created_at"], "name": vs["name"] or "",
            "usage_bytes": 0, "status": "completed", "expires_at": None,
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


# -- routes --------------------------------------------------------------------------------------

files_router = APIRouter(prefix="/v1/files", tags=["files"])
FileId = Path(description="A file id (file_...).")


UPLOAD_MARGIN = 64 * 1024  # multipart overhead allowed above the file limit (boundaries, headers, purpose)


def upload_limit() -> int:
    """The largest ``POST /v1/files`` body accepted: the file-store limit plus :data:`UPLOAD_MARGIN`."""
    from ..tools.files import DEFAULT_MAX_BYTES, max_file_bytes

    try:
        return max_file_bytes() + UPLOAD_MARGIN
    except InputError:  # a bad QLWORK_MAX_FILE_BYTES: the file store refuses to start anyway
        return DEFAULT_MAX_BYTES + UPLOAD_MARGIN


@files_router.post("", response_class=JSON, responses=documented(FileOut), summary="Upload a file")
def upload(file: UploadFile = File(...), purpose: str = Form("assistants"),
           anchor: str | None = Form(None, alias="expires_after[anchor]"),
           seconds: str | None = Form(None, alias="expires_after[seconds]"), user: str = Depends(current_user),
           st: ServerState = Depends(state)):
    fa: FileAccess = st.extras["files"]
    lifetime = file_expiry.expiry_seconds(anchor, seconds, purpose)  # checked before anything is stored
    data = file.file.read(fa.files.max_bytes + 1)
    from .quotas import check_upload

    check_upload(fa.files, fa.store, user, len(data))
    obj = fa.files.create(data, file.filename or "upload", purpose)
    fa.keys.claim("file", obj.id, user)
    if lifetime is not None:
        file_expiry.set_expiry(fa.store, obj.id, obj.created_at + lifetime)
    return JSON(fa.out(obj))


async def file_list_params(limit: int = Query(10_000, ge=1, le=10_000, description="Page size (1-10,000; OpenAI's "
                                              "default for files is 10,000)."),
                           order: Literal["asc", "desc"] = Query("desc", description="By created_at."),
                           after: Id | None = Query(None, description="Cursor: a file id; files after it."),
                           before: Id | None = Query(None, description="Cursor: a file id; files before it.")
                           ) -> ListParams:
    return ListParams(limit, order, after, before)


@files_router.get("", response_class=JSON, responses=documented(ListOut), summary="List files")
def list_files(params: ListParams = Depends(file_list_params), purpose: str | None = Query(None, max_length=64),
               user: str = Depends(current_user), st: ServerState = Depends(state)):
    fa: FileAccess = st.extras["files"]

    def with_purpose(ids: list[str]) -> set[str]:
        for i in ids if fa.files.shared is not None else ():  # fetch files uploaded on other hosts
            try:
                fa.files.get(i)
            except InputError:
                pass
        marks = ",".join("?" * len(ids))
        rows = fa.files.conn().execute(f"SELECT id FROM files WHERE purpose = ? AND id IN ({marks})",
                                       [purpose, *ids]).fetchall()
        return {r[0] for r in rows}

    fa.sweep()
    ids, more = fa.owned_page(user, "file", params, with_purpose if purpose is not None else None)
    return JSON(page((fa.out(fa.files.get(i)) for i in ids), more))


@files_router.get("/{file_id}", response_class=JSON, responses=documented(FileOut), summary="Retrieve a file")
def retrieve_file(file_id: Id = FileId, user: str = Depends(current_user), st: ServerState = Depends(state)):
    fa: FileAccess = st.extras["files"]
    return JSON(fa.out(fa.get(user, file_id)))


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
    file_expiry.forget(fa.store, file_id)
    return JSON({"id": file_id, "object": "file", "deleted": True})


def new_vector_store(fa: FileAccess, user: str, name: str | None, file_ids: list[str]) -> str:
    """Create a vector store of the user holding ``file_ids`` (checked to be the user's first)."""
    from ..tools.file_search import create_vector_store as create, delete_vector_store

    for file_id in file_ids:
        fa.get(user, file_id)
    vs = create(fa.files, name)
    fa.keys.claim("vector_store", vs["id"], user)
    try:
        for file_id in file_ids:
            add_to_store(fa, vs["id"], file_id)
    except BaseException:  # no half-made vector store left behind
        delete_vector_store(fa.files, vs["id"])
        fa.keys.release("vector_store", vs["id"])
        raise
    return vs["id"]


def add_to_store(fa: FileAccess, vs_id: str, file_id: str) -> None:
    """Index a file into a vector store; an unsearchable file is recorded as failed (not an error)."""
    from ..tools.file_search import add_file

    try:
        add_file(fa.files, vs_id, file_id)
    except InputError as exc:
        if exc.details.get("code") != "not_searchable":  # unsearchable files are recorded as failed
            raise


def routers() -> list[APIRouter]:
    return [files_router]  # /v1/vector_stores: routes_vector_stores
