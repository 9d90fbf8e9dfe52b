"""The shapes a users config may take: ``[[users]]`` (a list of tables, each with ``user_id``) or
``[users.<id>]`` tables keyed by user id; anything else is refused with the expected shape."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError


def user_entries(path: Path, users) -> list[dict]:
    """The users of a config: ``[[users]]`` (a list of tables) or ``[users.<id>]`` tables keyed by user id
    (the key is the user_id; a ``user_id`` inside must agree)."""
    if users is None:
        return []
    if isinstance(users, dict):
        entries = []
        for key, table in users.items():
            if not isinstance(table, dict):
                raise InputError(f"{path}: users.{key} = {table!r} is not a table of settings.",
                                 fix=f'Write [users.{key}] with portfolio = "..." under it, or [[users]] tables '
                                 'each with user_id and portfolio.', field="users")
            if table.get("user_id", key) != key:
                raise InputError(f"{path}: [users.{key}] says user_id = {table['user_id']!r}.",
                                 fix=f"Drop user_id from [users.{key}] (the table name is the user id), or make "
                                 "them agree.", field="users")
            entries.append({**table, "user_id": key})
        return entries
    if not isinstance(users, list) or not all(isinstance(u, dict) for u in users):
        raise InputError(f"{path}: users must be [[users]] tables (or [users.<id>] tables), got "
                         f"{type(users).__name__}.", fix='Write one [[users]] table per user with user_id = "..." '
                         'and portfolio = "...".', field="users")
    return users
