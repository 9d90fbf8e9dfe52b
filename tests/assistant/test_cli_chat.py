"""``qlwork chat`` and ``qlwork threads recover``: in process, and a conversation across two processes."""

import io
import os
import re
import subprocess
import sys

import qlwork
from qlwork.cli import commands as cli
from qlwork.assistant.backends.base import ToolCalls
from qlwork.assistant.backends.scripted import ScriptedBackend, call
from qlwork.assistant.session import Session
from qlwork.assistant.store import Store


def chat(monkeypatch, capsys, argv, lines):
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(f"{line}\n" for line in lines)))
    assert cli.main(["chat", *argv]) == 0
    return capsys.readouterr().out


def thread_metadata(thread_id):
    store = Store()
    try:
        return store.get_thread(thread_id).metadata
    finally:
        store.close()


def test_reopening_a_thread_keeps_its_portfolio(monkeypatch, capsys):
    out = chat(monkeypatch, capsys, ["--user", "bob", "--new", "--portfolio", "sample:it_heavy"], ["exit"])
    tid = re.search(r"thread (thread_\w+)", out).group(1)
    assert "portfolio sample:it_heavy" in out
    for argv in (["--user", "bob", "--thread", tid], ["--user", "bob"]):
        out = chat(monkeypatch, capsys, argv, ["exit"])
        assert tid in out and "portfolio sample:it_heavy" in out
        assert thread_metadata(tid)["portfolio_id"] == "sample:it_heavy", argv
    chat(monkeypatch, capsys, ["--user", "bob", "--portfolio", "sample:near_cash"], [])  # explicit: changes it
    assert thread_metadata(tid)["portfolio_id"] == "sample:near_cash"
    out = chat(monkeypatch, capsys, ["--user", "bob", "--new"], ["exit"])  # a new thread: the default
    assert "portfolio sample:diversified" in out


def test_an_incomplete_run_prints_why(monkeypatch, capsys, tools):
    def open_session(user_id, **kw):
        loop = [lambda inp: ToolCalls([call("add", {"a": 1})])] * 3
        return Session(user_id, backend=ScriptedBackend(loop), registry=tools.registry, market=object(),
                       max_turns=2, **{k: v for k, v in kw.items() if k in ("portfolio", "thread_id", "new_thread")})

    monkeypatch.setattr(qlwork, "open_session", open_session)
    out = chat(monkeypatch, capsys, ["--user", "eve", "--new", "--steps"], ["loop forever", "exit"])
    assert "is incomplete" in out and "max_turns=2" in out
    assert "add(" in out  # --steps still lists the calls


def test_threads_recover_prints_what_it_changed(monkeypatch, capsys):
    store = Store()
    session = Session("frank", store=store, new_thread=True)
    run = session.runner.create_run(session.thread_id)
    with store.transaction() as conn:
        conn.execute("UPDATE runs SET owner_pid = 2147483600 WHERE id = ?", (run.id,))
    assert cli.main(["threads", "recover"]) == 0
    out = capsys.readouterr().out
    assert f"{run.id} (thread {session.thread_id}) -> failed" in out and "recovered 1 run" in out
    assert "while queued" in out
    assert store.get_run(run.id).status == "failed"
    assert cli.main(["threads", "recover", "--thread", session.thread_id]) == 0
    assert "nothing to recover" in capsys.readouterr().out
    store.close()


def test_a_follow_up_in_a_new_process_uses_the_thread(tmp_path):
    env = {**os.environ, "QLWORK_HOME": str(tmp_path / "proc-home")}

    def qlwork_chat(*argv, question):
        done = subprocess.run([sys.executable, "-m", "qlwork.cli", "chat", "--user", "bob", *argv],
                              input=f"{question}\nexit\n", capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        assert not re.search(r"^(you> )*error:", done.stdout, re.M), done.stdout
        return done.stdout

    first = qlwork_chat("--new", question="Analyze my portfolio")
    tid = re.search(r"thread (thread_\w+)", first).group(1)
    assert "[Portfolio health]" in first and "Score breakdown" in first and "- Trend:" in first
    second = qlwork_chat("--thread", tid, "--steps", question="What about the technology sector?")
    assert "Building on the previous portfolio analysis" in second  # turn 1's analysis, from the store
    assert "generate_trading_signals(" in second and "analyze_portfolio(" not in second  # reused, not redone

    store = Store(tmp_path / "proc-home" / "qlwork.db")
    try:
        messages = store.list_messages(tid)
        assert [(m.role, m.text if m.role == "user" else None) for m in messages] == [
            ("user", "Analyze my portfolio"), ("assistant", None),
            ("user", "What about the technology sector?"), ("assistant", None)]
        assert [r.status for r in store.list_runs(tid, order="asc")] == ["completed", "completed"]
        assert store.get_thread(tid).metadata["portfolio_id"] == "sample:diversified"
        assert messages[3].data["analysis_type"] != "portfolio_health"
    finally:
        store.close()


def test_chat_prints_tool_progress_before_the_answer(monkeypatch, capsys):
    out = chat(monkeypatch, capsys, ["--user", "gil", "--new"], ["Analyze my portfolio", "exit"])
    progress = re.search(r"\.\.\. analyze_portfolio done in [0-9.]+ m?s", out)
    assert progress and out.index("... analyze_portfolio") < out.index("score ")
    assert "{" not in out.split("you>")[1]  # no raw JSON anywhere in the conversation


def test_one_default_user_everywhere(monkeypatch, capsys):
    from qlwork.config import default_user
    from qlwork.market.kite_auth import default_user as kite_default_user

    monkeypatch.setenv("QLWORK_USER", "meera")
    assert default_user() == kite_default_user() == "meera"
    assert "chat: user meera," in chat(monkeypatch, capsys, ["--new"], ["exit"])
    monkeypatch.setenv("QLWORK_USER", "../../etc")  # never a path: falls back to the OS user or "default"
    assert "/" not in default_user() and ".." not in default_user()
