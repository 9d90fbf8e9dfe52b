"""Error hierarchy.

Every qlwork error carries a message that says what went wrong and, where one exists, the fix.
``InputError`` means the caller gave bad input; ``ModelBehaviorError`` means a model did something
wrong; ``ProviderError`` covers market-data providers (Kite, cache); ``BackendError`` covers model
backends (unreachable server, missing key).
"""

from __future__ import annotations


class QlworkError(Exception):
    """Base class. ``fix`` is a short instruction for the user, appended to the message."""

    def __init__(self, message: str, *, fix: str | None = None, **details: object) -> None:
        self.message = message
        self.fix = fix
        self.details = details
        super().__init__(f"{message} Fix: {fix}" if fix else message)

    def to_dict(self) -> dict:
        """JSON-serialisable form, used for tool outputs and audit records."""
        out: dict = {"type": type(self).__name__, "message": self.message}
        if self.fix:
            out["fix"] = self.fix
        out.update({k: v for k, v in self.details.items() if v is not None})
        return out


class InputError(QlworkError, ValueError):
    """The caller supplied invalid input (portfolio file, symbol, date, argument)."""


class ProviderError(QlworkError):
    """A market-data provider failed (network, token, rate limit, unknown instrument)."""


class BackendError(QlworkError):
    """A model backend failed (unreachable server, missing API key, HTTP error)."""


class ModelBehaviorError(QlworkError):
    """A model produced output qlwork cannot use (invalid answer after repair, looping)."""
