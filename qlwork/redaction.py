"""Removing credentials from text before it is stored, logged or shown (errors, tool outputs, logs)."""

from __future__ import annotations

import os
import re

_SECRET_PATTERN = re.compile(r"sk-[A-Za-z0-9_\-]{8,}|(?i:bearer)\s+[A-Za-z0-9._\-]{8,}|"
                             r"(?i:\b[\w-]*(?:key|token|secret|password))\s*[=:]\s*[^\s,;'\"]+")


def redact(text: str) -> str:
    """Remove things that look like credentials (and values of *KEY*/*TOKEN*/*SECRET* env vars)."""
    for name, value in os.environ.items():
        if len(value) >= 8 and any(w in name.upper() for w in ("KEY", "TOKEN", "SECRET", "PASSWORD")):
            text = text.replace(value, "[redacted]")
    return _SECRET_PATTERN.sub("[redacted]", text)
