"""Server-sent events for ``stream=true`` runs, in the Assistants v2 event vocabulary.

The run executes in the worker pool as usual; this generator watches the store and reports what
changed: ``thread.created`` (create-and-run only), ``thread.run.created``, ``thread.run.queued``,
``thread.run.in_progress``, ``thread.run.step.created`` / ``.completed`` (or failed/cancelled/expired),
``thread.message.created`` / ``.in_progress`` / ``.delta`` / ``.completed`` for the answer, then the
run's resting status (``thread.run.completed``, ``failed``, ``cancelled``, ``incomplete``, ``expired``
or ``requires_action``) and finally ``event: done`` with ``data: [DONE]``. Every status a run passes
through is reported even if it moved on before the watcher looked (the snapshot then carries the
status the event names). A tool_calls step starts empty; once its calls rest (ran, or wait for the
client) each call arrives as ``thread.run.step.delta`` events (the call, its arguments, its output), so
the SDK's ``on_tool_call_created`` / ``_delta`` / ``_done`` fire. A model backend that streams sends the answer token by token
(``thread.message.delta``) while it is written; otherwise the stored answer arrives as one delta.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Iterator

from ..assistant.model_turns import message_step_id
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
               interval: float = 0.01, include: list[str] | None = None) -> Iterator[str]:
    """Events for one run until it rests, then ``done``.

    ``known_steps`` ({step id: status} taken before submit_tool_outputs) marks a resumed run: only
    changes since that snapshot are reported."""
    try:
        yield from _watch(st, run_id, thread, known_steps, interval, include)
    except Exception as exc:  # report instead of cutting the stream short
        log.exception("stream of run %s failed", run_id)
        yield sse("error", {"error": {"message": f"Streaming failed: {type(exc).__name__}", "type": "server_error",
                                      "param": None, "code": "server_error"}})
    yield sse("done", "[DONE]")


def _watch(st: ServerState, run_id: str, thread: Thread | None, known_steps: dict | None,
           interval: float, include: list[str] | None) -> Iterator[str]:
    store = st.store
    if thread is not None:
        yield sse("thread.created", thread_out(thread))
    run = store.get_run(run_id)
    steps: dict[str, str] = dict(known_steps or {})
    created: set[str] = set()  # steps announced by this stream (deltas only make sense for those)
    text = _TextStream(run_id)
    if known_steps is None:
        yield sse("thread.run.created", {**run_out(run), "status": "queued"})
    yield sse("thread.run.queued", {**run_out(run), "status": "queued"})
    emitted = {"queued"}
    deadline = time.monotonic() + MAX_STREAM_SECONDS
    while True:
        run = store.get_run(run_id)
        wire = run_out(run)
        if run.status != "queued":  # steps and text are read after the run, so they never run ahead of it
            yield from _progress(st, run, wire, emitted, steps, created, text, include)
        if run.status == "cancelling" and "cancelling" not in emitted:
            emitted.add("cancelling")
            yield sse("thread.run.cancelling", wire)
        if run.status in RESTING:
            yield from text.abandon(run)
            yield sse(f"thread.run.{run.status}", wire)
            return
        if time.monotonic() > deadline:
            yield sse("error", {"error": {"message": f"Run {run_id} did not finish within {MAX_STREAM_SECONDS:.0f} s; "
                                          "keep polling runs.retrieve.", "type": "server_error", "param": None,
                                          "code": "stream_timeout"}})
            return
        st.engine.wait(run_id, interval) if st.engine.running(run_id) else time.sleep(interval)


def _progress(st: ServerState, run, wire: dict, emitted: set, steps: dict, created: set, text: "_TextStream",
              include: list[str] | None) -> Iterator[str]:
    """What changed since the last look at a run that has left ``queued``: its start, answer text, steps."""
    if "in_progress" not in emitted and run.status != "cancelled":
        emitted.add("in_progress")
        yield sse("thread.run.in_progress", {**wire, "status": "in_progress"})
    # OpenAI's order: tool steps (their calls and completion) first, then the answer's step before its
    # message events, the message, and the answer step's completion last
    stored = st.store.list_steps(run.id, limit=100)
    yield from _steps(st, run, [s for s in stored if s.type == "tool_calls"], steps, created, text, include)
    yield from text.more(st, run, steps)
    yield from _steps(st, run, [s for s in stored if s.type != "tool_calls"], steps, created, text, include)


def _steps(st: ServerState, run, stored: list, steps: dict, created: set, text: "_TextStream",
           include: list[str] | None) -> Iterator[str]:
    for step in stored:
        out = step_out(step, include)
        if step.id not in steps:
            steps[step.id] = "in_progress"
            created.add(step.id)
            yield from _step_started(out)
        if step.id in created and (step.status != "in_progress" or run.status == "requires_action"):
            created.discard(step.id)  # its calls rest (done, or waiting for the client): announce them
            yield from _call_deltas(out)
        if step.status != steps[step.id]:
            if step.type == "message_creation":
                yield from text.finish(st, step.step_details.message_creation.message_id)
            steps[step.id] = step.status
            yield sse(f"thread.run.step.{step.status}", out)


def _step_started(out: dict) -> Iterator[str]:
    """created / in_progress for a new step; a tool_calls step starts empty (its calls follow as deltas)."""
    pending = {**out, "status": "in_progress", "completed_at": None}
    if out["type"] == "tool_calls":
        pending["step_details"] = {"type": "tool_calls", "tool_calls": []}
    yield sse("thread.run.step.created", pending)
    yield sse("thread.run.step.in_progress", pending)


def _call_deltas(out: dict) -> Iterator[str]:
    """A tool_calls step's calls, one after the other as OpenAI streams them: the call (id, type, name),
    its arguments (or code), then its output when there is one. The SDK's on_tool_call_created,
    on_tool_call_delta and on_tool_call_done fire for each call in turn."""
    if out["type"] != "tool_calls":
        return
    step_id = out["id"]
    for i, call in enumerate(out["step_details"]["tool_calls"]):
        kind = call["type"]
        if kind == "function":
            fn = call["function"]
            yield _step_delta(step_id, {"index": i, "id": call["id"], "type": kind,
                                        "function": {"name": fn["name"], "arguments": "", "output": None}})
            yield _step_delta(step_id, {"index": i, "type": kind, "function": {"arguments": fn.get("arguments") or ""}})
            if fn.get("output") is not None:
                yield _step_delta(step_id, {"index": i, "type": kind, "function": {"output": fn["output"]}})
        elif kind == "code_interpreter":
            code = call["code_interpreter"]
            yield _step_delta(step_id, {"index": i, "id": call["id"], "type": kind,
                                        "code_interpreter": {"input": "", "outputs": []}})
            yield _step_delta(step_id, {"index": i, "type": kind, "code_interpreter": {"input": code["input"]}})
            if code["outputs"]:
                outputs = [{"index": j, **o} for j, o in enumerate(code["outputs"])]
                yield _step_delta(step_id, {"index": i, "type": kind, "code_interpreter": {"outputs": outputs}})
        else:
            yield _step_delta(step_id, {"index": i, "id": call["id"], "type": kind, "file_search": {}})
            yield _step_delta(step_id, {"index": i, "type": kind, "file_search": call["file_search"]})


def _step_delta(step_id: str, call: dict) -> str:
    return sse("thread.run.step.delta", {"id": step_id, "object": "thread.run.step.delta",
                                         "delta": {"step_details": {"type": "tool_calls", "tool_calls": [call]}}})


class _TextStream:
    """The answer's text as a streaming backend produces it (token deltas), then the stored message.

    The deltas are the model's raw text; ``thread.message.completed`` carries the stored answer (for the
    trading assistant the validated TradingResponse JSON, which may differ: a repaired answer follows
    the rejected one's deltas). A run that ends without an answer ends the message ``incomplete``."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.message: dict | None = None
        self.step: dict | None = None  # the answer's message_creation step, announced before its message
        self.sent = 0
        self.text: list[str] = []

    def more(self, st: ServerState, run, steps: dict) -> Iterator[str]:
        message_id, pieces = st.engine.text_deltas(self.run_id, self.sent)
        if not pieces or message_id is None:
            return
        step_id = message_step_id(message_id)
        if step_id not in steps:  # the step is stored with the answer; announce it now, under its id
            steps[step_id] = "in_progress"
            self.step = {"id": step_id, "object": "thread.run.step", "created_at": int(time.time()), "run_id": run.id,
                         "thread_id": run.thread_id, "assistant_id": run.assistant_id, "type": "message_creation",
                         "status": "in_progress", "step_details": {"type": "message_creation", "message_creation": {
                             "message_id": message_id}}, "last_error": None, "expired_at": None, "cancelled_at": None,
                         "completed_at": None, "failed_at": None, "metadata": {}, "usage": None}
            yield from _step_started(self.step)
        if self.message is None:
            self.message = {"id": message_id, "object": "thread.message", "created_at": int(time.time()),
                            "thread_id": run.thread_id, "role": "assistant", "status": "in_progress",
                            "completed_at": None, "incomplete_at": None, "incomplete_details": None, "content": [],
                            "attachments": [], "assistant_id": run.assistant_id, "run_id": run.id, "metadata": {}}
            yield sse("thread.message.created", self.message)
            yield sse("thread.message.in_progress", self.message)
        for piece in pieces:
            yield sse("thread.message.delta", {"id": message_id, "object": "thread.message.delta", "delta": {
                "role": "assistant", "content": [{"index": 0, "type": "text",
                                                  "text": {"value": piece, "annotations": []}}]}})
        self.sent += len(pieces)
        self.text += pieces

    def finish(self, st: ServerState, message_id: str) -> Iterator[str]:
        if self.message is not None and self.message["id"] == message_id:
            self.message = None
            yield sse("thread.message.completed", message_out(st.store.get_message(message_id)))
            return
        yield from self.abandon(None)
        yield from _message_events(st, message_id)

    def abandon(self, run) -> Iterator[str]:
        if self.message is None:
            return
        status = getattr(run, "status", "")
        reason = {"cancelled": "run_cancelled", "expired": "run_expired"}.get(status, "run_failed")
        yield sse("thread.message.incomplete", {**self.message, "status": "incomplete",
                                                 "incomplete_at": int(time.time()),
                                                 "incomplete_details": {"reason": reason},
                                                 "content": [{"type": "text", "text": {
                                                     "value": "".join(self.text), "annotations": []}}]})
        self.message = None
        if self.step is not None and run is not None:  # the announced answer step never got its message
            ended = status if status in ("cancelled", "expired") else "failed"
            yield sse(f"thread.run.step.{ended}", {**self.step, "status": ended, f"{ended}_at": int(time.time())})
            self.step = None


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
