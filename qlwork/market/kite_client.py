"""A read-only, rate-limited wrapper around ``kiteconnect.KiteConnect`` with qlwork errors.

:class:`ReadOnlyKite` exposes only the read calls qlwork needs (profile, holdings, instruments,
historical candles, quote / ltp / ohlc). The underlying client is private, and its HTTP session is
replaced by one that refuses any request outside :data:`ALLOWED` (method, path) pairs, so no order,
GTT, margin-order or fund call can leave the process even by mistake.

Every call goes through :func:`call_kite`: a slot of the API key's shared limiter (held across
threads and processes: :class:`~qlwork.market.ratelimit.ProcessRateLimiter`), bounded retries
with capped exponential backoff on HTTP 429, and mapping of kiteconnect / requests exceptions to
:class:`ProviderError` / :class:`InputError` with a fix. Messages are scrubbed of the API key, secret and
tokens, and the original exception is not chained (its text could hold them).
"""

from __future__ import annotations

import logging
import random
import re
import time
import urllib.parse
from collections.abc import Callable

import requests

from ..errors import InputError, ProviderError, QlworkError
from .kite_auth import LOGIN_FIX, api_root, register_secret, scrub
from .ratelimit import RateLimiter, shared_limiter

log = logging.getLogger("qlwork.market.kite")

ALLOWED: tuple[tuple[str, str], ...] = (
    ("POST", r"/session/token"),
    ("GET", r"/user/profile"),
    ("GET", r"/portfolio/holdings"),
    ("GET", r"/instruments(/[A-Z]+)?"),
    ("GET", r"/instruments/historical/\d+/[a-z0-9]+"),
    ("GET", r"/quote(/ltp|/ohlc)?"),
)
"""The only (method, path regex) pairs the wrapped client may request."""

MAX_MESSAGE = 300


class ReadOnlyViolation(ProviderError):
    """A request outside :data:`ALLOWED` was attempted (a qlwork bug; nothing was sent)."""


class ReadOnlySession(requests.Session):
    """A requests session that refuses anything but the allowed read endpoints."""

    def request(self, method, url, *args, **kwargs):  # noqa: D401 - requests API
        path = urllib.parse.urlsplit(url).path or "/"
        verb = str(method).upper()
        if not any(verb == m and re.fullmatch(p, path) for m, p in ALLOWED):
            raise ReadOnlyViolation(f"qlwork is read-only on Kite: refused {verb} {path}.",
                                    fix="Only market data and holdings may be requested.", provider="kite")
        return super().request(method, url, *args, **kwargs)


def _short(text: object) -> str:
    clean = " ".join(scrub(text).split())
    return clean if len(clean) <= MAX_MESSAGE else clean[:MAX_MESSAGE] + "..."


def map_error(exc: BaseException, *, what: str, login: bool = False, fix: str | None = None) -> QlworkError:
    """The qlwork error (with a fix) for a kiteconnect or requests exception raised while ``what``;
    ``fix`` replaces the generic login fix for a rejected token (e.g. naming ``--user ID``)."""
    from kiteconnect import exceptions as kex

    name = type(exc).__name__
    code = getattr(exc, "code", None)
    detail = _short(exc)
    common = dict(provider="kite", kite_error=name, status=code)
    if isinstance(exc, QlworkError):
        return exc
    if isinstance(exc, kex.TokenException):
        if login:
            return ProviderError(f"Kite rejected the login while {what}: {detail}", provider="kite",
                                 fix="Request tokens are single-use and expire within minutes; check "
                                     "KITE_API_KEY / KITE_API_SECRET and run `qlwork kite login` again.",
                                 kite_error=name, status=code)
        return ProviderError(f"Kite rejected the access token (expired or invalid) while {what}.",
                             fix=fix or LOGIN_FIX, reason="token", **common)
    if isinstance(exc, kex.PermissionException):
        return ProviderError(f"Kite denied permission while {what}: {detail}", **common,
                             fix="Check that your Kite Connect app is subscribed to this API (historical "
                                 "candles need the historical-data add-on) and that the login is current.")
    if isinstance(exc, kex.InputException):
        return InputError(f"Kite refused the request while {what}: {detail}", **common,
                          fix="Check the symbols, dates (YYYY-MM-DD) and interval.")
    if isinstance(exc, kex.NetworkException):
        if code == 429:
            return ProviderError(f"Kite kept answering 'Too many requests' (HTTP 429) while {what}.", **common,
                                 fix="Wait a minute and retry; avoid running other Kite scripts with the "
                                     "same API key at the same time.")
        return ProviderError(f"Kite had a network problem while {what}: {detail}", **common,
                             fix="Retry shortly; if it persists check https://status.zerodha.com.")
    if isinstance(exc, kex.DataException):
        return ProviderError(f"Kite returned a response qlwork could not read while {what}: {detail}", **common,
                             fix="Retry shortly; if it persists Kite may be in maintenance "
                                 "(check https://status.zerodha.com).")
    if isinstance(exc, kex.KiteException):  # GeneralException, OrderException, future types
        return ProviderError(f"Kite failed while {what} (HTTP {code}): {detail}", **common,
                             fix="Retry shortly; if it persists check https://status.zerodha.com.")
    if isinstance(exc, requests.Timeout):
        return ProviderError(f"Kite did not answer in time while {what}.", provider="kite", kite_error=name,
                             fix="Retry; on a slow connection pass a larger timeout= to KiteMarketData.")
    if isinstance(exc, requests.ConnectionError):
        return ProviderError(f"Could not reach Kite while {what} (connection refused or dropped).",
                             provider="kite", kite_error=name,
                             fix="Check your internet connection (and KITE_ROOT if set), then retry.")
    if isinstance(exc, requests.RequestException):
        return ProviderError(f"The HTTP request to Kite failed while {what}: {detail}", provider="kite",
                             kite_error=name, fix="Retry; check your network and proxy settings.")
    return ProviderError(f"Unexpected {name} while {what}: {detail}", provider="kite", kite_error=name,
                         fix="Retry; if it persists report it with this message.")


def call_kite(fn: Callable[[], object], *, what: str, category: str = "other",
              limiter: RateLimiter | None = None, max_attempts: int = 5, backoff: float = 0.5,
              backoff_cap: float = 8.0, login: bool = False, fix: str | None = None):
    """Run one Kite call inside a rate-limit slot; retry HTTP 429 up to ``max_attempts`` times with
    exponential backoff (``backoff * 2**n`` seconds plus jitter, at most ``backoff_cap``).

    Raises the mapped qlwork error, never a kiteconnect/requests exception, and never chained.
    """
    from kiteconnect import exceptions as kex

    limiter = limiter or shared_limiter()
    error: QlworkError | None = None
    for attempt in range(1, max(1, int(max_attempts)) + 1):
        try:
            with limiter.slot(category):
                return fn()
        except kex.NetworkException as exc:
            if getattr(exc, "code", None) == 429 and attempt < max_attempts:
                delay = min(backoff_cap, backoff * 2 ** (attempt - 1)) * (1 + 0.25 * random.random())
                log.info("kite: HTTP 429 while %s; retry %d/%d in %.2fs", what, attempt, max_attempts - 1, delay)
                time.sleep(delay)
                continue
            error = map_error(exc, what=what, login=login, fix=fix)
        except Exception as exc:  # noqa: BLE001 - mapped below
            error = map_error(exc, what=what, login=login, fix=fix)
        break
    assert error is not None
    raise error  # outside the except blocks: no __context__ carrying the original text


class ReadOnlyKite:
    """The read calls of a ``KiteConnect`` client, rate-limited and error-mapped.

    ``retry`` holds keyword arguments for :func:`call_kite` (max_attempts, backoff, backoff_cap, and
    ``fix``: the login instruction given when Kite rejects the token).
    """

    def __init__(self, api_key: str, access_token: str, *, root: str | None = None, timeout: float = 7.0,
                 limiter: RateLimiter | None = None, **retry) -> None:
        from kiteconnect import KiteConnect

        register_secret(api_key)
        register_secret(access_token)
        kite = KiteConnect(api_key, access_token=access_token, root=api_root(root), timeout=timeout)
        kite.reqsession = ReadOnlySession()
        self.__kite = kite  # name-mangled: not part of any public surface
        self.limiter = limiter or shared_limiter(api_key)  # per API key, across processes
        self.retry = retry
        self.root = kite.root

    def _call(self, category: str, what: str, fn: Callable[[], object]):
        return call_kite(fn, what=what, category=category, limiter=self.limiter, **self.retry)

    def profile(self) -> dict:
        """``GET /user/profile``."""
        return self._call("other", "reading the Kite profile", self.__kite.profile)

    def holdings(self) -> list[dict]:
        """``GET /portfolio/holdings`` (Kite's fields, unchanged)."""
        return self._call("other", "reading Kite holdings", self.__kite.holdings)

    def instruments(self, exchange: str | None = None) -> list[dict]:
        """``GET /instruments[/EXCHANGE]`` parsed into dicts."""
        return self._call("other", f"downloading the {exchange or 'full'} instruments list",
                          lambda: self.__kite.instruments(exchange))

    def historical(self, token: int, start: str, end: str, interval: str, *, what: str = "") -> list[dict]:
        """``GET /instruments/historical/{token}/{interval}`` for ``start``..``end``
        (``YYYY-MM-DD HH:MM:SS`` IST strings)."""
        return self._call("historical", what or f"fetching {interval} candles",
                          lambda: self.__kite.historical_data(int(token), start, end, interval))

    def quote(self, keys: list[str]) -> dict:
        """``GET /quote`` for ``EXCHANGE:SYMBOL`` keys (at most 500)."""
        return self._call("quote", "fetching quotes", lambda: self.__kite.quote(list(keys)))

    def ltp(self, keys: list[str]) -> dict:
        """``GET /quote/ltp`` (at most 1000 keys)."""
        return self._call("quote", "fetching last prices", lambda: self.__kite.ltp(list(keys)))

    def ohlc(self, keys: list[str]) -> dict:
        """``GET /quote/ohlc`` (at most 1000 keys)."""
        return self._call("quote", "fetching OHLC quotes", lambda: self.__kite.ohlc(list(keys)))

    def __repr__(self) -> str:
        return f"ReadOnlyKite(root={self.root!r})"
