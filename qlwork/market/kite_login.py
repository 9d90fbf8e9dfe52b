"""The Kite Connect login flow (``qlwork kite login``): the login URL, the request token from the
redirect, and its exchange for an access token stored per qlwork user by :mod:`.kite_auth`.

Sits above both :mod:`.kite_auth` (credentials, token files, scrubbing) and :mod:`.kite_client`
(read-only HTTP session, error mapping), which know nothing of it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.parse
from pathlib import Path

from ..errors import InputError, ProviderError
from ..fileio import atomic_write
from . import kite_auth
from .kite_auth import (
    api_key,
    api_secret,
    check_user,
    login_fix,
    next_expiry,
    register_secret,
    to_ist,
    token_path,
    token_status,
)
from .kite_client import call_kite, new_client


def _client(key: str, root: str | None, timeout: float | None):
    return new_client(key, root=root, timeout=timeout)


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
    """Write JSON to ``path`` with mode 0600 (atomic) in a 0700 directory."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, json.dumps(payload, indent=2), mode=0o600)


def complete_login(request_token_or_url: str, *, user: str | None = None, root: str | None = None,
                   timeout: float | None = None, now: dt.datetime | None = None) -> dict:
    """Exchange a request token (or the redirect URL) for an access token and store it for ``user``.

    Calls ``generate_session`` with ``$KITE_API_SECRET``; writes ``kite_tokens/<user>.json`` (0600) with
    ``access_token, qlwork_user, user_id (Kite's), user_name, login_time, expiry``. ``user`` defaults to
    :func:`default_user`. Returns :func:`token_status` (no token).
    """
    user = check_user(user)
    request_token = parse_request_token(request_token_or_url)
    key, secret = api_key(), api_secret()
    kite = _client(key, root, timeout)
    session = call_kite(lambda: kite.generate_session(request_token, secret), what="logging in to Kite",
                        login=True)
    access_token = str(session.get("access_token") or "")
    if not access_token:
        raise ProviderError("Kite's session response had no access token.", fix=login_fix(user), provider="kite")
    register_secret(access_token)
    login_time = session.get("login_time") or now or kite_auth.now_ist()  # through the module: tests set the clock there
    login_time = to_ist(login_time)
    payload = {
        "access_token": access_token,
        "qlwork_user": user,
        "user_id": str(session.get("user_id") or ""),
        "user_name": str(session.get("user_name") or ""),
        "login_time": login_time.isoformat(),
        "expiry": next_expiry(login_time).isoformat(),
    }
    _write_private(token_path(user), payload)
    return token_status(user=user, now=now)
