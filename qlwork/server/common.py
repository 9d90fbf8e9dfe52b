"""Small helpers shared by the route modules: JSON answers and list query parameters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Query
from fastapi.responses import JSONResponse

from .schemas import Id


class JSON(JSONResponse):
    """A compact JSON response (objects are plain dicts already)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class ListParams:
    limit: int
    order: str
    after: str | None
    before: str | None


async def list_params(limit: int = Query(20, ge=1, le=100, description="Page size (1-100)."),
                order: Literal["asc", "desc"] = Query("desc", description="By created_at."),
                after: Id | None = Query(None, description="Cursor: an object id; items after it."),
                before: Id | None = Query(None, description="Cursor: an object id; items before it.")) -> ListParams:
    return ListParams(limit, order, after, before)


CLIENT_TOOL = "_qlwork_client"
"""Marks a stored function tool declared by an API client: it runs client-side (requires_action) even
when a qlwork registry tool has its name (read by Runner._load_state; never sent on the wire)."""


def tools_in(tools: list | None) -> list[dict] | None:
    """Validated tool models -> stored dicts (None stays None: 'not given'); function tools are marked
    client-side (:data:`CLIENT_TOOL`)."""
    if tools is None:
        return None
    out = []
    for t in tools:
        entry = t.model_dump(exclude_none=True)
        if entry.get("type") == "function":
            entry[CLIENT_TOOL] = True
        out.append(entry)
    return out
