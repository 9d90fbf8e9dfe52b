"""Server-sent events for ``stream=true`` runs, in the Assistants v2 event vocabulary.

The run executes in the worker pool as usual; this generator watches the store and reports what
changed: ``thread.created`` (create-and-run only), ``thread.run.created``, ``thread.run.queued``,
``thread.run.in_progress``, ``thread.run.step.created`` / ``.completed`` (or failed/cancelled/expired),
``thread.message.created`` / ``.in_progress`` / ``.delta`` / ``.completed`` for the answer, then the
run's resting status (``thread.run.completed``, ``failed``, ``cancelled``, ``incomplete``, ``expired``
or ``requires_action``) and finally ``event: done`` with ``data: [DONE]``. Every status a run passes
through is reported even if it moved on before the watcher looked (the snapshot then carries the
status the event names). The answer arrives as one delta: qlwork stores the final answer whole.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Iterator

from ..assistant.objects import Thread
from .auth import ServerState
from .wire import message_out, run_out, step_out, thread_out

log = logging.getLogger("qlwork.server")

RESTING = ("completed", "failed", "cancelled", "incomplete", "expired", "requires_action")
ORDER = ("queued", "in_progress", "requires_action", "cancelling", "cancelled", "failed", "completed",
         "incomplete", "expired")
MAX_STREAM_SECONDS = 900.0


def sse(event: str, data: dict | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n"


def run_events(st: ServerState, run_id: str, thread: Thread | None = None, known_steps: dict | None = None,
               interval: float = 0.01) -> Iterator[str]:
    """Events for one run until it rests, then ``done``.

    ``known_steps`` ({step id: status} taken before submit_tool_outputs) marks a resumed run: only
    changes since that snapshot are reported."""
    try:
        yield from _watch(st, run_id, thread, known_steps, interval)
    except Exception as exc:  # report instead of cutting the stream short
        log.exception("stream of run %s failed", run_id)
        yield sse("error", {"error": {"message": f"Streaming failed: {type(exc).__name__}", "type": "server_error",
                                      "param": None, "code": "server_error"}})
    yield sse("done", "[DONE]")


def _watch(st: ServerState, run_id: str, thread: Thread | None, known_steps: dict | None,
           interval: float) -> Iterator[str]:
    store = st.store
    if thread is not None:
        yield sse("thread.created", thread_out(thread))
    run = store.get_run(run_id)
    steps: dict[str, str] = dict(known_steps or {})
    if known_steps is not None:
        emitted = {"queued"}
        yield sse("thread.run.queued", {**run_out(run), "status": "queued"})
    else:
        yield sse("thread.run.created", {**run_out(run), "status": "queued"})
        yield sse("thread.run.queued", {**run_out(run), "status": "queued"})
        emitted = {"queued"}
    deadline = time.monotonic() + MAX_STREAM_SECONDS
    while True:
        run = store.get_run(run_id)
        wire = run_out(run)
        if run.status != "queued" and "in_progress" not in emitted and run.status != "cancelled":
            emitted.add("in_progress")
            yield sse("thread.run.in_progress", {**wire, "status": "in_progress"})
        for step in store.list_steps(run_id, limit=100):
            out = step_out(step)
            if step.id not in steps:
                steps[step.id] = "in_progress"
                yield sse("thread.run.step.created", {**out, "status": "in_progress", "completed_at": None})
                yield sse("thread.run.step.in_progress", {**out, "status": "in_progress", "completed_at": None})
            if step.status != steps[step.id]:
                if step.type == "message_creation":
                    yield from _message_events(st, step.step_details.message_creation.message_id)
                steps[step.id] = step.status
                yield sse(f"thread.run.step.{step.status}", out)
        if run.status == "cancelling" and "cancelling" not in emitted:
            emitted.add("cancelling")
            yield sse("thread.run.cancelling", wire)
        if run.status in RESTING:
            yield sse(f"thread.run.{run.status}", wire)
            return
        if time.monotonic() > deadline:
            yield sse("error", {"error": {"message": f"Run {run_id} did not finish within {MAX_STREAM_SECONDS:.0f} s; "
                                          "keep polling runs.retrieve.", "type": "server_error", "param": None,
                                          "code": "stream_timeout"}})
            return
        st.engine.wait(run_id, interval) if st.engine.running(run_id) else time.sleep(interval)


def _message_events(st: ServerState, message_id: str) -> Iterator[str]:
    message = message_out(st.store.get_message(message_id))
    pending = {**message, "status": "in_progress", "content": [], "completed_at": None}
    yield sse("thread.message.created", pending)
    yield sse("thread.message.in_progress", pending)
    for index, part in enumerate(message["content"]):
        yield sse("thread.message.delta", {"id": message_id, "object": "thread.message.delta",
                                           "delta": {"role": message["role"],
                                                     "content": [{"index": index, **part}]}})
    yield sse("thread.message.completed", message)
