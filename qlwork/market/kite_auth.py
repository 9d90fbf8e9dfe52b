"""Kite Connect credentials and access-token storage (``qlwork kite status``; the login flow itself
is :mod:`.kite_login`).

Secrets policy:

- The API key and secret come only from the environment (``KITE_API_KEY``, ``KITE_API_SECRET``);
  they are never written to disk. Access tokens are stored per qlwork user in
  ``$QLWORK_HOME/kite_tokens/<user>.json`` (mode 0600, created with ``os.open`` and replaced atomically;
  the directory is 0700), so in the weekly batch every user gets their own Kite account, never the
  last analyst's login. The file records the qlwork user it was written for (``qlwork_user``) and the
  Kite ``user_id`` from ``generate_session``; loading it for another user is refused. The old
  single-file ``$QLWORK_HOME/kite_token.json`` is still read, for the default user only.
- No function here returns, logs or raises text containing the key, secret, request token or access
  token; :func:`scrub` removes them from any text (exception messages re-raised by the provider).
  The one deliberate exception is :func:`.kite_login.login_url`, whose URL must carry the API key for Kite's login
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
from pathlib import Path
from zoneinfo import ZoneInfo

from ..config import TIMEZONE, home
from ..config import default_user as config_default_user
from ..errors import InputError, ProviderError

ENV_API_KEY = "KITE_API_KEY"
ENV_API_SECRET = "KITE_API_SECRET"
ENV_ROOT = "KITE_ROOT"
"""Optional API root override (e.g. a local test server); Kite's own root when unset."""

TOKEN_FILE = "kite_token.json"
"""The legacy single token file (read as a fallback for the default user only)."""
TOKEN_DIR = "kite_tokens"
"""Per-user token files: ``$QLWORK_HOME/kite_tokens/<user>.json``."""
IST = ZoneInfo(TIMEZONE)
EXPIRY_HOUR = 6
LOGIN_FIX = "Run `qlwork kite login` to get a fresh access token (Kite tokens expire about 06:00 IST daily)."
_USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}")


def login_fix(user: str | None = None) -> str:
    """The fix text for a missing/expired/rejected token of ``user`` (names ``--user`` when given)."""
    if user is None:
        return LOGIN_FIX
    return (f"Run `qlwork kite login --user {user}` to get a fresh access token for {user} "
            "(Kite tokens expire about 06:00 IST daily).")

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

def default_user() -> str:
    """The default qlwork user for a Kite login: :func:`qlwork.config.default_user`."""
    return config_default_user()


def check_user(user: str | None) -> str:
    """``user`` (or :func:`default_user`) validated as a safe file name; InputError otherwise."""
    name = default_user() if user is None or not str(user).strip() else str(user).strip()
    if not _USER_RE.fullmatch(name):
        raise InputError(f"{name!r} is not a valid user id for a Kite login.",
                         fix="Use letters, digits, '_', '-', '.' or '@' (at most 64 characters).")
    return name


def token_path(user: str | None = None) -> Path:
    """``$QLWORK_HOME/kite_tokens/<user>.json`` (``user`` defaults to :func:`default_user`)."""
    return home() / TOKEN_DIR / f"{check_user(user)}.json"


def legacy_token_path() -> Path:
    """``$QLWORK_HOME/kite_token.json``: the pre-per-user file, read for the default user only."""
    return home() / TOKEN_FILE


def _source(user: str) -> tuple[Path, bool]:
    """The token file to read for ``user`` and whether it is the legacy single file (default user only,
    when that user has no per-user file)."""
    path = token_path(user)
    if not path.exists() and user == default_user() and legacy_token_path().exists():
        return legacy_token_path(), True
    return path, False


def _read(user: str | None = None) -> dict:
    """The parsed token file of ``user`` (``expiry`` as datetime, ``path``). ProviderError with
    ``reason`` missing | corrupt | mismatch."""
    user = check_user(user)
    fix = login_fix(user)
    path, legacy = _source(user)
    if not path.exists():
        raise ProviderError(f"No Kite access token found for user {user!r}.", fix=fix, provider="kite",
                            reason="missing", user=user)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not data.get("access_token"):
            raise ValueError("no access_token")
        data["expiry"] = to_ist(data["expiry"])
    except (ValueError, KeyError, TypeError, InputError):
        raise ProviderError(f"The Kite token file {path} is unreadable.", fix=fix, provider="kite",
                            reason="corrupt", user=user) from None
    register_secret(data["access_token"])
    owner = data.get("qlwork_user")
    if not legacy and owner != user:
        raise ProviderError(f"The Kite token file {path} was written for user {owner!r} (Kite account "
                            f"{data.get('user_id') or 'unknown'}), not for {user!r}; refusing to use another "
                            "user's Kite login.", fix=fix, provider="kite", reason="mismatch", user=user)
    data["path"] = str(path)
    data["legacy"] = legacy
    return data


def load_session(*, user: str | None = None, now: dt.datetime | None = None) -> dict:
    """``{"access_token", "user_id" (Kite's), "qlwork_user", "path"}`` of ``user``'s stored token if it
    has not expired; ProviderError("run qlwork kite login --user ...") otherwise."""
    user = check_user(user)
    data = _read(user)
    current = to_ist(now) if now is not None else now_ist()
    if current >= data["expiry"]:
        raise ProviderError(f"The Kite access token of {user!r} expired at {data['expiry']:%Y-%m-%d %H:%M} IST.",
                            fix=login_fix(user), provider="kite", reason="expired", user=user)
    return {"access_token": str(data["access_token"]), "user_id": str(data.get("user_id") or ""),
            "qlwork_user": user, "path": data["path"]}


def load_token(*, user: str | None = None, now: dt.datetime | None = None) -> str:
    """``user``'s stored access token if it has not expired; ProviderError("run qlwork kite login")
    otherwise."""
    return load_session(user=user, now=now)["access_token"]


def token_status(*, user: str | None = None, now: dt.datetime | None = None) -> dict:
    """Whether a usable token is stored for ``user``: ``valid, reason, qlwork_user, user_id (Kite's),
    login_time, expiry, path`` (never the token). ``reason`` is ``ok``, ``missing``, ``expired``,
    ``corrupt`` or ``mismatch``."""
    user = check_user(user)
    out: dict = {"valid": False, "qlwork_user": user, "path": str(_source(user)[0])}
    try:
        data = _read(user)
    except ProviderError as exc:
        out.update(reason=exc.details.get("reason"), message=str(exc))
        return out
    current = to_ist(now) if now is not None else now_ist()
    valid = current < data["expiry"]
    out.update(valid=valid, reason="ok" if valid else "expired", user_id=data.get("user_id"),
               user_name=data.get("user_name"), login_time=data.get("login_time"),
               expiry=data["expiry"].isoformat(), legacy=data["legacy"])
    if not valid:
        out["message"] = (f"The Kite access token expired at {data['expiry']:%Y-%m-%d %H:%M} IST. "
                          f"Fix: {login_fix(user)}")
    return out


def logout(user: str | None = None) -> bool:
    """Delete ``user``'s token file (local only; Kite is not called). True if a file was removed."""
    try:
        token_path(user).unlink()
        return True
    except FileNotFoundError:
        return False
