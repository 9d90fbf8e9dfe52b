"""``qlwork serve`` as a real subprocess on a free port of 127.0.0.1, for operations tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """``python -m qlwork.cli serve ARGS`` with QLWORK_HOME=home (plus ``env``), ready when ``/ready``
    answers 200 (60 s at most); its output goes to ``home/serve-<port>.log``."""

    def __init__(self, home: Path, *args: str, env: dict | None = None) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        full = {**os.environ, "QLWORK_HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})}
        self.log = open(home / f"serve-{self.port}.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "qlwork.cli", "serve", "--port", str(self.port), *args],
                                     env=full, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise RuntimeError(f"qlwork serve did not start: {Path(self.log.name).read_text()[-2000:]}")
            time.sleep(0.05)

    def client(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.base}/v1", api_key=key, max_retries=0, timeout=20)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
            self.log.close()
