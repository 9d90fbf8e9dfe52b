"""Reopening a thread keeps its portfolio, risk profile and horizon unless the caller passes new ones."""

from qlwork.assistant.backends.scripted import ScriptedBackend
from qlwork.assistant.session import Session

MARKET = object()


def open_session(store, tools, user="bob", **kw):
    return Session(user, backend=ScriptedBackend([]), store=store, registry=tools.registry, market=MARKET, **kw)


def meta(session):
    m = session.store.get_thread(session.thread_id).metadata
    return m.get("portfolio_id"), m.get("risk_profile"), m.get("investment_horizon")


def test_reopening_keeps_the_threads_metadata(store, tools):
    first = open_session(store, tools, portfolio="sample:it_heavy", risk_profile="high", horizon="long",
                         new_thread=True)
    tid = first.thread_id
    assert meta(first) == ("sample:it_heavy", "high", "long")
    # latest thread, by id, and with a default for new threads: nothing changes
    for kw in ({}, {"thread_id": tid}, {"default_portfolio": "sample:diversified"}):
        again = open_session(store, tools, **kw)
        assert again.thread_id == tid and meta(again) == ("sample:it_heavy", "high", "long"), kw
        ctx = again._context(again.thread)
        assert (ctx.portfolio, ctx.risk_profile, ctx.extra["investment_horizon"]) == (
            "sample:it_heavy", "high", "long")


def test_only_explicit_values_change_an_existing_thread(store, tools):
    tid = open_session(store, tools, portfolio="sample:it_heavy", risk_profile="high", horizon="long",
                       new_thread=True).thread_id
    assert meta(open_session(store, tools, thread_id=tid, risk_profile="low")) == ("sample:it_heavy", "low", "long")
    s = open_session(store, tools, portfolio="sample:near_cash")  # the latest thread
    assert s.thread_id == tid and meta(s) == ("sample:near_cash", "low", "long")
    assert s._context(s.thread).portfolio == "sample:near_cash"


def test_new_threads_take_the_default_portfolio(store, tools):
    s = open_session(store, tools, user="carl", default_portfolio="sample:diversified")
    assert meta(s) == ("sample:diversified", "moderate", "medium")
    assert s._context(s.thread).portfolio == "sample:diversified"
    s.new_thread()
    assert meta(s)[0] == "sample:diversified"
    explicit = open_session(store, tools, user="carl", portfolio="sample:it_heavy", new_thread=True,
                            default_portfolio="sample:diversified")
    assert meta(explicit)[0] == "sample:it_heavy"
    # without a default a new thread records no portfolio (as before)
    assert meta(open_session(store, tools, user="dana"))[0] is None
