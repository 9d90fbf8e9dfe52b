"""Kite Connect login and access-token storage (``qlwork kite login`` / ``qlwork kite status``).

Secrets policy:

- The API key and secret come only from the environment (``KITE_API_KEY``, ``KITE_API_SECRET``);
  they are never written to disk. The access token is written only to ``$QLWORK_HOME/kite_token.json``
  (mode 0600, created with ``os.open`` and replaced atomically).
- No function here returns, logs or raises text containing the key, secret, request token or access
  token; :func:`scrub` removes them from any text (exception messages re-raised by the provider).
  The one deliberate exception is :func:`login_url`, whose URL must carry the API key for Kite's login
  page; it is printed to the user's terminal, never logged.

Kite access tokens expire at about 06:00 IST the day after login; ``expiry`` in the token file is the
first 06:00 Asia/Kolkata after ``login_time``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import urllib.parse
from pathlib import Path
from zoneinfo import ZoneInfo

from ..config import TIMEZONE, home
from ..errors import InputError, ProviderError
from ..fileio import atomic_write

ENV_API_KEY = "KITE_API_KEY"
ENV_API_SECRET = "KITE_API_SECRET"
ENV_ROOT = "KITE_ROOT"
"""Optional API root override (e.g. a local test server); Kite's own root when unset."""

TOKEN_FILE = "kite_token.json"
IST = ZoneInfo(TIMEZONE)
EXPIRY_HOUR = 6
LOGIN_FIX = "Run `qlwork kite login` to get a fresh access token (Kite tokens expire about 06:00 IST daily)."

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_AUTH_HEADER = re.compile(r"(token\s+)[^\s:'\"]+:[^\s'\"]+", re.IGNORECASE)
_TOKEN_PARAMS = re.compile(r"((?:access_token|request_token|api_key|api_secret|checksum)[=:]\s*['\"]?)[^&\s'\",}]+",
                           re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# secrets

def register_secret(value: str | None) -> None:
    """Remember ``value`` (e.g. an access token) so :func:`scrub` removes it from any text."""
    if value and len(str(value)) >= 4:
        with _SECRETS_LOCK:
            _SECRETS.add(str(value))


def scrub(text: object) -> str:
    """``text`` with the Kite key, secret and every registered token replaced by ``***``.

    Also masks ``Authorization: token a:b`` values and ``access_token=`` / ``request_token=`` /
    ``api_key=`` / ``checksum=`` parameters, whatever their value.
    """
    out = str(text)
    with _SECRETS_LOCK:
        values = set(_SECRETS)
    for name in (ENV_API_KEY, ENV_API_SECRET):
        value = os.environ.get(name)
        if value and len(value) >= 4:
            values.add(value)
    for value in sorted(values, key=len, reverse=True):
        out = out.replace(value, "***")
    out = _AUTH_HEADER.sub(r"\1***", out)
    return _TOKEN_PARAMS.sub(r"\1***", out)


def _secret_from_env(name: str, fix: str) -> str:
    """A secret from the environment, registered for scrubbing; ProviderError with ``fix`` if unset."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise ProviderError(f"{name} is not set.", provider="kite", fix=fix)
    register_secret(value)
    return value


def api_key() -> str:
    """The API key from ``$KITE_API_KEY``."""
    return _secret_from_env(ENV_API_KEY, f"Export your Kite Connect API key (export {ENV_API_KEY}=...) and run "
                                         "`qlwork kite login`; never put the key in a notebook or config file.")


def api_secret() -> str:
    """The API secret from ``$KITE_API_SECRET`` (only needed to log in)."""
    return _secret_from_env(ENV_API_SECRET, f"Export your Kite Connect API secret: export {ENV_API_SECRET}=... "
                                            "(only needed for `qlwork kite login`).")


def api_root(root: str | None = None) -> str | None:
    """``root`` or ``$KITE_ROOT`` or None (Kite's default root)."""
    return root or os.environ.get(ENV_ROOT) or None


# ---------------------------------------------------------------------------------------------
# time

def now_ist() -> dt.datetime:
    """The current time, tz-aware Asia/Kolkata."""
    return dt.datetime.now(IST)


def to_ist(value) -> dt.datetime:
    """A tz-aware IST datetime from a datetime (naive = IST, as Kite's ``login_time``) or ISO string."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.strip())
    if not isinstance(value, dt.datetime):
        raise InputError(f"{value!r} is not a date-time.", fix="Use ISO format, e.g. 2026-11-20 09:15:00.")
    return value.replace(tzinfo=IST) if value.tzinfo is None else value.astimezone(IST)


def next_expiry(login_time) -> dt.datetime:
    """The first 06:00 IST strictly after ``login_time`` (when a Kite access token stops working)."""
    t = to_ist(login_time)
    cut = t.replace(hour=EXPIRY_HOUR, minute=0, second=0, microsecond=0)
    return cut if t < cut else cut + dt.timedelta(days=1)


# ---------------------------------------------------------------------------------------------
# login

def token_path() -> Path:
    """``$QLWORK_HOME/kite_token.json``."""
    return home() / TOKEN_FILE


def _client(key: str, root: str | None, timeout: float | None):
    from kiteconnect import KiteConnect

    from .kite_client import _ReadOnlySession

    kite = KiteConnect(key, root=api_root(root), timeout=timeout)
    kite.reqsession = _ReadOnlySession()
    return kite


def login_url(root: str | None = None) -> str:
    """Kite's login page URL for ``$KITE_API_KEY`` (it carries the API key: show it, never log it)."""
    return _client(api_key(), root, None).login_url()


def parse_request_token(text: str) -> str:
    """The request token from a bare token or from the full redirect URL (``...?request_token=..``)."""
    value = (text or "").strip()
    if not value:
        raise InputError("No request token given.",
                         fix="Paste the request_token (or the whole redirect URL) shown after logging in.")
    if "://" in value or "?" in value or "request_token=" in value:
        query = urllib.parse.urlsplit(value).query or value.split("?", 1)[-1]
        params = urllib.parse.parse_qs(query)
        status = (params.get("status") or ["success"])[0]
        if status != "success":
            raise InputError(f"The redirect URL says the login did not succeed (status={status!r}).",
                             fix="Log in again from the URL `qlwork kite login` prints.")
        tokens = params.get("request_token") or []
        if not tokens or not tokens[0].strip():
            raise InputError("The redirect URL has no request_token parameter.",
                             fix="Paste the full URL Kite redirected to after login, or just its request_token.")
        value = tokens[0].strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]{4,128}", value):
        raise InputError("That does not look like a Kite request token (letters and digits only).",
                         fix="Paste the request_token value (or the whole redirect URL) from the browser.")
    register_secret(value)
    return value


def _write_private(path: Path, payload: dict) -> None:
    """Write JSON to ``path`` with mode 0600 (atomic)."""
    atomic_write(path, json.dumps(payload, indent=2), mode=0o600)


def complete_login(request_token_or_url: str, *, root: str | None = None, timeout: float | None = None,
                   now: dt.datetime | None = None) -> dict:
    """Exchange a request token (or the redirect URL) for an access token and store it.

    Calls ``generate_session`` with ``$KITE_API_SECRET``; writes ``kite_token.json`` (0600) with
    ``access_token, user_id, user_name, login_time, expiry``. Returns :func:`token_status` (no token).
    """
    from .kite_client import call_kite

    request_token = parse_request_token(request_token_or_url)
    key, secret = api_key(), api_secret()
    kite = _client(key, root, timeout)
    session = call_kite(lambda: kite.generate_session(request_token, secret), what="logging in to Kite",
                        login=True)
    access_token = str(session.get("access_token") or "")
    if not access_token:
        raise ProviderError("Kite's session response had no access token.", fix=LOGIN_FIX, provider="kite")
    register_secret(access_token)
    login_time = session.get("login_time") or now or now_ist()
    login_time = to_ist(login_time)
    payload = {
        "access_token": access_token,
        "user_id": str(session.get("user_id") or ""),
        "user_name": str(session.get("user_name") or ""),
        "login_time": login_time.isoformat(),
        "expiry": next_expiry(login_time).isoformat(),
    }
    _write_private(token_path(), payload)
    return token_status(now=now)


def _read() -> dict:
    path = token_path()
    if not path.exists():
        raise ProviderError("No Kite access token found.", fix=LOGIN_FIX, provider="kite", reason="missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not data.get("access_token"):
            raise ValueError("no access_token")
        data["expiry"] = to_ist(data["expiry"])
    except (ValueError, KeyError, InputError):
        raise ProviderError(f"The Kite token file {path} is unreadable.", fix=LOGIN_FIX, provider="kite",
                            reason="corrupt") from None
    register_secret(data["access_token"])
    return data


def load_token(*, now: dt.datetime | None = None) -> str:
    """The stored access token if it has not expired; ProviderError("run qlwork kite login") otherwise."""
    data = _read()
    current = to_ist(now) if now is not None else now_ist()
    if current >= data["expiry"]:
        raise ProviderError(f"The Kite access token expired at {data['expiry']:%Y-%m-%d %H:%M} IST.",
                            fix=LOGIN_FIX, provider="kite", reason="expired")
    return str(data["access_token"])


def token_status(*, now: dt.datetime | None = None) -> dict:
    """Whether a usable token is stored: ``valid, reason, user_id, login_time, expiry, path`` (never the
    token). ``reason`` is ``ok``, ``missing``, ``expired`` or ``corrupt``."""
    out: dict = {"valid": False, "path": str(token_path())}
    try:
        data = _read()
    except ProviderError as exc:
        out.update(reason=exc.details.get("reason"), message=str(exc))
        return out
    current = to_ist(now) if now is not None else now_ist()
    valid = current < data["expiry"]
    out.update(valid=valid, reason="ok" if valid else "expired", user_id=data.get("user_id"),
               user_name=data.get("user_name"), login_time=data.get("login_time"),
               expiry=data["expiry"].isoformat())
    if not valid:
        out["message"] = f"The Kite access token expired at {data['expiry']:%Y-%m-%d %H:%M} IST. Fix: {LOGIN_FIX}"
    return out


def logout() -> bool:
    """Delete the stored token file (local only; Kite is not called). True if a file was removed."""
    try:
        token_path().unlink()
        return True
    except FileNotFoundError:
        return False
