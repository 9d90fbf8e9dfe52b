"""Cost of the grounding check per answer (goal: under 5 ms for a typical answer).

A typical answer: the offline engine's portfolio review of ``sample:diversified`` (score, risk
metrics, recommendations, insights) checked against its two tool outputs plus a thread's earlier
outputs (a sector and a strategy question), the way the runner checks it on every completed run.
Also timed: a long answer (every insight repeated 5 times) against the same outputs.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from qlwork.assistant.grounding import check
from qlwork.assistant.session import Session
from qlwork.assistant.store import Store
from qlwork.market import get_provider

REPEATS = 200
GOAL_MS = 5.0


def _case() -> tuple[dict, list]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        session = Session("bench", store=store, market=get_provider("demo"), portfolio="sample:diversified",
                          new_thread=True)
        for question in ("What about the technology sector?", "Generate a strategy for tech stocks",
                         "Analyze my portfolio"):
            answer = session.ask(question)
        outputs = [c.function.output for _, c in store.completed_tool_calls(session.thread_id)]
        data = answer.message.data
        store.close()
    return data, outputs


def _median_ms(answer: dict, outputs: list) -> tuple[float, float, int]:
    """Median wall time, mean CPU time (ms) and the number of figures checked."""
    samples = []
    cpu = time.process_time()
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = check(answer, outputs)
        samples.append((time.perf_counter() - start) * 1000)
    cpu_ms = (time.process_time() - cpu) * 1000 / REPEATS
    assert not result.untraceable, result.untraceable
    return statistics.median(samples), cpu_ms, result.checked


def run() -> list[str]:
    answer, outputs = _case()
    size = sum(len(o) for o in outputs)
    typical, cpu, figures = _median_ms(answer, outputs)
    long_answer = {**answer, "insights": list(answer["insights"]) * 5}
    longer, _, long_figures = _median_ms(long_answer, outputs)
    verdict = "ok" if typical < GOAL_MS else "over goal"
    return [f"grounding check: {typical:.2f} ms/answer median over {REPEATS} (CPU {cpu:.2f} ms; {figures} figures "
            f"against {len(outputs)} tool outputs, {size / 1024:.0f} KiB; goal < {GOAL_MS:.0f} ms: {verdict}); "
            f"long answer ({long_figures} figures): {longer:.2f} ms"]


if __name__ == "__main__":
    print("\n".join(run()))
