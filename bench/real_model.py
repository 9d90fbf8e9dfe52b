"""qlwork against a real local model: llama-cpp-python's server with SmolLM2-135M-Instruct (the model
the real-model tests use; tests/servers/llama_server.py).

1. Overhead per model turn: the seed conversation on the openai-chat backend (no streaming). The
   time the HTTP exchange with the model server takes is measured at the transport (request sent ->
   whole reply read); qlwork's overhead is the rest of the run's wall time (building prompts, parsing,
   validating, grounding, storing; tool execution is reported apart), as a share of the turn. Goal <= 5%.
2. Prompt tokens per seed turn (llama.cpp's own count) with the full prompt (context_window 32000)
   and the compact prompt small-context models get (context_window 4096).
Skipped, saying why, without llama-cpp-python or the model (make local-model installs both).
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

SEED = ("Analyze my portfolio", "What about the technology sector?", "Generate a strategy for tech stocks")


def _server_module():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "servers"))
    import llama_server

    return llama_server


class _Clock:
    """Seconds spent in HTTP exchanges with the model server (summed over threads)."""

    def __init__(self) -> None:
        self.seconds, self.lock = 0.0, threading.Lock()

    def transport(self, http_lib):
        clock = self

        class Timed(http_lib.HTTPTransport):
            def handle_request(self, request):
                start = time.perf_counter()
                response = super().handle_request(request)
                response.read()
                with clock.lock:
                    clock.seconds += time.perf_counter() - start
                return response

        return Timed()


def _conversation(server, window: int) -> dict:
    import openai

    from qlwork.assistant.backends.base import get_backend
    from qlwork.assistant.backends.openai_base import http_lib
    from qlwork.assistant.session import Session
    from qlwork.assistant.store import Store
    from qlwork.market import get_provider

    clock = _Clock()
    client = openai.OpenAI(base_url=server.base_url, api_key="not-needed", max_retries=0, timeout=120,
                           http_client=http_lib.Client(transport=clock.transport(http_lib), timeout=120))
    backend = get_backend("openai-chat", model=server.model, base_url=server.base_url, client=client, stream=False,
                          context_window=window, max_output_tokens=256, max_retries=0, timeout=120, temperature=0.0)
    with tempfile.TemporaryDirectory(prefix="qlwork-bench-model-") as tmp:
        store = Store(Path(tmp) / "bench.db")
        session = Session("bench", backend=backend, store=store, market=get_provider("demo"),
                          portfolio="sample:diversified", new_thread=True)
        wall, tools_s, turns, prompt, statuses = 0.0, 0.0, 0, [], []
        for question in SEED:
            start = time.perf_counter()
            answer = session.ask(question)
            wall += time.perf_counter() - start
            steps = store.list_steps(answer.run.id)
            tools_s += sum((c.duration_ms or 0) for s in steps for c in s.tool_calls) / 1000
            turns += answer.run.turns
            prompt.append(answer.run.usage.prompt_tokens / max(1, answer.run.turns))
            statuses.append(answer.run.status)
        store.close()
    return {"wall": wall, "model": clock.seconds, "tools": tools_s, "turns": turns, "prompt": prompt,
            "statuses": statuses}


def run() -> list[str]:
    llama_server = _server_module()
    why = llama_server.missing()
    if why:
        return [f"== real model == skipped: {why}"]
    server = llama_server.LlamaServer(llama_server.gguf_path(), n_ctx=8192)
    try:
        full = _conversation(server, 32_000)
        compact = _conversation(server, 4_096)
    finally:
        server.close()
    lines = ["== real model (llama.cpp server, SmolLM2-135M-Instruct Q4_1, seed conversation, 2 threads) =="]
    for label, r in (("full prompt", full), ("compact prompt", compact)):
        overhead = r["wall"] - r["model"] - r["tools"]
        lines.append(f"{label:15s}: {r['turns']} model turns, run wall {r['wall']:.1f} s, model server {r['model']:.1f} s, "
                     f"tools {r['tools']:.2f} s, qlwork overhead {overhead * 1000 / max(1, r['turns']):.0f} ms per turn "
                     f"= {overhead / max(r['wall'], 1e-9):.1%} of the run (goal <= 5%); runs {', '.join(r['statuses'])}")
    lines.append("prompt tokens per model turn, seed questions 1-3: full " +
                 " / ".join(f"{p:,.0f}" for p in full["prompt"]) + "; compact " +
                 " / ".join(f"{p:,.0f}" for p in compact["prompt"]) +
                 f" ({sum(compact['prompt']) / max(1, sum(full['prompt'])):.0%} of full)")
    return lines
