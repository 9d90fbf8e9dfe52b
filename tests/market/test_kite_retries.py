"""Transient Kite failures are retried (jittered backoff, at most 4 attempts and a time budget per call);
everything else fails at once. Each fault is injected into the local fake Kite server."""

from __future__ import annotations

import time

import pytest

from qlwork.errors import InputError, ProviderError

HIST = "/instruments/historical/"
WINDOW = dict(start="2026-11-01", end="2026-11-19")


@pytest.mark.parametrize("kind", ["500", "503", "tryagain", "html", "drop", "429"])
def test_transient_fault_is_retried_then_succeeds(make_kite, fake_kite, kind):
    fake_kite.fail(kind, HIST, times=3)
    frame = make_kite(cache=False).candles("TCS", **WINDOW)["TCS"]
    assert len(frame) > 5
    statuses = [r.status for r in fake_kite.log(HIST)]
    assert len(statuses) == 4 and statuses[-1] == 200 and 200 not in statuses[:3]


def test_timeout_is_retried_then_succeeds(make_kite, fake_kite):
    fake_kite.fail("slow", HIST, times=1, delay=0.6)
    frame = make_kite(cache=False, timeout=0.2).candles("TCS", **WINDOW)["TCS"]
    assert len(frame) > 5 and fake_kite.count(HIST) == 2


@pytest.mark.parametrize("kind", ["500", "503", "tryagain", "html", "drop"])
def test_gives_up_after_four_attempts(make_kite, fake_kite, kind):
    fake_kite.fail(kind, HIST, times=10)
    with pytest.raises(ProviderError) as info:
        make_kite(cache=False).candles("TCS", **WINDOW)
    assert fake_kite.count(HIST) == 4
    assert info.value.details["attempts"] == 4 and info.value.fix


@pytest.mark.parametrize("kind, error", [("input", InputError), ("permission", ProviderError),
                                         ("token", ProviderError)])
def test_client_errors_are_never_retried(make_kite, fake_kite, kind, error):
    fake_kite.fail(kind, HIST, times=10)
    with pytest.raises(error) as info:
        make_kite(cache=False).candles("TCS", **WINDOW)
    assert fake_kite.count(HIST) == 1 and "attempts" not in info.value.details
    if kind == "token":
        assert info.value.details["reason"] == "token"


def test_time_budget_bounds_a_call(make_kite, fake_kite):
    fake_kite.fail("slow", HIST, times=10, delay=2.0)
    started = time.monotonic()
    with pytest.raises(ProviderError, match="did not answer in time"):
        make_kite(cache=False, timeout=1.0, budget=1.5).candles("TCS", **WINDOW)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0  # 1.0 s first attempt + the rest of the 1.5 s budget, never 4 x 1.0 s
    assert fake_kite.count(HIST) == 2


def test_backoff_grows_and_is_jittered(make_kite, fake_kite, monkeypatch):
    from qlwork.market import kite_client

    sleeps: list[float] = []
    monkeypatch.setattr(kite_client.time, "sleep", sleeps.append)
    fake_kite.fail("500", HIST, times=10)
    with pytest.raises(ProviderError):
        make_kite(cache=False, backoff=1.0, backoff_cap=3.0).candles("TCS", **WINDOW)
    assert len(sleeps) == 3
    for delay, base in zip(sleeps, (1.0, 2.0, 3.0)):  # min(cap, backoff * 2**n) scaled into [0.5, 1.0]
        assert 0.5 * base <= delay <= base
