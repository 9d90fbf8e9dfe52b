"""The read-only guard holds when the Kite root redirects: no order, GTT, funds or margins path is ever
requested, no POST is re-sent, and the access token never reaches another origin."""

from __future__ import annotations

import importlib

import pytest

from qlwork.errors import ProviderError
from qlwork.market.kite_client import ReadOnlyViolation

FORBIDDEN = ("/user/margins", "/gtt", "/orders", "/funds", "/portfolio/positions/convert")


@pytest.fixture
def elsewhere(kite_env):
    """A second server on another origin (port) that would collect whatever is sent to it."""
    server = importlib.import_module("fake_kite").FakeKite().start()
    yield server
    server.stop()


def _no_forbidden(*servers):
    for server in servers:
        paths = [r.path for r in server.log("/")]
        assert not [p for p in paths if p.startswith(FORBIDDEN)], paths


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_to_forbidden_paths_are_refused(make_kite, fake_kite, status, kite_env):
    kite = make_kite(cache=False)
    fake_kite.reset_log()  # drop the login request
    fake_kite.fail("redirect", "/portfolio/holdings", times=5, location="/user/margins", status=status)
    fake_kite.fail("redirect", "/instruments/historical/", times=5, location="/gtt/triggers", status=status)
    fake_kite.fail("redirect", "/quote", times=5, location="/orders/regular", status=status)
    with pytest.raises(ReadOnlyViolation, match="redirect") as info:
        kite.holdings()
    assert "/user/margins" in info.value.message and kite_env["access_token"] not in str(info.value)
    with pytest.raises(ProviderError, match="redirect"):
        kite.candles("TCS", start="2026-11-01", end="2026-11-19")
    with pytest.raises(ProviderError, match="redirect"):
        kite.ltp(["TCS"])
    _no_forbidden(fake_kite)
    # a redirect is not a transient fault: each call was sent once, never retried through it
    assert fake_kite.count("/portfolio/holdings") == 1 and fake_kite.count("/quote") == 1


def test_login_post_is_not_resent_to_orders(kite_env, fake_kite):
    from qlwork.market.kite_login import complete_login

    fake_kite.fail("redirect", "/session/token", times=5, location="/orders/regular", status=307)
    with pytest.raises(ProviderError, match="redirect"):
        complete_login("req_token_ok", root=fake_kite.url)
    _no_forbidden(fake_kite)
    assert [r.method for r in fake_kite.log("/")] == ["POST"]


@pytest.mark.parametrize("status", [302, 307])
def test_token_never_reaches_another_origin(make_kite, fake_kite, elsewhere, kite_env, status):
    kite = make_kite(cache=False)
    fake_kite.reset_log()  # drop the login request
    for prefix in ("/portfolio/holdings", "/user/profile", "/quote", "/instruments/historical/"):
        fake_kite.fail("redirect", prefix, times=5, location=f"{elsewhere.url}{prefix}", status=status)
    for call in (kite.holdings, kite.profile, lambda: kite.quote(["TCS"]),
                 lambda: kite.candles("TCS", start="2026-11-01", end="2026-11-19")):
        with pytest.raises(ProviderError, match="redirect"):
            call()
    assert elsewhere.count("/") == 0  # nothing at all went to the other origin
    redirected = [r.path for r in fake_kite.log("/") if r.status == status]
    assert len(redirected) == 4  # each call sent once; a redirect is never retried or followed
    _no_forbidden(fake_kite, elsewhere)


def test_direct_request_to_another_origin_is_refused(kite_env, fake_kite, elsewhere):
    from qlwork.market.kite_client import new_client

    client = new_client("k", access_token="t", root=fake_kite.url)
    with pytest.raises(ReadOnlyViolation, match="only talks to the Kite API root"):
        client.reqsession.request("GET", f"{elsewhere.url}/portfolio/holdings",
                                  headers={"Authorization": "token k:t"})
    assert elsewhere.count("/") == 0
