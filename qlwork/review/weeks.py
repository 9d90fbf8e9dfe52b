"""The weeks of the weekly review: a date's ISO week, the thread of a user's week, the previous
week's review, and what changed between two weekly snapshots (score, risk level, value, risk metrics,
weights as fractions, recommendations)."""

from __future__ import annotations

import datetime as dt

from ..assistant.store import Store
from ..market.base import parse_date

REVIEW_KIND = "weekly_review"


def iso_week(as_of) -> str:
    """``YYYY-Www`` ISO week of a date (``2026-11-20`` -> ``2026-W47``)."""
    year, week, _ = as_date(as_of).isocalendar()
    return f"{year}-W{week:02d}"


def as_date(value) -> dt.date:
    """A date from a date, datetime or ISO string."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return parse_date(str(value))


def find_previous_review(store: Store, user_id: str, week: str, limit: int = 200) -> dict | None:
    """The newest weekly-review thread of ``user_id`` for a week before ``week`` that stored a review
    summary: ``{"thread_id", "week", "as_of", "review"}`` or None."""
    best = None
    for thread in store.list_threads(user_id=user_id, limit=limit):
        meta = thread.metadata or {}
        if meta.get("kind") != REVIEW_KIND or not meta.get("review") or str(meta.get("week", "")) >= week:
            continue
        if best is None or meta["week"] > best["week"]:
            best = {"thread_id": thread.id, "week": meta["week"], "as_of": meta.get("as_of"), "review": meta["review"]}
    return best


def find_week_thread(store: Store, user_id: str, week: str, limit: int = 200) -> str | None:
    """Id of ``user_id``'s weekly-review thread for ``week`` (the newest, should there be several)."""
    for thread in store.list_threads(user_id=user_id, limit=limit):
        meta = thread.metadata or {}
        if meta.get("kind") == REVIEW_KIND and str(meta.get("week")) == week:
            return thread.id
    return None


def compare(prev: dict, cur: dict, previous: dict | None = None) -> dict:
    """Week-on-week change between two review snapshots (see :meth:`Review.snapshot`). Score, risk level,
    total value and each risk metric known both weeks carry ``previous`` and ``current`` beside the
    change (``delta``, this week minus last); weight changes are fractions (0.01 = one point)."""
    def delta(a, b):
        return None if a is None or b is None else round(float(b) - float(a), 4)

    pw, cw = prev.get("weights") or {}, cur.get("weights") or {}
    moved = {s: delta(pw.get(s, 0.0), cw.get(s, 0.0)) for s in sorted(set(pw) & set(cw))}
    prev_recs = {tuple(x) for x in prev.get("recommendations") or []}
    cur_recs = {tuple(x) for x in cur.get("recommendations") or []}
    before = prev.get("risk_metrics") or {}
    metrics = {k: {"previous": before[k], "current": v, "delta": delta(before[k], v)}
               for k, v in (cur.get("risk_metrics") or {}).items() if before.get(k) is not None and v is not None}
    return {"previous_as_of": prev.get("as_of"), "previous_week": (previous or {}).get("week"),
            "score": {"previous": prev.get("overall_score"), "current": cur.get("overall_score"),
                      "delta": delta(prev.get("overall_score"), cur.get("overall_score"))},
            "risk_level": {"previous": prev.get("risk_level"), "current": cur.get("risk_level"),
                           "changed": prev.get("risk_level") != cur.get("risk_level")},
            "total_value": {"previous": prev.get("total_value"), "current": cur.get("total_value"),
                            "delta": delta(prev.get("total_value"), cur.get("total_value"))},
            "risk_metrics": metrics,
            "added": sorted(set(cw) - set(pw)), "removed": sorted(set(pw) - set(cw)),
            "weight_changes": {s: d for s, d in moved.items() if d is not None and abs(d) >= 0.005},
            "new_recommendations": sorted([list(x) for x in cur_recs - prev_recs]),
            "dropped_recommendations": sorted([list(x) for x in prev_recs - cur_recs])}
