"""code_interpreter call latency, cold (kernel start) and warm, under bubblewrap + libseccomp against the
weaker launcher it replaced (Landlock + own user/network namespace, ``QLWORK_SANDBOX_ALLOW_UNISOLATED``),
both measured in this run; goal: warm overhead at most 50 ms. Also one sandboxed PDF parse."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from qlwork.tools import code_interpreter as ci
from qlwork.tools import sandbox
from qlwork.tools.files import FileStore
from qlwork.tools.registry import ToolContext

GOAL_WARM_OVERHEAD_MS = 50.0
COLD, WARM = 3, 20


def _measure(tmp: Path, isolated: bool) -> tuple[list[float], list[float]]:
    previous = os.environ.get("PATH", "")
    if not isolated:  # the launcher then finds no bubblewrap and, with the override, runs without it
        os.environ["PATH"] = str(tmp)
        os.environ[sandbox.UNISOLATED_ENV] = "1"
    sandbox.bubblewrap_problem.cache_clear()
    pool = ci.KernelPool(sandbox.SandboxLimits(max_kernels=COLD + 1))
    store = FileStore(tmp / ("iso" if isolated else "weak"))
    try:
        def call(thread: str, code: str) -> float:
            ctx = ToolContext(thread_id=thread, extra={"file_store": store, "kernel_pool": pool})
            start = time.perf_counter()
            out = ci.code_interpreter.tool.invoke({"code": code}, ctx)
            assert out["status"] == "ok", out
            return (time.perf_counter() - start) * 1000

        cold = [call(f"cold{i}", "6 * 7") for i in range(COLD)]
        call("warm", "x = 1")
        warm = [call("warm", "x = x + 1\nx") for _ in range(WARM)]
        return cold, warm
    finally:
        pool.shutdown()
        os.environ["PATH"] = previous
        os.environ.pop(sandbox.UNISOLATED_ENV, None)
        sandbox.bubblewrap_problem.cache_clear()


def run() -> list[str]:
    problem = sandbox.bubblewrap_problem()
    if problem:
        return ["== sandbox ==", f"skipped: {problem}"]
    with tempfile.TemporaryDirectory() as tmp:
        weak_cold, weak_warm = _measure(Path(tmp), isolated=False)
        cold, warm = _measure(Path(tmp), isolated=True)
    over = statistics.median(warm) - statistics.median(weak_warm)
    return ["== sandbox ==",
            f"code_interpreter cold call (kernel start): bubblewrap median {statistics.median(cold):.0f} ms, "
            f"Landlock-only launcher {statistics.median(weak_cold):.0f} ms "
            f"(x{statistics.median(cold) / statistics.median(weak_cold):.2f})",
            f"code_interpreter warm call: bubblewrap median {statistics.median(warm):.1f} ms, Landlock-only "
            f"{statistics.median(weak_warm):.1f} ms: overhead {over:+.1f} ms (goal <= {GOAL_WARM_OVERHEAD_MS:.0f} ms)"]
