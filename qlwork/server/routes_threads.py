"""/v1/threads and their messages."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query

from ..assistant.attachments import (PORTFOLIO_FILE, holdings_attachment, latest_portfolio_attachment,
                                     record_portfolio_attachment)
from ..assistant.objects import Thread
from ..errors import QlworkError
from ..market.base import priceable_symbols
from .auth import ServerState, current_user, state
from .common import JSON, ListParams, list_params
from .errors import APIError
from .files import check_tool_resources, merge_tool_resources, stored_tool_resources
from .schemas import (DeletedOut, Id, ListOut, MessageCreate, MessageOut, MessageUpdate, ThreadCreate, ThreadOut,
                      ThreadUpdate, ToolResources, documented)
from .wire import TOOL_RESOURCES, content_in, deleted, message_out, page, thread_out

router = APIRouter(prefix="/v1/threads", tags=["threads"])
ThreadId = Path(description="A thread id (thread_...).")
MessageId = Path(description="A message id (msg_...).")


def create_thread(st: ServerState, user: str, body: ThreadCreate | None,
                  tool_resources: ToolResources | None = None) -> Thread:
    """Store a thread owned by ``user`` with the client's metadata exactly as given, plus its messages.
    ``tool_resources`` (createAndRun's top-level field) joins the thread's own.

    Call inside a transaction to make it atomic with what follows (e.g. a run)."""
    body = body or ThreadCreate()
    metadata = dict(body.metadata or {})
    check_tool_resources(st, user, body.tool_resources)
    check_tool_resources(st, user, tool_resources)
    messages = body.messages or []
    for m in messages:
        check_attachments(st, user, m)
    if body.tool_resources is not None or tool_resources is not None:
        metadata[TOOL_RESOURCES] = merge_tool_resources(stored_tool_resources(st, user, body.tool_resources),
                                                        stored_tool_resources(st, user, tool_resources))
    with st.store.transaction():
        thread = st.store.create_thread(metadata, user_id=user, stamp_user=False)  # the client's metadata as sent
        for m in messages:
            add_message(st, thread.id, m)
    return thread


def check_attachments(st: ServerState, user: str, body: MessageCreate) -> None:
    """Every attached or referenced file must be one of the user's files (else 404)."""
    files = st.extras.get("files")
    ids = [a.file_id for a in body.attachments or []]
    if not isinstance(body.content, str):
        ids += [p.image_file.file_id for p in body.content if p.type == "image_file"]
    for file_id in ids:
        if files is None or not files.owned(user, file_id):
            raise APIError(404, f"No file found with id '{file_id}'.", code="not_found", param="attachments")
    _holdings(st, body)  # a holdings file with bad rows is refused now, not at run time


def _holdings(st: ServerState, body: MessageCreate) -> str | None:
    """The attached holdings file (validated against the market's symbols), if any."""
    ids = [a.file_id for a in body.attachments or []]
    if not ids:
        return None
    try:
        return holdings_attachment(ids, priceable_symbols(st.engine.market))
    except QlworkError as exc:
        raise APIError(400, f"The attached holdings file is not a valid portfolio: {exc}", code="invalid_portfolio",
                       param="attachments") from None


def add_message(st: ServerState, thread_id: str, body: MessageCreate):
    """Store a message; an attached holdings file becomes the thread's portfolio from it on."""
    attachments = [{"file_id": a.file_id, "tools": [t.model_dump() for t in a.tools or []]}
                   for a in body.attachments or []]
    message = st.store.add_message(thread_id, body.role, content_in(body.content), attachments=attachments,
                                   metadata=dict(body.metadata or {}))
    portfolio = _holdings(st, body)
    if portfolio is not None:
        record_portfolio_attachment(st.store, thread_id, portfolio, message.id)
    return message


@router.post("", response_class=JSON, responses=documented(ThreadOut), summary="Create a thread")
def create(body: ThreadCreate | None = None, user: str = Depends(current_user), st: ServerState = Depends(state)):
    return JSON(thread_out(create_thread(st, user, body)))


@router.get("/{thread_id}", response_class=JSON, responses=documented(ThreadOut), summary="Retrieve a thread")
async def retrieve(thread_id: Id = ThreadId, user: str = Depends(current_user), st: ServerState = Depends(state)):
    return JSON(thread_out(st.access.thread(user, thread_id)))


@router.post("/{thread_id}", response_class=JSON, responses=documented(ThreadOut), summary="Modify a thread")
async def update(body: ThreadUpdate, thread_id: Id = ThreadId, user: str = Depends(current_user),
           st: ServerState = Depends(state)):
    with st.store.transaction():
        thread = st.access.thread(user, thread_id)
        changes: dict = {}
        if body.metadata is not None:
            changes.update(body.metadata)
        if body.tool_resources is not None:
            check_tool_resources(st, user, body.tool_resources)
            changes[TOOL_RESOURCES] = stored_tool_resources(st, user, body.tool_resources)
        if changes:
            thread = st.store.update_thread_metadata(thread_id, changes)
    return JSON(thread_out(thread))


@router.delete("/{thread_id}", response_class=JSON, responses=documented(DeletedOut), summary="Delete a thread")
async def delete(thread_id: Id = ThreadId, user: str = Depends(current_user), st: ServerState = Depends(state)):
    with st.store.transaction():
        st.access.thread(user, thread_id)
        _refuse_if_active(st, thread_id, "delete the thread")
        st.store.delete_thread(thread_id)
    return JSON(deleted("thread", thread_id))


def _refuse_if_active(st: ServerState, thread_id: str, what: str) -> None:
    active = st.store.active_run(thread_id)
    if active is not None:
        raise APIError(409, f"Can't {what} while run {active.id} is active ({active.status}); wait for it or "
                       "cancel it.", code="run_active")


@router.post("/{thread_id}/messages", response_class=JSON, responses=documented(MessageOut), summary="Create a message")
def create_message(body: MessageCreate, thread_id: Id = ThreadId, user: str = Depends(current_user),
                   st: ServerState = Depends(state)):
    st.access.thread(user, thread_id)
    check_attachments(st, user, body)
    with st.store.transaction():
        _refuse_if_active(st, thread_id, "add messages to the thread")
        message = add_message(st, thread_id, body)
    return JSON(message_out(message))


@router.get("/{thread_id}/messages", response_class=JSON, responses=documented(ListOut), summary="List messages")
async def list_messages(thread_id: Id = ThreadId, params: ListParams = Depends(list_params),
                  run_id: Id | None = Query(None, description="Only messages created by this run."),
                  user: str = Depends(current_user), st: ServerState = Depends(state)):
    items, more = st.access.messages(user, thread_id, params.limit, params.order, params.after, params.before,
                                     run_id=run_id)
    return JSON(page((message_out(m) for m in items), more))


@router.get("/{thread_id}/messages/{message_id}", response_class=JSON, responses=documented(MessageOut),
            summary="Retrieve a message")
async def retrieve_message(thread_id: Id = ThreadId, message_id: Id = MessageId, user: str = Depends(current_user),
                     st: ServerState = Depends(state)):
    return JSON(message_out(st.access.message(user, thread_id, message_id)))


@router.post("/{thread_id}/messages/{message_id}", response_class=JSON, responses=documented(MessageOut),
             summary="Modify a message's metadata")
async def update_message(body: MessageUpdate, thread_id: Id = ThreadId, message_id: Id = MessageId,
                   user: str = Depends(current_user), st: ServerState = Depends(state)):
    with st.store.transaction():
        message = st.access.message(user, thread_id, message_id)
        if body.metadata is not None:
            message = st.store.update_message(message_id, metadata={**message.metadata, **body.metadata})
    return JSON(message_out(message))


@router.delete("/{thread_id}/messages/{message_id}", response_class=JSON, responses=documented(DeletedOut),
               summary="Delete a message")
async def delete_message(thread_id: Id = ThreadId, message_id: Id = MessageId, user: str = Depends(current_user),
                         st: ServerState = Depends(state)):
    with st.store.transaction():
        thread = st.access.thread(user, thread_id)
        st.access.message(user, thread_id, message_id)
        _refuse_if_active(st, thread_id, "delete messages of the thread")
        st.store.delete_message(message_id)
        entry = (thread.metadata or {}).get(PORTFOLIO_FILE)
        if isinstance(entry, dict) and entry.get("message_id") == message_id:  # its portfolio goes with it
            record_portfolio_attachment(st.store, thread_id, *latest_portfolio_attachment(st.store, thread_id))
    return JSON(deleted("thread.message", message_id))
