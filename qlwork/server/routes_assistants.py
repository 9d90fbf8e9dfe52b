"""/v1/assistants: create, list, retrieve, update, delete (owned by the key's user)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path

from ..assistant.defaults import default_tools
from .auth import ServerState, current_user, state
from .files import check_tool_resources, stored_tool_resources
from .common import JSON, ListParams, list_params, tools_in
from .schemas import AssistantCreate, AssistantOut, AssistantUpdate, DeletedOut, Id, ListOut, documented
from .wire import TOOL_RESOURCES, assistant_out, deleted, page

router = APIRouter(prefix="/v1/assistants", tags=["assistants"])
AssistantId = Path(description="An assistant id (asst_...).")


def _fields(body: AssistantCreate, st: ServerState, user: str, creating: bool) -> dict:
    given = body.model_dump(exclude_unset=True)
    fields: dict = {}
    for name in ("name", "description", "instructions", "model"):
        if name in given:
            fields[name] = given[name]
    if "tools" in given:
        fields["tools"] = tools_in(body.tools) or []
    if "response_format" in given:
        fields["response_format"] = body.response_format
    if body.backend is not None:
        fields["backend"] = body.backend
    if creating:
        fields.setdefault("backend", st.engine.user_backend(user))
        fields.setdefault("tools", default_tools(st.engine.registry) if body.tools is None else [])
        if not fields.get("model"):
            fields["model"] = "offline-rules"
        fields.setdefault("response_format", "auto")  # OpenAI's default: answers in the model's own text
    return {k: v for k, v in fields.items() if v is not None or k in ("name", "description", "instructions")}


def _metadata(body: AssistantCreate, st: ServerState, user: str, current: dict | None = None) -> dict | None:
    """The metadata to store (None: unchanged); call after check_tool_resources."""
    given = body.model_dump(exclude_unset=True)
    if "metadata" not in given and "tool_resources" not in given:
        return None
    meta = dict(current or {})
    if "metadata" in given:
        meta = {k: v for k, v in meta.items() if str(k).startswith("_qlwork")} | dict(body.metadata or {})
    if "tool_resources" in given:
        meta[TOOL_RESOURCES] = stored_tool_resources(st, user, body.tool_resources)
    return meta


@router.post("", response_class=JSON, responses=documented(AssistantOut), summary="Create an assistant")
async def create_assistant(body: AssistantCreate, user: str = Depends(current_user), st: ServerState = Depends(state)):
    check_tool_resources(st, user, body.tool_resources)
    fields = _fields(body, st, user, creating=True)
    with st.store.transaction():
        assistant = st.store.create_assistant(**fields, metadata=_metadata(body, st, user) or {})
        st.keys.claim("assistant", assistant.id, user)
    return JSON(assistant_out(assistant))


@router.get("", response_class=JSON, responses=documented(ListOut), summary="List assistants")
async def list_assistants(params: ListParams = Depends(list_params), user: str = Depends(current_user),
                    st: ServerState = Depends(state)):
    items, more = st.access.assistants(user, params.limit, params.order, params.after, params.before)
    return JSON(page((assistant_out(a) for a in items), more))


@router.get("/{assistant_id}", response_class=JSON, responses=documented(AssistantOut), summary="Retrieve an assistant")
async def retrieve_assistant(assistant_id: Id = AssistantId, user: str = Depends(current_user),
                       st: ServerState = Depends(state)):
    return JSON(assistant_out(st.access.assistant(user, assistant_id)))


@router.post("/{assistant_id}", response_class=JSON, responses=documented(AssistantOut), summary="Modify an assistant")
async def update_assistant(body: AssistantUpdate, assistant_id: Id = AssistantId, user: str = Depends(current_user),
                     st: ServerState = Depends(state)):
    with st.store.transaction():
        current = st.access.assistant(user, assistant_id, write=True)
        check_tool_resources(st, user, body.tool_resources)
        fields = _fields(body, st, user, creating=False)
        meta = _metadata(body, st, user, current.metadata)
        if meta is not None:
            fields["metadata"] = meta
        assistant = st.store.update_assistant(assistant_id, **fields) if fields else current
    return JSON(assistant_out(assistant))


@router.delete("/{assistant_id}", response_class=JSON, responses=documented(DeletedOut), summary="Delete an assistant")
async def delete_assistant(assistant_id: Id = AssistantId, user: str = Depends(current_user),
                     st: ServerState = Depends(state)):
    with st.store.transaction():
        st.access.assistant(user, assistant_id, write=True)
        st.store.delete_assistant(assistant_id)
        st.keys.release("assistant", assistant_id)
    return JSON(deleted("assistant", assistant_id))
