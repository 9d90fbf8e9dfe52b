"""A read-only, rate-limited wrapper around ``kiteconnect.KiteConnect`` with qlwork errors.

:class:`ReadOnlyKite` exposes only the read calls qlwork needs (profile, holdings, instruments,
historical candles, quote / ltp / ohlc). The underlying client is private, and its HTTP session is
replaced by one that refuses any request outside :data:`ALLOWED` (method, path) pairs or to another
origin than the API root, and follows no redirect, so no order, GTT, margin or fund call can leave the
process even by mistake or when a server redirects, and the access token goes nowhere else.

Every call goes through :func:`call_kite`: a slot of the API key's shared limiter (held across
threads and processes: :class:`~qlwork.market.ratelimit.ProcessRateLimiter`) per attempt, bounded
retries with jittered exponential backoff on transient failures (429, 5xx, timeouts, dropped
connections, Kite's "try again"; at most 4 attempts and 20 s per call), and mapping of kiteconnect / requests exceptions to
:class:`ProviderError` / :class:`InputError` with a fix. Messages are scrubbed of the API key, secret and
tokens, and the original exception is not chained (its text could hold them).
"""

from __future__ import annotations

import logging
import random
import re
import threading
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
    ("GET", r"/mf/holdings"),
    ("GET", r"/instruments(/[A-Z]+)?"),
    ("GET", r"/instruments/historical/\d+/[a-z0-9]+"),
    ("GET", r"/quote(/ltp|/ohlc)?"),
)
"""The only (method, path regex) pairs the wrapped client may request."""

MAX_MESSAGE = 300


class ReadOnlyViolation(ProviderError):
    """A request outside :data:`ALLOWED` was attempted (a qlwork bug; nothing was sent)."""


class ReadOnlySession(requests.Session):
    """A requests session that refuses anything but the allowed read endpoints, on one origin.

    ``origin`` (``scheme://host:port`` of the API root, set by the owner) is the only origin any request
    may go to: the access token travels in a header, so a request elsewhere would hand it over.
    Redirects are never followed (``allow_redirects`` is forced off): a 3xx answer raises
    :class:`ReadOnlyViolation` naming where it pointed, so a redirect can neither reach an order, GTT,
    funds or margins path nor carry the token (or a re-sent POST body) to another server. The request
    timeout is clamped to what is left of the current call's time budget (see :func:`call_kite`).
    """

    def __init__(self, origin: str | None = None) -> None:
        super().__init__()
        self.origin = origin

    def _refuse(self, message: str) -> ReadOnlyViolation:
        return ReadOnlyViolation(message, fix="Only market data and holdings may be requested, from the Kite "
                                 "API root itself; check KITE_ROOT (and any proxy) if this persists.",
                                 provider="kite")

    def request(self, method, url, *args, **kwargs):
        parts = urllib.parse.urlsplit(url)
        path = parts.path or "/"
        verb = str(method).upper()
        if not any(verb == m and re.fullmatch(p, path) for m, p in ALLOWED):
            raise self._refuse(f"qlwork is read-only on Kite: refused {verb} {path}.")
        if self.origin is not None and _origin(url) != self.origin:
            raise self._refuse(f"qlwork only talks to the Kite API root: refused {verb} to {_origin(url)}.")
        kwargs["allow_redirects"] = False
        left = _budget_left()
        if left is not None:
            if left <= 0:
                raise requests.Timeout("the call's time budget is used up")
            timeout = kwargs.get("timeout")
            kwargs["timeout"] = left if timeout is None else min(float(timeout), left)
        response = super().request(method, url, *args, **kwargs)
        if response.is_redirect or 300 <= response.status_code < 400:
            target = urllib.parse.urljoin(url, response.headers.get("Location", ""))
            where = f"{_origin(target)}{urllib.parse.urlsplit(target).path or '/'}"
            response.close()
            raise self._refuse(f"Kite answered {verb} {path} with a redirect (HTTP {response.status_code}) to "
                               f"{where}; qlwork does not follow redirects.")
        return response


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` (default ports made explicit), lower-cased."""
    parts = urllib.parse.urlsplit(url)
    scheme = (parts.scheme or "").lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


_BUDGET = threading.local()


def _budget_left() -> float | None:
    """Seconds left of the current thread's :func:`call_kite` budget (None outside a call)."""
    deadline = getattr(_BUDGET, "deadline", None)
    return None if deadline is None else deadline - time.monotonic()


def new_client(api_key: str, *, access_token: str | None = None, root: str | None = None,
               timeout: float | None = None):
    """A ``KiteConnect`` client whose HTTP session is a :class:`ReadOnlySession` bound to its root."""
    from kiteconnect import KiteConnect

    kite = KiteConnect(api_key, access_token=access_token, root=api_root(root), timeout=timeout)
    kite.reqsession = ReadOnlySession(_origin(kite.root))
    return kite


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


MAX_ATTEMPTS = 4
"""Attempts per Kite call (the first try and up to three retries)."""
CALL_BUDGET = 20.0
"""Seconds one Kite call may take in all: attempts, backoff sleeps and waits for a rate-limit slot."""
TRY_AGAIN = re.compile(r"try again|try after|temporar", re.IGNORECASE)


def retryable(exc: BaseException) -> bool:
    """True for a transient failure worth another attempt: HTTP 429 and Kite's other network errors,
    5xx answers (JSON or an HTML error page), Kite's general "please try again" errors, timeouts and
    dropped or refused connections. A rejected token, missing permission, bad input or order error
    never is (retrying cannot change the answer), nor is a refused redirect or endpoint."""
    from kiteconnect import exceptions as kex

    if isinstance(exc, QlworkError):
        return False
    if isinstance(exc, (kex.TokenException, kex.PermissionException, kex.InputException, kex.OrderException)):
        return False
    if isinstance(exc, (kex.NetworkException, kex.DataException)):
        return True  # 429 / Kite's network errors; a body that is not Kite JSON (e.g. an HTML 502 page)
    if isinstance(exc, kex.KiteException):
        code = getattr(exc, "code", None) or 0
        return code >= 500 or code == 429 or bool(TRY_AGAIN.search(str(exc)))
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    return isinstance(exc, (requests.Timeout, requests.ConnectionError))


def call_kite(fn: Callable[[], object], *, what: str, category: str = "other",
              limiter: RateLimiter | None = None, max_attempts: int = MAX_ATTEMPTS, backoff: float = 0.5,
              backoff_cap: float = 8.0, budget: float = CALL_BUDGET, login: bool = False, fix: str | None = None):
    """Run one Kite call, each attempt inside a slot of the shared rate limiter; retry transient
    failures (:func:`retryable`) with jittered exponential backoff: attempt ``n`` waits
    ``min(backoff_cap, backoff * 2**(n-1))`` seconds scaled by a random factor in [0.5, 1.0], at most
    ``max_attempts`` attempts (default 4) and ``budget`` seconds in all (default 20: each request's
    timeout is clamped to what is left, and no retry starts that could not finish in time). A login
    (``login=True``, a single-use request token) is retried only on HTTP 429.

    Raises the mapped qlwork error, never a kiteconnect/requests exception, and never chained.
    """
    from kiteconnect import exceptions as kex

    limiter = limiter or shared_limiter()
    attempts = max(1, int(max_attempts))
    deadline = time.monotonic() + float(budget)
    outer = getattr(_BUDGET, "deadline", None)
    _BUDGET.deadline = deadline if outer is None else min(outer, deadline)
    error: QlworkError | None = None
    try:
        for attempt in range(1, attempts + 1):
            try:
                with limiter.slot(category):
                    return fn()
            except Exception as exc:
                again = retryable(exc) and (not login or (isinstance(exc, kex.NetworkException)
                                                          and getattr(exc, "code", None) == 429))
                if again and attempt < attempts:
                    delay = min(backoff_cap, backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                    if time.monotonic() + delay < _BUDGET.deadline:
                        log.info("kite: %s (%s) while %s; retry %d/%d in %.2fs", type(exc).__name__,
                                 getattr(exc, "code", "-"), what, attempt, attempts - 1, delay)
                        time.sleep(delay)
                        continue
                error = map_error(exc, what=what, login=login, fix=fix)
                if attempt > 1:
                    error.details["attempts"] = attempt
            break
    finally:
        _BUDGET.deadline = outer
    assert error is not None
    raise error  # outside the except blocks: no __context__ carrying the original text


class ReadOnlyKite:
    """The read calls of a ``KiteConnect`` client, rate-limited and error-mapped.

    ``retry`` holds keyword arguments for :func:`call_kite` (max_attempts, backoff, backoff_cap, and
    ``fix``: the login instruction given when Kite rejects the token).
    """

    def __init__(self, api_key: str, access_token: str, *, root: str | None = None, timeout: float = 7.0,
                 limiter: RateLimiter | None = None, **retry) -> None:
        register_secret(api_key)
        register_secret(access_token)
        kite = new_client(api_key, access_token=access_token, root=root, timeout=timeout)
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

    def mf_holdings(self) -> list[dict]:
        """``GET /mf/holdings`` (mutual fund units held: folio, fund, tradingsymbol = ISIN, quantity, ...)."""
        return self._call("other", "reading Kite mutual fund holdings", self.__kite.mf_holdings)

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
