"""Helpers for the MCP tests: the test world's layout, and `qlwork mcp` started as a subprocess (stdio) or
an HTTP server on a free 127.0.0.1 port with the mcp SDK's own client connected to it."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
AS_OF, OLDER = "2026-11-20", "2026-11-13"
ASHA_HOLDINGS = "tradingsymbol,exchange,quantity,average_price\nTCS,NSE,12,3100\nINFY,NSE,30,1450\nITC,NSE,200,410\n"
RAVI_HOLDINGS = "tradingsymbol,exchange,quantity,average_price\nRELIANCE,NSE,40,1300\nHDFCBANK,NSE,25,950\n"
WIDGET_HOLDINGS = "tradingsymbol,exchange,quantity,average_price\nSBIN,NSE,100,600\nLT,NSE,10,3200\n"
ASHA_NOTE = ("Asha's private desk note. The zephyrcanary thesis: overweight IT services into the March quarter "
             "because deal wins keep compounding. Review the zephyrcanary basket every Friday.")
ASHA_REVIEW = {"user_id": "asha", "status": "ok", "overall_score": 6.9, "risk_level": "moderate",
               "marker": "ASHA-REVIEW-7731"}


@dataclass
class World:
    home: Path
    reports: Path
    keys: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        """The subprocess environment: only what qlwork needs (the SDK's stdio client adds PATH, HOME)."""
        return {"PYTHONPATH": str(ROOT), "QLWORK_HOME": str(self.home), "LOGNAME": "analyst", **extra}


def write_report(day: Path, user: str, html: str, review: dict | None) -> None:
    from qlwork.reports.batch import NOTEBOOK_NAME
    from qlwork.reports.job import REVIEW_MIME

    folder = day / user
    folder.mkdir(parents=True)
    (folder / NOTEBOOK_NAME.replace(".ipynb", ".html")).write_text(html, encoding="utf-8")
    if review is not None:  # the executed notebook with the review output, as the batch writes it
        cell = {"cell_type": "code", "execution_count": 1, "metadata": {}, "source": "review.display()",
                "outputs": [{"output_type": "display_data", "metadata": {},
                             "data": {REVIEW_MIME: review, "text/plain": "review"}}]}
        nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        (folder / NOTEBOOK_NAME).write_text(json.dumps(nb), encoding="utf-8")


def write_manifest(day: Path, users: dict[str, dict]) -> None:
    (day / "manifest.json").write_text(json.dumps({"as_of": day.name, "qlwork_version": "0.1.0",
                                                   "generated_at": "2026-11-21T02:00:00+00:00",
                                                   "users": users}), encoding="utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mcp_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "qlwork.cli", "mcp", *args]


def stdio_params(world: World, *args: str, **env: str):
    from mcp import StdioServerParameters

    cmd = mcp_command(*args)
    return StdioServerParameters(command=cmd[0], args=cmd[1:], env=world.env(**env), cwd=str(world.home.parent))


@contextlib.contextmanager
def http_server(world: World, *args: str, **env: str):
    """`qlwork mcp --http` on a free port; yields its /mcp URL and stops it (bounded wait) afterwards."""
    port = free_port()
    proc = subprocess.Popen(mcp_command("--http", "--port", str(port), "--reports-dir", str(world.reports), *args),
                            env={**os.environ, **world.env(**env)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"qlwork mcp --http exited: {proc.stderr.read()}")
            try:
                httpx.post(url, json={}, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError("qlwork mcp --http did not start within 30 s") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def http_client(url: str, key: str | None):
    """The SDK's client on the streamable HTTP transport, sending ``key`` as the bearer token."""
    from mcp import Client
    import httpx2  # the SDK's HTTP client library
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0))
    return Client(streamable_http_client(url, http_client=http))


def payload(result) -> dict:
    """A tool result's structured content, checked against its JSON text content."""
    assert len(result.content) == 1 and result.content[0].type == "text"
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content
