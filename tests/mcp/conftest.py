"""Fixtures for the MCP tests: a QLWORK_HOME with two users' files, keys and weekly reports.

No __init__.py here on purpose: the tests are not a package, so this folder never shadows the SDK's `mcp`;
the helpers in mcp_harness.py import as a top-level module (this folder is put on sys.path).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from mcp_harness import (ASHA_HOLDINGS, ASHA_NOTE, ASHA_REVIEW, AS_OF, OLDER, RAVI_HOLDINGS,  # noqa: E402
                         WIDGET_HOLDINGS, World, write_manifest, write_report)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    """Two users: asha (an uploaded holdings CSV and a note via the server, a widget thread whose portfolio
    is an uploaded CSV, reports on two dates) and ravi (an uploaded CSV, a report without a notebook)."""
    from qlwork.assistant.store import Store
    from qlwork.server.keys import KeyStore
    from qlwork.tools.files import FileStore

    base = tmp_path_factory.mktemp("mcp")
    w = World(home=base / "home", reports=base / "reports")
    store = Store(w.home / "qlwork.db")
    keys = KeyStore(store)
    files = FileStore(w.home / "files")
    for user, name, text in (("asha", "asha_holdings.csv", ASHA_HOLDINGS), ("asha", "asha_desk_note.md", ASHA_NOTE),
                             ("ravi", "ravi_holdings.csv", RAVI_HOLDINGS)):
        obj = files.create(text.encode(), name)
        keys.claim("file", obj.id, user)  # what POST /v1/files records
        w.files[name] = obj.id
    widget = files.create(WIDGET_HOLDINGS.encode(), "widget_holdings.csv")  # the widget's upload button
    keys.claim("file", widget.id, "asha")  # what the widget's upload records (attachments.save_upload)
    store.create_thread({"portfolio_id": str(files.path(widget.id))}, user_id="asha")
    w.files["widget_holdings.csv"] = widget.id
    for user in ("asha", "ravi"):
        w.keys[user] = keys.create(user)[1]
    info, w.keys["revoked"] = keys.create("asha", name="old laptop")
    keys.revoke(info.id)
    store.close()
    older = w.reports / OLDER
    write_report(older, "asha", "<html><body>OLD-ASHA-REPORT</body></html>", {**ASHA_REVIEW, "marker": "OLD"})
    write_manifest(older, {"asha": {"user_id": "asha", "status": "ok"}})
    day = w.reports / AS_OF
    write_report(day, "asha", "<html><body><h1>Portfolio review asha</h1>ASHA-REPORT-4242</body></html>", ASHA_REVIEW)
    write_report(day, "ravi", "<html><body>RAVI-REPORT-5151</body></html>", None)
    write_manifest(day, {"asha": {"user_id": "asha", "status": "ok", "overall_score": 6.9, "note": "ASHA-ENTRY"},
                    "ravi": {"user_id": "ravi", "status": "failed", "error": "RAVI-ENTRY"}})
    return w


