"""Issue 32 item 4: half-sent requests cannot hold the server's connections.

The attack: 3000 unauthenticated connections that send the start of a request and never finish its
headers were all held open for 30 s and more (uvicorn waits for ever for headers). Here 300 such
connections are opened against a real ``qlwork serve`` with a 1 s header deadline
(``QLWORK_HTTP_HEADER_TIMEOUT``); the server must close every one of them, answer a real client
meanwhile, and end with no more descriptors than it started with.
"""

from __future__ import annotations

import os
import select
import socket
import time

import httpx

HALF_OPEN = 300


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1024) == b""
    except (ConnectionResetError, BlockingIOError):
        return False


def test_half_sent_requests_are_closed_at_the_header_deadline(start_server):
    served = start_server({"QLWORK_HTTP_HEADER_TIMEOUT": "1"})
    before = _fds(served.proc.pid)
    socks = []
    try:
        for i in range(HALF_OPEN):
            s = socket.create_connection(("127.0.0.1", served.port), timeout=5)
            s.sendall(b"GET /v1/threads HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * (i % 7))  # never ends
            socks.append(s)
        assert httpx.get(served.url + "/health", timeout=10).status_code == 200  # real clients still served
        open_ = set(range(len(socks)))
        deadline = time.monotonic() + 30  # bounded wait for the server's 1 s deadline (not a speed assertion)
        while open_ and time.monotonic() < deadline:
            ready, _, _ = select.select([socks[i] for i in open_], [], [], 0.5)
            for s in ready:
                if _closed_by_server(s):
                    open_.discard(socks.index(s))
        assert not open_, f"{len(open_)} of {HALF_OPEN} half-sent requests still held open"
    finally:
        for s in socks:
            s.close()
    for _ in range(50):
        if _fds(served.proc.pid) <= before + 5:
            break
        time.sleep(0.1)
    assert _fds(served.proc.pid) <= before + 5
