"""`provider=` is one name everywhere: open_session/Session (``market=`` kept as its alias), AssistantChat,
run_review, the batch's users.toml and ``qlwork chat --provider``; the default comes from QLWORK_PROVIDER
or qlwork.toml."""

from __future__ import annotations

import contextlib
import io
import sys

import pytest

import qlwork
from qlwork.assistant.store import Store
from qlwork.errors import InputError
from qlwork.market import DemoMarketData, provider_name, resolve_provider


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("QLWORK_PROVIDER", raising=False)
    monkeypatch.delenv("QLWORK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_session_takes_provider_and_keeps_market_alias(home):
    demo = DemoMarketData()
    store = Store(home / "s.db")
    by_name = qlwork.open_session("u1", provider="demo", store=store, portfolio="sample:diversified")
    assert by_name.provider.name == "demo" and by_name.market_provider() is by_name.provider
    by_object = qlwork.open_session("u2", provider=demo, store=store, portfolio="sample:diversified")
    assert by_object.provider is demo
    legacy = qlwork.open_session("u3", market=demo, store=store, portfolio="sample:diversified")
    assert legacy.provider is demo
    answer = by_object.ask("Review my portfolio")
    assert answer.response is not None and answer.response.overall_score is not None
    with pytest.raises(InputError, match="provider= or market="):
        qlwork.open_session("u4", provider="demo", market=demo, store=store)
    with pytest.raises(InputError, match="provider must be a name") as info:
        qlwork.open_session("u5", provider=object(), store=store)
    assert info.value.details["field"] == "provider"
    with pytest.raises(InputError, match="Unknown market data provider 'yahoo'"):
        _ = qlwork.open_session("u6", provider="yahoo", store=store).provider


def test_default_provider_from_env_then_toml(home, monkeypatch):
    assert provider_name(None) == "demo"
    (home / "qlwork.toml").write_text('[qlwork]\nprovider = "kite"\n')
    assert provider_name(None) == "kite"
    monkeypatch.setenv("QLWORK_PROVIDER", "demo")
    assert provider_name(None) == "demo" and resolve_provider(None).name == "demo"
    monkeypatch.setenv("QLWORK_PROVIDER", "nope")
    with pytest.raises(InputError, match="Unknown market data provider"):
        resolve_provider(None)


def test_chat_widget_takes_provider(home):
    pytest.importorskip("ipywidgets")
    from qlwork.widget import AssistantChat

    demo = DemoMarketData()
    chat = AssistantChat(user_id="w1", provider=demo, portfolio="sample:diversified", store=Store(home / "w.db"))
    assert chat.session.provider is demo


def test_run_review_takes_a_provider_object(home):
    from qlwork.review import run_review

    demo = DemoMarketData()
    review = run_review("r1", "2026-11-20", provider=demo, store=Store(home / "r.db"))
    assert review.params["provider"] == "demo" and review.synthetic


def test_batch_users_provider_is_checked(home):
    from qlwork.reports.batch import load_users

    cfg = home / "users.toml"
    cfg.write_text('[[users]]\nuser_id = "a"\nportfolio = "kite"\nprovider = "Kite"\n'
                   '[[users]]\nuser_id = "b"\nportfolio = "sample:diversified"\n')
    users = load_users(cfg)
    assert [u.provider for u in users] == ["kite", "demo"]
    cfg.write_text('[[users]]\nuser_id = "a"\nportfolio = "sample:diversified"\nprovider = "yahoo"\n')
    with pytest.raises(InputError, match="unknown provider 'yahoo'") as info:
        load_users(cfg)
    assert "demo, kite" in info.value.fix
    cfg.write_text('[[users]]\nuser_id = "a"\nportfolio = "kite"\n')
    with pytest.raises(InputError, match='portfolio "kite" but provider \'demo\''):
        load_users(cfg)


def _chat(argv, stdin, monkeypatch):
    from qlwork.cli.commands import main

    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(argv)
    return code, out.getvalue()


def test_cli_chat_provider(home, monkeypatch):
    code, text = _chat(["chat", "--user", "c1", "--provider", "demo"], "exit\n", monkeypatch)
    assert code == 0 and "provider demo" in text
    code, text = _chat(["chat", "--user", "c2", "--provider", "yahoo"], "exit\n", monkeypatch)
    assert code == 2 and "Unknown market data provider 'yahoo'" in text
    # kite without a login: a clear error naming the login command, before any question
    monkeypatch.setenv("KITE_API_KEY", "k")
    code, text = _chat(["chat", "--user", "c3", "--provider", "kite"], "exit\n", monkeypatch)
    assert code == 2 and "qlwork kite login --user c3" in text
    monkeypatch.setenv("QLWORK_PROVIDER", "demo")
    code, text = _chat(["chat", "--user", "c4"], "exit\n", monkeypatch)
    assert code == 0 and "provider demo" in text
