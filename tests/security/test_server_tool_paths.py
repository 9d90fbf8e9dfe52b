"""Issue 13 item 4: a model (any API user's) cannot make the server read a path through a tool argument.

The attack: user "victim" uploads a holdings CSV; it lands in $QLWORK_HOME/files/<id>/<name>. The
attacker's model calls analyze_portfolio with that path, with the victim's file id, and with paths that
exist or do not. Every one must fail with the same refusal naming the field, the victim's rows must
never reach the attacker's model, and the attacker's own file id must keep working.
"""

from __future__ import annotations

import io
import json

import fake_model as fm

VICTIM_ROWS = b"tradingsymbol,quantity,average_price\nTCS,7,1234.5\nINFY,3,1500\n"
MINE = b"tradingsymbol,quantity,average_price\nRELIANCE,10,2400\n"
ANSWER = {"analysis_type": "portfolio_health", "overall_score": 5.0, "risk_level": "moderate",
          "recommendations": [], "insights": ["done"], "risk_metrics": {}}


def _tool_outputs(model) -> dict[str, str]:
    """call id -> the tool output the server sent back to the model."""
    out = {}
    for body in model.bodies("/chat/completions"):
        for m in body.get("messages", []):
            if m.get("role") == "tool":
                out[m["tool_call_id"]] = m["content"]
    return out


def test_tool_arguments_cannot_name_server_paths(served, fake_model):
    victim = served.client("victim")
    upload = victim.files.create(file=("victim_holdings.csv", io.BytesIO(VICTIM_ROWS)), purpose="assistants")
    stolen_path = served.home / "files" / upload.id / "victim_holdings.csv"
    assert stolen_path.is_file()  # the attack is real: the path exists on the server

    attacker = served.model_user("attacker", fake_model)
    mine = attacker.files.create(file=("mine.csv", io.BytesIO(MINE)), purpose="assistants")
    probes = {"call_abs": str(stolen_path), "call_rel": f"files/{upload.id}/victim_holdings.csv",
              "call_dots": f"../{served.home.name}/files/{upload.id}/victim_holdings.csv",
              "call_missing": str(served.home / "files" / "file_nope" / "x.csv"),
              "call_etc": "/etc/passwd", "call_db": str(served.home / "qlwork.db"),
              "call_their_id": upload.id, "call_unknown_id": "file_000000000000000000000000"}
    fake_model.add(fm.calls(*[("analyze_portfolio", {"portfolio": p}, cid) for cid, p in probes.items()],
                            ("analyze_portfolio", {"portfolio": mine.id}, "call_mine")),
                   fm.text(ANSWER))
    assistant = attacker.beta.assistants.create(model="fake-model")
    thread = attacker.beta.threads.create()
    attacker.beta.threads.messages.create(thread.id, role="user", content="Review the portfolio.")
    run = attacker.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                     poll_interval_ms=50, timeout=60)
    assert run.status == "completed", run.last_error

    outputs = _tool_outputs(fake_model)
    sent = json.dumps(fake_model.bodies())
    assert "1234.5" not in sent and '"TCS"' not in sent  # the victim's rows never reached the model
    errors = {cid: json.loads(outputs[cid])["error"] for cid in probes}
    path_errors = [errors[c] for c in ("call_abs", "call_rel", "call_dots", "call_missing", "call_etc", "call_db")]
    # one refusal for every path, existing or not: nothing can be probed
    assert all(e == path_errors[0] for e in path_errors), path_errors
    assert path_errors[0]["field"] == "portfolio" and "paths are not accepted" in path_errors[0]["message"]
    assert str(served.home) not in json.dumps(path_errors)
    # another user's file id answers exactly like an id that does not exist
    theirs = json.dumps(errors["call_their_id"]).replace(upload.id, "ID")
    assert theirs == json.dumps(errors["call_unknown_id"]).replace("file_000000000000000000000000", "ID")
    assert errors["call_their_id"]["field"] == "portfolio"
    # the caller's own file id works
    own = json.loads(outputs["call_mine"])
    assert "error" not in own and [h["symbol"] for h in own["holdings"]] == ["RELIANCE"]
    assert served.healthy()


def test_local_use_keeps_paths(tmp_path):
    """Single-user contexts (Session, widget, CLI) may still name a CSV path."""
    from qlwork.tools.context import load_holdings
    from qlwork.tools.registry import ToolContext

    path = tmp_path / "local.csv"
    path.write_bytes(MINE)
    assert load_holdings(ToolContext(), str(path)).symbols == ["RELIANCE"]
    locked = ToolContext(paths_allowed=False)
    assert load_holdings(locked, "sample:diversified").symbols
    try:
        load_holdings(locked, str(path))
    except Exception as exc:  # noqa: BLE001
        assert getattr(exc, "details", {}).get("field") == "portfolio"
    else:
        raise AssertionError("a path was accepted with paths_allowed=False")
