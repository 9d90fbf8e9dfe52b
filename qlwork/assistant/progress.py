"""Readable live progress of a run, for the widget and ``qlwork chat``: which tool is running and for
how long (from the run steps the runner stores as it goes), and the answer's text fields as they
complete while a model streams its JSON. Raw JSON is never shown.

:func:`tool_lines` turns stored run steps into lines; :func:`draft` reads the completed ``insights``
and recommendation reasons out of a partial TradingResponse; :class:`RunWatcher` polls the store of a
thread in a background thread and reports the tool lines whenever they change.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

_DECODER = json.JSONDecoder()
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _seconds(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def tool_lines(steps: Iterable[Any], now: float | None = None) -> list[str]:
    """One line per tool call of ``steps`` (RunStep objects or dicts), oldest first: "Running
    analyze_portfolio (1.2 s)", "analyze_portfolio done in 15 ms", "get_market_data failed: ...".
    ``now`` (epoch seconds) measures calls still running."""
    now = time.time() if now is None else now
    lines = []
    for step in steps:
        data = step.model_dump(mode="json") if hasattr(step, "model_dump") else dict(step)
        details = data.get("step_details") or {}
        if details.get("type") != "tool_calls":
            continue
        for call in details.get("tool_calls") or []:
            fn = call.get("function") or {}
            name = fn.get("name") or call.get("type") or "tool"
            if data.get("status") == "in_progress" and call.get("duration_ms") is None:
                lines.append(f"Running {name} ({_seconds(max(0.0, now - data.get('created_at', now)) * 1000)})")
            elif call.get("error"):
                message = (call["error"] or {}).get("message") or "error"
                lines.append(f"{name} failed: {message}")
            else:
                lines.append(f"{name} done in {_seconds(call.get('duration_ms') or 0.0)}")
    return lines


def looks_like_json(text: str) -> bool:
    """True when streamed text is (the start of) a JSON answer rather than prose."""
    head = text.lstrip()
    return head.startswith("{") or head.startswith("```")


def _strings_after(text: str, key: str) -> list[str]:
    """Complete JSON strings in the array that follows ``"key":`` in partial JSON ``text``."""
    match = re.search(rf'"{re.escape(key)}"\s*:\s*\[', text)
    if not match:
        return []
    out, pos = [], match.end()
    while True:
        rest = text[pos:].lstrip()
        start = len(text) - len(rest)
        if not rest.startswith('"'):
            return out
        found = _STRING.match(rest)
        if not found:  # the string is still arriving
            return out
        out.append(_DECODER.decode(found.group()))
        pos = start + found.end()
        rest = text[pos:].lstrip()
        if not rest.startswith(","):
            return out
        pos = len(text) - len(rest) + 1


def _recommendations(text: str) -> list[dict]:
    """Recommendations whose ``reason`` string is complete in partial JSON ``text``."""
    match = re.search(r'"recommendations"\s*:\s*\[', text)
    if not match:
        return []
    out = []
    for obj in re.finditer(r"\{[^{}]*\}", text[match.end():]):  # recommendation objects are flat
        fields = {}
        for key in ("action", "symbol", "reason"):
            found = re.search(rf'"{key}"\s*:\s*("(?:[^"\\]|\\.)*")', obj.group())
            if found:
                fields[key] = _DECODER.decode(found.group(1))
        if fields.get("reason"):
            out.append(fields)
    return out


def draft(stream: str) -> dict:
    """The text fields of a partial TradingResponse that are complete so far:
    ``{"insights": [...], "recommendations": [{"action", "symbol", "reason"}, ...]}``."""
    return {"insights": _strings_after(stream, "insights"), "recommendations": _recommendations(stream)}


def draft_lines(stream: str) -> list[str]:
    """:func:`draft` as readable lines (empty while nothing is complete); prose passes through."""
    if not stream.strip():
        return []
    if not looks_like_json(stream):
        return [stream]
    fields = draft(stream)
    lines = [f"- {text}" for text in fields["insights"]]
    for rec in fields["recommendations"]:
        head = " ".join(x for x in (str(rec.get("action", "")).upper(), rec.get("symbol") or "") if x)
        lines.append(f"- {head}: {rec['reason']}" if head else f"- {rec['reason']}")
    return lines


class RunWatcher:
    """Polls the active run of ``thread_id`` in ``store`` every ``interval`` seconds from a daemon thread
    and calls ``report(lines)`` with :func:`tool_lines` whenever they change (and each second while a
    tool runs, so its timer moves). :meth:`stop` ends it; it also ends by itself after ``limit`` seconds."""

    def __init__(self, store: Any, thread_id: str, report: Callable[[list[str]], None], interval: float = 0.25,
                 limit: float = 3600.0) -> None:
        self.store, self.thread_id, self.report = store, thread_id, report
        self.interval, self.limit = interval, limit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="qlwork-progress", daemon=True)
        self._last: list[str] = []
        self._started = time.time()

    def start(self) -> "RunWatcher":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling, then report once more from the run's final steps (a fast run may have ended
        before the first poll)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(2.0)
        try:
            runs = self.store.list_runs(self.thread_id, limit=1, order="desc")
            if runs and runs[0].created_at >= self._started - 1:
                lines = tool_lines(self.store.list_steps(runs[0].id))
                if lines != self._last:
                    self.report(lines)
        except Exception:  # noqa: BLE001 - progress is a courtesy
            pass

    def _loop(self) -> None:
        deadline = time.monotonic() + self.limit
        run_id = None
        while not self._stop.wait(self.interval) and time.monotonic() < deadline:
            try:
                if run_id is None:
                    run = self.store.active_run(self.thread_id)
                    run_id = run.id if run is not None else None
                if run_id is None:
                    continue
                lines = tool_lines(self.store.list_steps(run_id))
            except Exception:  # noqa: BLE001 - progress is a courtesy; the answer path reports errors
                continue
            if lines != self._last or any(line.startswith("Running ") for line in lines):
                self._last = lines
                self.report(lines)


class ConsoleProgress:
    """Progress for a terminal (``qlwork chat``): each tool call is printed once when it starts and
    once when it ends, and each text field of a streamed JSON answer once when it is complete."""

    def __init__(self, out: Callable[[str], None] = print) -> None:
        self.out = out
        self._shown: set[tuple[int, bool]] = set()
        self._stream = ""
        self._drafted = 0
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._shown, self._stream, self._drafted = set(), "", 0

    def tools(self, lines: list[str]) -> None:
        """A :class:`RunWatcher` report."""
        with self._lock:
            for i, line in enumerate(lines):
                running = line.startswith("Running ")
                if (i, running) not in self._shown:
                    self._shown.add((i, running))
                    self.out(f"  ... {line.split(' (')[0]}" if running else f"  ... {line}")

    def delta(self, fragment: str) -> None:
        """A streamed fragment of the answer (JSON answers only; prose is printed whole at the end)."""
        with self._lock:
            self._stream += str(fragment)
            if not looks_like_json(self._stream):
                return
            lines = draft_lines(self._stream)
            for line in lines[self._drafted:]:
                self.out(f"  {line}")
            self._drafted = max(self._drafted, len(lines))
