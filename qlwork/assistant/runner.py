"""The run loop: drive a backend through tool calls to a validated TradingResponse.

queued -> in_progress -> [backend step -> tool calls (concurrent) -> run step]* -> final answer ->
validate (one repair turn) -> grounding check (one correction turn, see :mod:`.grounding`) ->
assistant message -> completed. Tool problems (unknown tool, invalid
JSON, schema violations, exceptions) go back to the model as tool outputs. Function tools declared
on the run but not in the registry, or marked ``_qlwork_client`` (declared by an API client), are
client-side: the run waits in ``requires_action`` until :meth:`Runner.submit_tool_outputs`. Each status change is persisted before the next action.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from ..errors import BackendError, InputError, ModelBehaviorError
from ..redaction import redact
from ..tools.files import thread_attachments
from ..tools.registry import REGISTRY, Registry, ToolContext
from . import advice, coverage, fallback, grounding, model_turns, run_controls
from .backends.base import Backend, FinalMessage, ModelInput, ToolCallRequest, ToolCalls, get_backend
from .history import DEFAULT_HISTORY_CHARS, trim_history
from .objects import (TERMINAL_STATUSES, Assistant, FunctionCall, Run, Thread, ToolCall, Usage, json_part, new_id, now,
                      text_part)
from .render import parse_json
from .response import ConversationContext, TradingResponse, parse_response, render_text, wants_trading_response
from .run_state import RunState
from .store import Store

BUILTIN_TOOL_TYPES = ("code_interpreter", "file_search")


class Runner:
    """Executes runs against a backend, tool registry and store."""

    def __init__(self, store: Store, registry: Registry = REGISTRY, backend: Backend | str = "offline",
                 context_factory: Callable[[Thread], ToolContext] | None = None, max_turns: int = 10,
                 max_workers: int = 4, history_chars: int = DEFAULT_HISTORY_CHARS,
                 on_delta: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.registry = registry
        self._backend = backend
        self.context_factory = context_factory
        self.max_turns = max_turns
        self.max_workers = max_workers
        self.history_chars = history_chars
        self.on_delta = on_delta
        # a host streaming answers per run (the server): fragments as (run id, text), and the answer's id
        self.on_run_delta: Callable[[str, str], None] | None = None
        self.message_id_for: Callable[[str], str | None] | None = None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def backend(self) -> Backend:
        if isinstance(self._backend, str):
            self._backend = get_backend(self._backend)
        return self._backend

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    # -- public API ----------------------------------------------------------------------------
    def create_run(self, thread_id: str, assistant_id: str | None = None, instructions: str | None = None,
                   tools: list[dict] | None = None, max_turns: int | None = None,
                   metadata: dict | None = None, *, assistant: Assistant | None = None,
                   columns: dict | None = None) -> Run:
        """A queued run on the thread (InputError ``run_active`` if one is already active).
        ``assistant``: the assistant already read (not read again); ``columns``: extra row columns
        (a server's lease)."""
        if assistant is None or (assistant_id is not None and assistant_id != assistant.id):
            if assistant_id is None:
                assistant_id = self.store.get_thread(thread_id).assistant_id
            if assistant_id is None:
                raise InputError(f"Thread {thread_id} has no assistant and none was given.",
                                 fix="Pass assistant_id.", code="missing_assistant")
            assistant = self.store.get_assistant(assistant_id)
        backend = self.backend
        return self.store.create_run(
            thread_id, assistant.id, model=backend.model, backend=backend.name,
            instructions=instructions if instructions is not None else assistant.instructions,
            tools=assistant.tools if tools is None else tools, max_turns=max_turns or self.max_turns,
            metadata=metadata, columns=columns)

    def create_and_run(self, thread_id: str, assistant_id: str | None = None,
                       instructions: str | None = None, **options: Any) -> Run:
        return self.execute(self.create_run(thread_id, assistant_id, instructions, **options).id)

    def execute(self, run_id: str, claim: Callable[[], bool] | None = None, *, thread: Thread | None = None,
                assistant: Assistant | None = None) -> Run | None:
        """Run a queued run to its next resting status (completed, failed, requires_action, ...).

        A run that already ended is returned as is; one being executed elsewhere is refused.
        ``claim`` (a server's lease check) is called first, in the transaction that starts the run;
        when it returns False nothing happens and the result is None. ``thread``, ``assistant``: the
        run's, just read by the caller (not read again).
        """
        with self.store.transaction():  # one write: claim, check and queued -> in_progress
            if claim is not None and not claim():
                return None
            run = self.store.get_run(run_id)
            if run.status in TERMINAL_STATUSES:
                return run
            if run.status != "queued":
                raise InputError(f"Run {run_id} is {run.status}; only a queued run can be executed.",
                                 code="run_not_queued")
            run = self.store.transition(run_id, "in_progress", current=run)
        known = (thread if thread is not None and thread.id == run.thread_id else None,
                 assistant if assistant is not None and assistant.id == run.assistant_id else None)
        return self._drive(run, *known)

    def cancel(self, run_id: str) -> Run:
        """Cancel a run: at once if nothing is executing it, else via ``cancelling``."""
        with self.store.transaction():
            run = self.store.get_run(run_id)
            if run.status in ("queued", "requires_action"):
                return self.store.finish_run(run_id, "cancelled")
            if run.status == "in_progress":
                return self.store.transition(run_id, "cancelling")
            if run.status == "cancelling":
                return run
        raise InputError(f"Run {run_id} already ended ({run.status}); nothing to cancel.", code="run_ended")

    def submit_tool_outputs(self, run_id: str, outputs: list[dict]) -> Run:
        """Answer a ``requires_action`` run's client-side calls (each exactly once) and resume it."""
        with self.store.transaction():
            run = self.store.get_run(run_id)
            if run.status != "requires_action" or not run.required_action:
                raise InputError(f"Run {run_id} is {run.status}, not waiting for tool outputs.",
                                 code="run_not_waiting")
            pending = [c["id"] for c in run.required_action["submit_tool_outputs"]["tool_calls"]]
            given = [o.get("tool_call_id") for o in outputs]
            missing = [i for i in pending if i not in given]
            unknown = [i for i in given if i not in pending]
            repeated = sorted({i for i in given if given.count(i) > 1})
            if missing or unknown or repeated:
                raise InputError(
                    f"Tool outputs for run {run_id} must answer each pending call exactly once "
                    f"(missing {missing}, unknown {unknown}, repeated {repeated}).",
                    fix=f"Submit one output for each of {pending}.", code="invalid_tool_outputs",
                    missing=missing, unknown=unknown, repeated=repeated)
            answers = {o["tool_call_id"]: o.get("output") for o in outputs}
            step = self.store.list_steps(run_id, order="desc", limit=1)[0]
            for call in step.tool_calls:
                if call.id in answers:
                    value = answers[call.id]
                    call.function.output = value if isinstance(value, str) else json.dumps(value, default=str)
            self.store.update_step(step.id, status="completed", step_details=step.step_details,
                                   completed_at=now())
            run = self.store.transition(run_id, "in_progress")
        return self._drive(run)

    # -- the loop ------------------------------------------------------------------------------
    def _drive(self, run: Run, thread: Thread | None = None, assistant: Assistant | None = None) -> Run:
        try:
            state = self._load_state(run, thread, assistant)
            return self._loop(state)
        except KeyboardInterrupt:
            self._finish(run.id, "cancelled")
            raise
        except InputError as exc:
            if exc.details.get("code") == "illegal_transition":  # cancelled or recovered meanwhile
                return self._stop_if_requested(run.id) or self.store.get_run(run.id)
            self._fail(run.id, "internal_error", f"{type(exc).__name__}: {exc}")
            raise
        except Exception as exc:
            self._fail(run.id, "internal_error", f"{type(exc).__name__}: {redact(str(exc))}")
            raise

    def _load_state(self, run: Run, thread: Thread | None = None, assistant: Assistant | None = None) -> RunState:
        store = self.store
        thread = thread or store.get_thread(run.thread_id)
        # a function entry marked "_qlwork_client" (declared by an API client, see qlwork.server.common)
        # is client-side even when a registry tool has its name; unmarked entries use the registry
        names = [(t.get("function") or {}).get("name") if t.get("type") == "function" else t.get("type")
                 for t in run.tools if not t.get("_qlwork_client")]
        tools = {n: self.registry.get(n) for n in names if n and n in self.registry}
        client = {t["function"]["name"]: t["function"] for t in run.tools
                  if t.get("type") == "function" and (t.get("_qlwork_client") or t["function"]["name"] not in tools)}
        context = self.context_factory(thread) if self.context_factory else ToolContext()
        context.thread_id = context.thread_id or thread.id
        context.user_id = context.user_id or thread.user_id
        history = store.list_messages(thread.id, order="desc", limit=200)[::-1]
        context.extra.setdefault("assistant_id", run.assistant_id)  # for code_interpreter / file_search
        context.extra.setdefault("attachments", thread_attachments(history))
        prior = [{"run_id": run_id, "name": c.function.name, "arguments": parse_json(c.function.arguments),
                  "output": parse_json(c.function.output)} for run_id, c in store.completed_tool_calls(thread.id)]
        state = RunState(run=run, assistant=assistant or store.get_assistant(run.assistant_id), thread=thread,
                          tools=tools, client_tools=client, context=context,
                          messages=trim_history(history, self.history_chars), prior_tool_outputs=prior,
                          usage=run.usage or Usage(), turn=run.turns)
        if run.turns:  # resuming after requires_action: replay this run's finished calls
            for step in store.list_steps(run.id):
                for c in step.tool_calls:
                    state.run_items.append((ToolCallRequest(c.id, c.function.name, c.function.arguments),
                                            c.function.output or "null"))
                    state.used(c.function.name)
        return state

    def _loop(self, state: RunState) -> Run:
        run_id = state.run.id
        while True:
            if stopped := self._stop_if_requested(run_id, state):
                return stopped
            if state.turn >= state.run.max_turns:
                return self._finish(run_id, "incomplete", state, incomplete_details={
                    "reason": "max_turns",
                    "message": f"No final answer after {state.turn} turns (max_turns={state.run.max_turns})."})
            state.turn += 1
            started = time.perf_counter()
            try:
                step = self.backend.next_step(self._model_input(state))
            except BackendError as exc:
                if stopped := self._stop_if_requested(run_id, state):  # cancelled while waiting
                    return stopped
                return self._fail(run_id, "backend_error", redact(str(exc)), state)
            except ModelBehaviorError as exc:
                return self._fail(run_id, "model_behavior", redact(str(exc)), state)
            state.usage = state.usage.plus(step.usage)
            state.model_turn = model_turns.record(self.backend, step, started, state.turn)
            if limit := run_controls.limit_hit(state.run, state.usage):  # a token budget of the run is spent
                return self._finish(run_id, "incomplete", state, incomplete_details=limit)
            if stopped := self._stop_if_requested(run_id, state):
                return stopped
            if isinstance(step, ToolCalls):
                waiting = self._tool_turn(state, step)
                if waiting is not None:
                    return waiting
            elif isinstance(step, FinalMessage):
                try:
                    response = parse_response(step.text)
                except ModelBehaviorError as exc:
                    if not wants_trading_response(state.assistant):  # any other assistant: its own text
                        return self._complete(state, None, step.text)
                    if state.repaired:  # the answer is composed from the tool outputs (assistant/fallback.py)
                        return self._complete(state, fallback.composed(self._model_input(state), step.text, exc))
                    state.repaired, state.repair, state.rejected = True, str(exc), step.text
                    if planned := fallback.planned_calls(self._model_input(state)):  # no tool called: run the plan
                        self._tool_turn(state, planned, {"source": "offline plan (the model called no tool)"})
                    continue
                if not (state.run_items or state.planned) and wants_trading_response(state.assistant) and (
                        planned := fallback.planned_calls(self._model_input(state))):
                    state.planned = True  # an answer without a tool call: run the offline plan, ask once more
                    self._tool_turn(state, planned, {"source": "offline plan (the model called no tool)"})
                    continue
                return self._complete(state, response)
            else:
                return self._fail(run_id, "model_behavior",
                                  f"Backend returned {type(step).__name__}, not ToolCalls or FinalMessage.", state)

    def _model_input(self, state: RunState) -> ModelInput:
        return fallback.shape(run_controls.apply(ModelInput(assistant=state.assistant, thread=state.thread, messages=state.messages,
                          run_items=list(state.run_items), prior_tool_outputs=state.prior_tool_outputs,
                          tools=list(state.tools.values()), repair=state.repair, turn=state.turn,
                          instructions=state.run.instructions, client_tools=list(state.client_tools.values()),
                          rejected=state.rejected, on_delta=self._delta_callback(state.run.id),
                          should_stop=lambda: self.store.run_status(state.run.id) != "in_progress"),
                                                 state.run, state.usage), self.backend)

    def _delta_callback(self, run_id: str) -> Callable[[str], None] | None:
        if self.on_run_delta is None:
            return self.on_delta
        per_run = self.on_run_delta
        return lambda text: per_run(run_id, text)

    def _tool_turn(self, state: RunState, step: ToolCalls, turn: dict | None = None) -> Run | None:
        """Record and run one batch of calls; returns the run if it now waits for client outputs."""
        requests, seen = [], set()
        for c in step.calls:
            call_id = c.id if c.id and c.id not in seen else new_id("call")
            seen.add(call_id)
            arguments = c.arguments if isinstance(c.arguments, str) else json.dumps(c.arguments)
            requests.append(ToolCallRequest(call_id, c.name or "", arguments))
        calls = [ToolCall(id=r.id, function=FunctionCall(name=r.name, arguments=r.arguments)) for r in requests]
        run = state.run
        record = self.store.add_step(run.id, "tool_calls", {"type": "tool_calls", "tool_calls": calls},
                                     thread_id=run.thread_id, assistant_id=run.assistant_id,
                                     **model_turns.step_fields(turn or state.model_turn))
        server = [(r, c) for r, c in zip(requests, calls) if r.name not in state.client_tools]
        for (request, call), (output, error, ms) in zip(server, self._run_calls(state, [r for r, _ in server])):
            call.function.output, call.error, call.duration_ms = output, error, ms
        for request in requests:
            state.used(request.name)
        pending = [c for r, c in zip(requests, calls) if r.name in state.client_tools]
        if pending:
            with self.store.transaction():
                self.store.update_step(record.id, current=record,
                                       step_details={"type": "tool_calls", "tool_calls": calls})
                return self.store.transition(run.id, "requires_action", usage=state.usage, turns=state.turn,
                                             required_action={"type": "submit_tool_outputs", "submit_tool_outputs": {
                                                 "tool_calls": [c.model_dump(include={"id", "type", "function"},
                                                                             exclude={"function": {"output"}})
                                                                for c in pending]}})
        self.store.update_step(record.id, current=record, status="completed", completed_at=now(),
                               step_details={"type": "tool_calls", "tool_calls": calls})
        state.run_items += [(r, c.function.output or "null") for r, c in zip(requests, calls)]
        return None

    def _run_calls(self, state: RunState, requests: list[ToolCallRequest]) -> list[tuple[str, dict | None, float]]:
        def run_one(request: ToolCallRequest) -> tuple[str, dict | None, float]:
            start = time.perf_counter()
            try:
                tool_ = state.tools.get(request.name)
                if tool_ is None:
                    error = InputError(
                        f"Unknown tool {request.name!r}. Available tools: {', '.join(sorted(state.tools)) or 'none'}.",
                        fix="Call one of the available tools.", code="unknown_tool", tool=request.name).to_dict()
                    return json.dumps({"error": error}), error, _ms(start)
                result = tool_.run(request.arguments, state.context)
                return result.output_json(), result.error, _ms(start)
            except Exception as exc:  # defensive: output not serialisable, etc.
                error = {"type": type(exc).__name__, "message": f"{request.name} failed: {exc}"}
                return json.dumps({"error": error}), error, _ms(start)

        if len(requests) <= 1:
            return [run_one(r) for r in requests]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="qlwork-tool")
        return list(self._pool.map(run_one, requests))

    def _complete(self, state: RunState, response: TradingResponse | None, text: str | None = None) -> Run:
        """Store the answer (a TradingResponse, or ``text`` as is for a non-trading assistant) and complete."""
        run = state.run
        message_id = (self.message_id_for(run.id) if self.message_id_for else None) or new_id("msg")
        record = None
        if response is None:  # a non-trading assistant's own text: no TradingResponse figures to trace
            content = [text_part(text or "")]
        else:
            try:
                policy, advice_policy = grounding.policy_for(state.assistant.metadata), advice.policy_for(
                    state.assistant.metadata)
            except InputError as exc:
                return self._fail(run.id, "invalid_setting", f"{exc} {exc.fix or ''}".strip(), state)
            outputs = [out for _, out in state.run_items] + [p.get("output") for p in state.prior_tool_outputs]
            result = grounding.check(response.model_dump(mode="json"), outputs)
            decision = grounding.decide(result, policy, state.corrected, state.turn < state.run.max_turns)
            if decision == "correct":  # one turn for the model to fix or remove what is not grounded
                state.corrected, state.repair = True, grounding.correction(result)
                state.rejected = response.model_dump_json(exclude={"conversation_context", "grounding"},
                                                          exclude_none=True)
                return self._loop(state)
            record = grounding.Grounding.of(result, policy, state.corrected)
            if decision == "reject":
                return self._finish(run.id, "failed", state, metadata=record.on(self.store.get_run(run.id)),
                                    last_error={"code": "ungrounded_answer",
                                                "message": grounding.failure_message(result)})
            response, checked = advice.apply(response, outputs, state.messages, advice_policy)  # assistant/advice.py
            if checked.findings and advice_policy == "reject":
                return self._finish(run.id, "failed", state, metadata=checked.on(record.on(self.store.get_run(run.id))),
                                    last_error={"code": "unsound_advice", "message": advice.failure_message(checked)})
            response.conversation_context = ConversationContext(thread_id=run.thread_id, message_id=message_id,
                                                                tools_used=list(state.tools_used))
            response.grounding, response.advice = record, checked
            cover = coverage.attach(response, state.messages, state.run_items, state.context)
            content = [json_part(response.model_dump(mode="json")), text_part(render_text(response))]
        message = self.store.new_message(run.thread_id, "assistant", content, run_id=run.id,
                                         assistant_id=run.assistant_id, id=message_id,
                                         metadata={**record.metadata(), **checked.metadata(), **cover.metadata()}
                                         if record else None)
        step = self.store.new_step(run.id, "message_creation",
                                   {"type": "message_creation", "message_creation": {"message_id": message_id}},
                                   status="completed", completed_at=now(), thread_id=run.thread_id,
                                   assistant_id=run.assistant_id, id=model_turns.message_step_id(message_id),
                                   **model_turns.step_fields(state.model_turn))
        with self.store.transaction():  # one write: the answer, its step and the run's completion
            self.store.insert(message, step)
            current = self.store.get_run(run.id)  # read under the write lock: its status and metadata are current
            fields = {"metadata": cover.on(checked.on(record.on(current)))} if record else {}
            return self.store.transition(run.id, "completed", current=current, usage=state.usage, turns=state.turn,
                                         **fields)

    # -- endings -------------------------------------------------------------------------------
    def _stop_if_requested(self, run_id: str, state: RunState | None = None) -> Run | None:
        status = self.store.run_status(run_id)
        if status == "in_progress":
            return None
        if status == "cancelling":
            return self._finish(run_id, "cancelled", state)
        return self.store.get_run(run_id)  # ended elsewhere (recovered, expired)

    def _finish(self, run_id: str, status: str, state: RunState | None = None, **fields: Any) -> Run:
        if state is not None:
            fields.update(usage=state.usage, turns=state.turn)
        try:
            return self.store.finish_run(run_id, status, **fields)
        except InputError as exc:
            if exc.details.get("code") != "illegal_transition":
                raise
            current = self.store.get_run(run_id)
            if current.status == "cancelling":
                return self.store.finish_run(run_id, "cancelled", **{k: v for k, v in fields.items()
                                                                      if k in ("usage", "turns")})
            return current

    def _fail(self, run_id: str, code: str, message: str, state: RunState | None = None) -> Run:
        return self._finish(run_id, "failed", state, last_error={"code": code, "message": message})


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


