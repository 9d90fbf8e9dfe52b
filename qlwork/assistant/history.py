"""How much of a thread's history goes to a model: the newest messages within a character budget."""

from __future__ import annotations

import json

from .objects import Message

DEFAULT_HISTORY_CHARS = 24_000


def trim_history(messages: list[Message], max_chars: int = DEFAULT_HISTORY_CHARS) -> list[Message]:
    """The newest messages whose content fits in ``max_chars``, oldest first.

    The latest user message is always kept, even alone over budget; older messages are dropped
    from the oldest end so the kept history is contiguous.
    """
    last_user = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), None)
    budget = max_chars - (_message_chars(messages[last_user]) if last_user is not None else 0)
    kept: list[Message] = []
    for i in range(len(messages) - 1, -1, -1):
        if i == last_user:
            kept.append(messages[i])
            continue
        size = _message_chars(messages[i])
        if size <= budget:
            kept.append(messages[i])
            budget -= size
        elif last_user is None or i < last_user:
            break
    return kept[::-1]


def _message_chars(message: Message) -> int:
    total = 0
    for part in message.content:
        if part.type == "text":
            total += len(part.text.value)
        elif part.type == "json":
            total += len(json.dumps(part.json, default=str))
        else:
            total += 64
    return total
