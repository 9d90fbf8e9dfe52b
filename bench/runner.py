"""Runner overhead per run, excluding model and tool time (goal: <= 20 ms).

Each run: ScriptedBackend asks for one trivial tool call, then gives a final answer. Time spent
inside the backend and the tool is measured and subtracted; what is left is the runner and store
(the grounding check included: the tool returns the answer's figures, so no correction turn runs).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from qlwork.assistant.backends.base import FinalMessage, ModelInput, ToolCallRequest, ToolCalls
from qlwork.assistant.runner import Runner
from qlwork.assistant.store import Store
from qlwork.tools.registry import Registry, tool

RUNS = 50
GOAL_MS = 20.0
ANSWER = json.dumps({"analysis_type": "portfolio_health", "overall_score": 7.0, "risk_level": "moderate",
                     "recommendations": [{"action": "hold", "symbol": "TCS", "reason": "Fair value",
                                          "confidence": 0.6, "timeframe": "1 month"}],
                     "insights": ["Balanced"], "risk_metrics": {"beta": 0.9}})


class _TimedBackend:
    """One tool call, then the answer; accumulates its own time."""

    name, model = "bench", "bench"

    def __init__(self) -> None:
        self.seconds = 0.0

    def next_step(self, inp: ModelInput) -> ToolCalls | FinalMessage:
        start = time.perf_counter()
        step = (FinalMessage(ANSWER) if inp.run_items else
                ToolCalls([ToolCallRequest(f"call_{inp.turn}", "ping", '{"n": 1}')]))
        self.seconds += time.perf_counter() - start
        return step


def run() -> list[str]:
    registry = Registry()
    tool_seconds = [0.0]

    @tool(registry=registry)
    def ping(n: int) -> dict:
        """Return n."""
        start = time.perf_counter()
        out = {"n": n, "symbol": "TCS", "overall_score": 7.0, "confidence": 0.6, "beta": 0.9}  # the answer's figures
        tool_seconds[0] += time.perf_counter() - start
        return out

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        assistant = store.create_assistant(name="bench", tools=[{"type": "function",
                                                                 "function": registry.get("ping").function_schema()}])
        backend = _TimedBackend()
        runner = Runner(store, registry, backend)
        samples = []
        for i in range(RUNS + 5):
            thread = store.create_thread(user_id="bench", assistant_id=assistant.id)
            store.add_message(thread.id, "user", "Review my portfolio")
            backend.seconds = tool_seconds[0] = 0.0
            start = time.perf_counter()
            run = runner.create_and_run(thread.id)
            elapsed = time.perf_counter() - start - backend.seconds - tool_seconds[0]
            assert run.status == "completed" and run.grounding["status"] == "grounded", (run.status, run.grounding)
            if i >= 5:  # warm-up
                samples.append(elapsed * 1000)
        runner.close()
        store.close()
    median = statistics.median(samples)
    verdict = "ok" if median <= GOAL_MS else "over goal"
    return [f"runner overhead: {median:.2f} ms/run median over {RUNS} runs "
            f"(p90 {sorted(samples)[int(0.9 * len(samples))]:.2f} ms; goal <= {GOAL_MS:.0f} ms: {verdict})"]


if __name__ == "__main__":
    print("\n".join(run()))
