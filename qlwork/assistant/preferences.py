"""Bring your own AI: per-user model preferences and the backend they select.

:class:`AIPreferences` holds *where* a user's model lives, never a secret: ``api_key_env`` is the
name of the environment variable holding the key, read only when the backend is built. Preferences
are saved as JSON under ``$QLWORK_HOME/users/<user_id>/ai_preferences.json``, or, when
``QLWORK_DATABASE_URL`` is set, in the shared database's ``user_preferences`` table (every server and
batch worker sees them).

Keys: ``openai`` always needs one. ``openai-chat`` needs one unless ``base_url`` is a loopback
address (Ollama, LM Studio, llama.cpp or vLLM on this machine), where the placeholder
``"not-needed"`` is sent; for a keyless server elsewhere on your network set ``allow_no_key=True``.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..config import check_user_id, home
from ..db import shared_database
from ..errors import BackendError, InputError
from .backends.base import Backend, get_backend
from .backends.openai_base import check_env_name

Provider = Literal["offline", "openai", "openai-chat"]


class AIPreferences(BaseModel):
    """One user's assistant settings (DESIGN.md section 4, BYOAI)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, hide_input_in_errors=True)

    preferred_ai_provider: Provider = "offline"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = Field(None, description="Name of the env var holding the key (default OPENAI_API_KEY).")
    timeout: float = Field(60.0, gt=0, le=3600, description="Seconds to wait for the model server.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries on 429, 5xx and timeouts.")
    backoff: float = Field(0.5, ge=0, le=60, description="First retry delay in seconds (doubles each retry).")
    stream: bool = True
    context_window: int = Field(32_000, ge=2_000, description="Model context window in tokens.")
    max_output_tokens: int | None = Field(None, ge=64)
    response_format: Literal["json_schema", "json_object", "text"] = "json_schema"
    allow_no_key: bool = False
    tools_enabled: bool = True
    assistant_id: str | None = None
    thread_id: str | None = None
    conversation_history: bool = True
    auto_analysis: bool = False

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_env_name(value)
        except BackendError as exc:  # re-raised as a plain validation error without the value
            raise ValueError(exc.message) from None

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("base_url must start with http:// or https:// (e.g. http://127.0.0.1:11434/v1)")
        return value.rstrip("/")

    def backend_options(self) -> dict[str, Any]:
        """Options for :func:`~qlwork.assistant.backends.base.get_backend` (no secrets)."""
        if self.preferred_ai_provider == "offline":
            return {}
        return {"model": self.model, "base_url": self.base_url, "api_key_env": self.api_key_env,
                "timeout": self.timeout, "max_retries": self.max_retries, "backoff": self.backoff,
                "stream": self.stream, "context_window": self.context_window,
                "max_output_tokens": self.max_output_tokens, "response_format": self.response_format,
                "allow_no_key": self.allow_no_key, "tools_enabled": self.tools_enabled,
                "history": self.conversation_history}


def backend_from_preferences(prefs: AIPreferences, **overrides: Any) -> Backend:
    """The backend ``prefs`` select. Raises BackendError naming the setting to fix (missing key,
    missing model, bad api_key_env); building it never contacts the server."""
    options = {k: v for k, v in {**prefs.backend_options(), **overrides}.items() if v is not None}
    return get_backend(prefs.preferred_ai_provider, **options)


def session_from_preferences(user_id: str, prefs: AIPreferences, **kw: Any):
    """A :class:`~qlwork.assistant.session.Session` for ``user_id`` on the preferred backend, thread
    and assistant (``kw`` goes to Session: store, portfolio, market, ...)."""
    from .session import Session

    kw.setdefault("thread_id", prefs.thread_id)
    kw.setdefault("assistant_id", prefs.assistant_id)
    return Session(user_id, backend=backend_from_preferences(prefs), **kw)


def _path(user_id: str, root: Path | None = None) -> Path:
    return (root or home()) / "users" / check_user_id(user_id) / "ai_preferences.json"


TABLE = """CREATE TABLE IF NOT EXISTS user_preferences (user_id TEXT PRIMARY KEY, preferences TEXT NOT NULL,
    updated_at INTEGER NOT NULL)"""


def _shared(root: Path | None):
    """The shared database when ``QLWORK_DATABASE_URL`` is set and no explicit ``root`` is given:
    preferences then follow the user to every server and batch worker (docs/store.md)."""
    return shared_database(TABLE) if root is None else None


def load_preferences(user_id: str, root: Path | None = None) -> AIPreferences:
    """The user's saved preferences, or the defaults (offline engine) if none were saved."""
    path = _path(user_id, root)
    db = _shared(root)
    if db is not None:
        row = db.connection().execute("SELECT preferences FROM user_preferences WHERE user_id = ?",
                                      (user_id,)).fetchone()
        try:
            return AIPreferences.model_validate_json(row[0]) if row else AIPreferences()
        except ValueError as exc:
            raise InputError(f"AI preferences of {user_id} in the database are invalid: {exc}",
                             fix="Save them again.", code="invalid_preferences") from None
    if not path.exists():
        return AIPreferences()
    try:
        return AIPreferences.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as exc:
        raise InputError(f"AI preferences in {path} are invalid: {exc}",
                         fix="Correct or delete the file.", code="invalid_preferences") from None


def save_preferences(user_id: str, prefs: AIPreferences, root: Path | None = None) -> Path:
    """Write the user's preferences (names of env vars only, never keys); returns the file path
    (unused when they go to the shared database)."""
    path = _path(user_id, root)
    db = _shared(root)
    if db is not None:
        with db.transaction() as conn:
            conn.execute("DELETE FROM user_preferences WHERE user_id = ?", (user_id,))
            conn.execute("INSERT INTO user_preferences (user_id, preferences, updated_at) VALUES (?, ?, ?)",
                         (user_id, prefs.model_dump_json(), int(time.time())))
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(prefs.model_dump_json(indent=2), encoding="utf-8")
    return path
