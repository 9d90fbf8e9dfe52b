"""Issue 13 partial item: one request-body limit for every route, answered (413) before the body is read.

The attack: a 150 MB JSON body to /v1/threads (before the fix it was read whole: server peak 767 MB).
Now the server answers 413 naming QLWORK_MAX_BODY_BYTES from the Content-Length alone, refuses a chunked
body as soon as it passes the limit, and its memory does not grow.
"""

from __future__ import annotations

import select
import socket

import openai
import pytest

HUGE = 150 * 1024 * 1024


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def _complete(reply: bytes) -> bool:
    """Whether ``reply`` holds the whole head and as many body bytes as its Content-Length says
    (the head and body may arrive in separate packets)."""
    head, sep, body = reply.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return True


def _raw(served, head: str, pieces, timeout: float = 20.0) -> tuple[str, int]:
    """Send a request head, then body pieces until the server answers (or stops reading for
    ``timeout`` s); returns (the reply's start, body bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=timeout)
    sent, reply, pending = 0, b"", b""
    try:
        sock.sendall(head.encode())
        sock.setblocking(False)
        pieces = iter(pieces)
        while True:
            if not pending:
                pending = next(pieces, b"")
                if not pending:
                    break
            readable, writable, _ = select.select([sock], [sock], [], timeout)
            if readable or not writable:
                break
            try:
                n = sock.send(pending)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:  # the server answered and closed
                break
            sent += n
            pending = pending[n:]
        sock.settimeout(timeout)
        while not _complete(reply):
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            reply += data
        return reply.decode("latin-1"), sent
    finally:
        sock.close()


def test_json_body_over_the_limit_is_refused_before_reading(served):
    key = served.key("bodyuser")
    before = rss_kb(served.proc.pid)
    head = (f"POST /v1/threads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nOpenAI-Beta: assistants=v2\r\nContent-Length: {HUGE}\r\n\r\n")
    piece = b'{"metadata": {"x": "' + b"a" * 65_000
    reply, sent = _raw(served, head, (piece for _ in range(HUGE // len(piece))))
    print(f"Content-Length {HUGE:,}: answered after {sent:,} bytes sent")
    assert reply.startswith("HTTP/1.1 413"), reply[:300]
    assert "QLWORK_MAX_BODY_BYTES" in reply and "request_too_large" in reply
    assert sent < 32 * 1024 * 1024  # answered long before the 150 MB were sent

    # chunked (no Content-Length): refused once past the limit, without buffering the rest
    head = (f"POST /v1/threads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % 65_536 + b"b" * 65_536 + b"\r\n"
    reply, sent = _raw(served, head, (chunk for _ in range(HUGE // 65_536)))
    print(f"chunked: answered after {sent:,} bytes sent")
    assert reply.startswith("HTTP/1.1 413"), reply[:300]
    assert sent < 64 * 1024 * 1024
    grew = rss_kb(served.proc.pid) - before
    print(f"server RSS grew {grew:,} kB")
    assert grew < 50_000  # the server did not buffer the bodies
    assert served.healthy()


def test_sdk_gets_a_413_naming_the_limit_on_any_route(served):
    client = served.client("bodysdk")
    with pytest.raises(openai.APIStatusError) as caught:
        client.beta.threads.create(messages=[{"role": "user", "content": "x" * 5_000_000}])
    assert caught.value.status_code == 413 and caught.value.code == "request_too_large"
    assert "QLWORK_MAX_BODY_BYTES" in caught.value.message
    with pytest.raises(openai.APIStatusError) as caught:
        client.beta.assistants.create(model="gpt-4o", instructions="y" * 5_000_000)
    assert caught.value.status_code == 413
    assert client.beta.threads.create().id.startswith("thread_")  # normal requests still work
    assert served.healthy()
