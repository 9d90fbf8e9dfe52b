"""Settings: environment variables plus an optional ``qlwork.toml``.

``QLWORK_HOME`` (default ``./.qlwork``) holds the SQLite store, uploaded files, the candle cache and
the Kite token. Secrets are never read from here: only the *names* of environment variables that hold
them.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError

TRADING_DAYS_PER_YEAR = 252
"""Annualisation factor for daily data."""

DEFAULT_RISK_FREE_RATE = 0.065
"""Annual risk-free rate (decimal), roughly the Indian 91-day T-bill yield."""

BENCHMARK = "NIFTY 50"
TIMEZONE = "Asia/Kolkata"
GROUNDING_POLICIES = ("repair", "flag", "reject")


_USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}")


def default_user() -> str:
    """The one default qlwork user id everywhere (chat, demo, widget, Kite login, MCP): ``$QLWORK_USER``,
    else the OS user name, else ``"default"``; always a safe file-name segment."""
    name = os.environ.get("QLWORK_USER", "").strip()
    if not name:
        try:
            import getpass

            name = getpass.getuser()
        except Exception:  # noqa: BLE001 - no passwd entry / no env: fall back
            name = ""
    return name if name and _USER_NAME.fullmatch(name) else "default"


USER_ID_RE = re.compile(r"(?!\.)[\w.@-]{1,128}")
"""A user id: one safe path segment (letters, digits, '.', '@', '_', '-'; no '/', never '.' or '..' or
any name starting with a dot), because user ids become folder and file names (reports, preferences)."""


def check_user_id(user_id: object, field: str = "user_id") -> str:
    """``user_id`` if it is a safe path segment (:data:`USER_ID_RE`); InputError naming ``field`` otherwise."""
    if isinstance(user_id, str) and USER_ID_RE.fullmatch(user_id):
        return user_id
    raise InputError(f"{field} {user_id!r} is not a valid user id: user ids become folder names, so they must be "
                     "one safe path segment.", fix="Use 1-128 letters, digits, '.', '@', '_' or '-', not starting "
                     "with '.' (no '/').", field=field, code="invalid_argument")


def home() -> Path:
    """The qlwork home directory (created on demand)."""
    path = Path(os.environ.get("QLWORK_HOME", ".qlwork")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Settings:
    """Process-wide settings. Build with :func:`load_settings`."""

    home: Path
    risk_free_rate: float = DEFAULT_RISK_FREE_RATE
    benchmark: str = BENCHMARK
    provider: str = "demo"
    backend: str = "offline"
    grounding: str = "repair"
    """What the runner does with an answer whose figures are not in the tool outputs: repair | flag |
    reject (see qlwork.assistant.grounding)."""
    extra: dict = field(default_factory=dict)


def grounding_policy(value: object, where: str) -> str:
    """``value`` as a grounding policy (repair, flag, reject); an InputError naming ``where`` if not."""
    if isinstance(value, str) and value.strip().lower() in GROUNDING_POLICIES:
        return value.strip().lower()
    raise InputError(f"Grounding policy {value!r} in {where} is not one of {', '.join(GROUNDING_POLICIES)}.",
                     fix="Set it to repair (default), flag or reject.", code="invalid_setting", setting="grounding")


def read_toml(path: str | os.PathLike) -> dict:
    """Read a TOML file, turning syntax errors into an :class:`InputError` naming the file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"Config file {p} does not exist.", fix="Pass an existing qlwork.toml path.")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"Config file {p} is not valid TOML: {exc}.", fix="Correct the syntax.") from exc


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Settings from ``path`` (or ``$QLWORK_CONFIG`` / ``./qlwork.toml`` if present) and env vars."""
    data: dict = {}
    candidate = path or os.environ.get("QLWORK_CONFIG")
    if candidate is None and Path("qlwork.toml").exists():
        candidate = "qlwork.toml"
    if candidate is not None:
        data = read_toml(candidate)
    core = data.get("qlwork", {})
    rate = os.environ.get("QLWORK_RISK_FREE_RATE", core.get("risk_free_rate", DEFAULT_RISK_FREE_RATE))
    try:
        rate = float(rate)
    except (TypeError, ValueError) as exc:
        raise InputError(f"risk_free_rate {rate!r} is not a number.", fix="Use a decimal like 0.065.") from exc
    grounding = grounding_policy(os.environ.get("QLWORK_GROUNDING", core.get("grounding", "repair")),
                                 "QLWORK_GROUNDING or [qlwork] grounding")
    return Settings(
        home=home(),
        risk_free_rate=rate,
        benchmark=core.get("benchmark", BENCHMARK),
        provider=os.environ.get("QLWORK_PROVIDER", core.get("provider", "demo")),
        backend=os.environ.get("QLWORK_BACKEND", core.get("backend", "offline")),
        grounding=grounding,
        extra=data,
    )
