"""Runs and run steps: create (optionally streamed), create thread and run, list, retrieve, modify,
cancel, submit_tool_outputs; steps list and retrieve."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import StreamingResponse

from ..assistant.objects import Assistant, Thread
from .auth import ServerState, current_user, state
from .common import JSON, ListParams, list_params, tools_in
from .errors import APIError
from .routes_threads import add_message, check_attachments, create_thread
from .schemas import (ERRORS, Id, ListOut, RunCreate, RunOut, RunStepOut, RunUpdate, SubmitToolOutputs,
                      ThreadAndRunCreate, documented)
from .streaming import run_events
from .wire import RUN_OPTION_DEFAULTS, RUN_OPTIONS, page, run_out, step_out

router = APIRouter(prefix="/v1/threads", tags=["runs"])
ThreadId = Path(description="A thread id (thread_...).")
RunId = Path(description="A run id (run_...).")
STREAMED = {200: {"model": RunOut, "content": {"text/event-stream": {}}}, **ERRORS}
WAITING = ("queued", "in_progress", "cancelling")


def _stream(st: ServerState, run_id: str, thread: Thread | None = None, known_steps: dict | None = None,
            include: list[str] | None = None):
    return StreamingResponse(run_events(st, run_id, thread, known_steps, include=include),
                             media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


def _run_json(st: ServerState, run) -> JSON:
    return JSON(run_out(run), headers={"openai-poll-after-ms": str(st.poll_after_ms)})


def start_run(st: ServerState, user: str, thread: Thread, body: RunCreate, assistant: Assistant | None = None):
    """Create and start a run from a request body (additional messages join its transaction);
    ``assistant``: the body's assistant, already checked for this user."""
    assistant = assistant or st.access.assistant(user, body.assistant_id)
    extra = body.additional_messages or []
    for m in extra:
        check_attachments(st, user, m)
    instructions = body.instructions if body.instructions is not None else assistant.instructions
    if body.additional_instructions:
        instructions = f"{instructions}\n\n{body.additional_instructions}" if instructions else body.additional_instructions

    def before() -> None:
        for m in extra:
            add_message(st, thread.id, m)

    metadata = dict(body.metadata or {})
    sent = body.model_dump(include=set(RUN_OPTION_DEFAULTS), exclude_unset=True, exclude_none=True)
    if sent:
        metadata[RUN_OPTIONS] = sent  # echoed on the run as sent (internal key, never on the wire)
    return st.engine.create_run(user, thread, assistant, before=before, instructions=instructions,
                                tools=tools_in(body.tools), max_turns=body.max_turns, metadata=metadata,
                                model=body.model)


@router.post("/runs", response_class=JSON, responses=STREAMED, summary="Create a thread and run it")
def create_thread_and_run(body: ThreadAndRunCreate, user: str = Depends(current_user),
                          st: ServerState = Depends(state)):
    assistant = st.access.assistant(user, body.assistant_id)  # check before creating anything
    thread = create_thread(st, user, body.thread, body.tool_resources)
    try:
        run = start_run(st, user, thread, body, assistant)
    except BaseException:
        st.store.delete_thread(thread.id)  # nothing half-made is left behind
        raise
    return _stream(st, run.id, thread) if body.stream else _run_json(st, run)


@router.post("/{thread_id}/runs", response_class=JSON, responses=STREAMED, summary="Create a run")
def create_run(body: RunCreate, thread_id: Id = ThreadId, user: str = Depends(current_user),
               st: ServerState = Depends(state), include: list[str] | None = Query(None, alias="include[]")):
    thread = st.access.thread(user, thread_id)
    run = start_run(st, user, thread, body)
    return _stream(st, run.id, include=include) if body.stream else _run_json(st, run)


@router.get("/{thread_id}/runs", response_class=JSON, responses=documented(ListOut), summary="List runs")
async def list_runs(thread_id: Id = ThreadId, params: ListParams = Depends(list_params), user: str = Depends(current_user),
              st: ServerState = Depends(state)):
    items, more = st.access.runs(user, thread_id, params.limit, params.order, params.after, params.before)
    return JSON(page((run_out(r) for r in items), more))


@router.get("/{thread_id}/runs/{run_id}", response_class=JSON, responses=documented(RunOut), summary="Retrieve a run")
async def retrieve_run(thread_id: Id = ThreadId, run_id: Id = RunId, user: str = Depends(current_user),
                 st: ServerState = Depends(state),
                 poll_helper: str | None = Header(None, alias="x-stainless-poll-helper", include_in_schema=False)):
    run = st.access.run(user, thread_id, run_id)
    if poll_helper == "true" and run.status in WAITING and st.poll_wait > 0:
        # the SDK's poll helpers call again until the run rests: answer when it does (bounded wait)
        await anyio.to_thread.run_sync(st.engine.wait, run_id, st.poll_wait)
        run = st.store.get_run(run_id)
    return _run_json(st, run)


@router.post("/{thread_id}/runs/{run_id}", response_class=JSON, responses=documented(RunOut), summary="Modify a run")
async def update_run(body: RunUpdate, thread_id: Id = ThreadId, run_id: Id = RunId, user: str = Depends(current_user),
               st: ServerState = Depends(state)):
    with st.store.transaction():
        run = st.access.run(user, thread_id, run_id)
        if body.metadata is not None:
            run = st.store.update_run(run_id, metadata={**run.metadata, **body.metadata})
    return JSON(run_out(run))


@router.post("/{thread_id}/runs/{run_id}/cancel", response_class=JSON, responses=documented(RunOut),
             summary="Cancel a run")
def cancel_run(thread_id: Id = ThreadId, run_id: Id = RunId, user: str = Depends(current_user),
               st: ServerState = Depends(state)):
    run = st.access.run(user, thread_id, run_id)
    return JSON(run_out(st.engine.cancel(user, run)))


@router.post("/{thread_id}/runs/{run_id}/submit_tool_outputs", response_class=JSON, responses=STREAMED,
             summary="Submit outputs of client-side function calls")
def submit_tool_outputs(body: SubmitToolOutputs, thread_id: Id = ThreadId, run_id: Id = RunId,
                        user: str = Depends(current_user), st: ServerState = Depends(state)):
    run = st.access.run(user, thread_id, run_id)
    known = {s.id: s.status for s in st.store.list_steps(run_id, limit=100)} if body.stream else None
    outputs = [o.model_dump() for o in body.tool_outputs]
    run = st.engine.submit_tool_outputs(user, run, outputs)
    return _stream(st, run.id, known_steps=known) if body.stream else _run_json(st, run)


@router.get("/{thread_id}/runs/{run_id}/steps", response_class=JSON, responses=documented(ListOut),
            summary="List run steps")
async def list_steps(thread_id: Id = ThreadId, run_id: Id = RunId, params: ListParams = Depends(list_params),
               user: str = Depends(current_user), st: ServerState = Depends(state),
               include: list[str] | None = Query(None, alias="include[]")):
    items, more = st.access.steps(user, thread_id, run_id, params.limit, params.order, params.after, params.before)
    return JSON(page((step_out(s, include) for s in items), more))


@router.get("/{thread_id}/runs/{run_id}/steps/{step_id}", response_class=JSON, responses=documented(RunStepOut),
            summary="Retrieve a run step")
async def retrieve_step(thread_id: Id = ThreadId, run_id: Id = RunId, step_id: Id = Path(description="A step id."),
                  user: str = Depends(current_user), st: ServerState = Depends(state),
                  include: list[str] | None = Query(None, alias="include[]")):
    return JSON(step_out(st.access.step(user, thread_id, run_id, step_id), include))


__all__ = ["router", "start_run", "APIError"]
