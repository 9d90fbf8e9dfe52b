"""Issue 32 item 6: a NUL byte in any text field answers 400 naming the field, on both stores.

In PostgreSQL mode a ``\\u0000`` in a message, thread metadata, assistant instructions or tool output
gave 500 on four routes (PostgreSQL text cannot hold it); SQLite stored it. Now every request body is
checked before anything is stored, so the answer is the same 400 on SQLite and PostgreSQL and nothing
is written.
"""

from __future__ import annotations

import httpx
import pytest

NUL = "bad\u0000text"


def _attack(served, key: str) -> None:
    h = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
    api = served.base_url
    thread = httpx.post(f"{api}/threads", json={}, headers=h, timeout=30).json()["id"]
    cases = [
        ("threads", "POST", "/threads", {"metadata": {"portfolio_id": NUL}}, "metadata"),
        ("message", "POST", f"/threads/{thread}/messages", {"role": "user", "content": NUL}, "content"),
        ("assistant", "POST", "/assistants", {"model": "offline-rules", "instructions": NUL}, "instructions"),
        ("thread_update", "POST", f"/threads/{thread}", {"metadata": {NUL: "x"}}, "metadata"),
        ("run", "POST", f"/threads/{thread}/runs", {"assistant_id": "asst_x", "additional_instructions": NUL},
         "additional_instructions"),
    ]
    for name, method, path, body, field in cases:
        r = httpx.request(method, api + path, json=body, headers=h, timeout=30)
        assert r.status_code == 400, (name, r.status_code, r.text)
        error = r.json()["error"]
        assert field in (error.get("param") or "") and "NUL" in error["message"], (name, error)
    messages = httpx.get(f"{api}/threads/{thread}/messages", headers=h, timeout=30).json()["data"]
    assert messages == []  # nothing was stored
    assert httpx.get(served.url + "/health", timeout=10).status_code == 200


def test_nul_bytes_sqlite(start_server):
    served = start_server()
    _attack(served, served.key("nul"))


def test_nul_bytes_postgresql(start_server, pg_cluster):
    from qlwork.assistant.store import Store
    from qlwork.server.keys import KeyStore

    url = pg_cluster.new_database()
    store = Store(url)
    try:
        key = KeyStore(store).create("nul")[1]
    finally:
        store.close()
    _attack(start_server({"QLWORK_DATABASE_URL": url}), key)
