"""`qlwork serve keys ...` and `qlwork serve` (subprocess): keys shown once, revocable; the exposure warning."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

from qlwork.cli import main
from qlwork.server.serve import exposure_warning, is_loopback


def test_keys_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path))
    assert main(["serve", "keys", "create", "--user", "erin"]) == 0
    out = capsys.readouterr().out
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("qlw-") and len(secret) > 40
    assert main(["serve", "keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert "erin" in listing and "active" in listing and secret not in listing
    key_id = listing.split()[listing.split().index("erin") - 1]
    assert main(["serve", "keys", "revoke", key_id]) == 0
    assert main(["serve", "keys", "list", "--user", "erin"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["serve", "keys", "revoke", "key_unknown"]) == 2
    assert main(["serve", "keys", "create", "--user", "bad user!"]) == 2


def test_exposure_warning():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert exposure_warning("127.0.0.1") is None
    assert "TLS" in exposure_warning("0.0.0.0")
    assert exposure_warning("0.0.0.0", tls=True) is None


def test_serve_subprocess(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "QLWORK_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "qlwork.cli", "serve", "--host", "0.0.0.0", "--port", str(port)],
                            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/threads/thread_x").status_code == 401
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()["info"]["title"] == "qlwork Assistants API"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "WARNING" in err and "TLS" in err
