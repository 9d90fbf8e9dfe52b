"""Advice check: each recommendation of an answer consistent with the portfolio and the profile.

Made by the runner on every completed answer (any backend), next to the figure grounding, from the
portfolio facts in the tool outputs of the run and thread (the latest ``analyze_portfolio`` output:
holdings, weights, sectors vs benchmark and the profile's limits; else the holdings named by a
portfolio ``calculate_risk_metrics``). It finds:

* ``not_held``: a sell/reduce of a symbol the portfolio does not hold;
* ``overweight_add``: an add/buy to a position at or above the position cap, or into a sector above its
  benchmark weight (its ``sector_weight_after`` when given, else today's active weight), whose reason
  does not say so (``overweight`` / ``above the benchmark`` / ``above its cap``) and why;
* ``cap_breach``: a size past the profile's caps (``target_weight`` above the position cap for an add,
  ``sector_weight_after`` above the sector cap), or more shares sold than held;
* ``buy_when_selling``: an add/buy when the question asked what to sell or trim.

Without portfolio facts only the last rule applies. Policy (``QLWORK_ADVICE``, or an assistant's
``metadata["advice"]``): ``repair`` (default) rewrites each offending recommendation in place (an
add/buy becomes ``hold``, a sell of what is not held ``watch``; the reason says what the check found)
and records ``repaired``; ``flag`` keeps the answer and marks it; ``reject`` fails the run
(``unsound_advice``). The record is :class:`Advice`, stored like grounding in the answer, the run
metadata (:data:`RUN_KEY`) and the message metadata.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import InputError

__all__ = ["DEFAULT_POLICY", "POLICIES", "RUN_KEY", "Advice", "Finding", "check", "describe", "policy_for", "review"]

POLICIES = ("repair", "flag", "reject")
DEFAULT_POLICY = "repair"
RUN_KEY = "_qlwork_advice"
TOLERANCE = 5e-4  # weights are rounded to 4 dp in tool outputs
_ACK = re.compile(r"overweight|above (?:the |its )?(?:benchmark|nifty|cap|position cap|sector cap|target)", re.IGNORECASE)
_SELL_QUESTION = re.compile(r"\b(?:what|which)\b.{0,40}\b(?:sell|trim|reduce|cut)\b|\b(?:sell|trim)\b.{0,30}\b(?:to cut|"
                            r"to reduce|to lower)\b|\bde-?risk\b", re.IGNORECASE)
_BUY_WORDS = re.compile(r"\b(?:buy|add|purchase|accumulate)\b", re.IGNORECASE)  # "buy or sell?" asks both
BUYS, SELLS = ("buy", "add"), ("sell", "reduce")


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int
    symbol: str
    rule: Literal["not_held", "overweight_add", "cap_breach", "buy_when_selling"]
    problem: str


class Advice(BaseModel):
    """The advice check of one answer, filled by the runner (never taken from a model).

    ``status``: ``sound`` (nothing found), ``repaired`` (offending recommendations rewritten),
    ``flagged`` (shown marked). ``facts`` says what the check compared against.
    """

    model_config = ConfigDict(extra="forbid")

    status: Literal["sound", "repaired", "flagged"]
    checked: int = Field(ge=0)
    findings: list[Finding] = Field(default_factory=list)
    policy: Literal["repair", "flag", "reject"] = DEFAULT_POLICY
    facts: str = ""
    summary: str = ""

    def on(self, metadata: dict) -> dict:
        """``metadata`` (a run's) with this record added under :data:`RUN_KEY`."""
        return {**metadata, RUN_KEY: self.model_dump(mode="json")}

    def metadata(self) -> dict[str, str]:
        out = {"advice": self.summary, "advice_status": self.status}
        if self.findings:
            out["advice_findings"] = "; ".join(f"{f.symbol}: {f.problem}" for f in self.findings)[:500]
        return out


def _parsed(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def portfolio_facts(outputs: list[Any]) -> dict | None:
    """``{"held": {symbol: {weight, sector, quantity, asset_class}}, "active", "limits", "source"}`` from the
    first ``analyze_portfolio`` output in ``outputs`` (run first, then thread), else held symbols only."""
    held_only = None
    for out in map(_parsed, outputs):
        if not isinstance(out, dict):
            continue
        if out.get("analysis_type") == "portfolio_health" and isinstance(out.get("holdings"), list):
            held = {h["symbol"]: h for h in out["holdings"] if isinstance(h, dict) and "symbol" in h}
            return {"held": held, "active": out.get("active_sector_weights") or {},
                    "sectors": out.get("sector_weights") or {}, "limits": out.get("limits") or {},
                    "source": f"analyze_portfolio of {out.get('portfolio')} as of {out.get('as_of')}"}
        table = out.get("risk_contributions")
        if held_only is None and isinstance(table, dict) and isinstance(table.get("holdings"), list):
            held_only = {"held": {r["symbol"]: r for r in table["holdings"] if isinstance(r, dict)}, "active": {},
                         "sectors": {}, "limits": {}, "source": f"calculate_risk_metrics of {out.get('portfolio')}"}
    return held_only


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def check(answer: dict, outputs: list[Any], question: str = "") -> tuple[list[Finding], int, str]:
    """(findings, recommendations checked, what was compared against) for a TradingResponse dict."""
    facts = portfolio_facts([o for o in outputs if o is not None])
    recs = answer.get("recommendations") or []
    selling = bool(_SELL_QUESTION.search(question or "")) and not _BUY_WORDS.search(question or "")
    found: list[Finding] = []
    for i, rec in enumerate(recs):
        sym, action, reason = str(rec.get("symbol", "")), rec.get("action"), str(rec.get("reason") or "")

        def add(rule: str, problem: str) -> None:
            found.append(Finding(index=i, symbol=sym, rule=rule, problem=problem))

        if selling and action in BUYS:
            add("buy_when_selling", f"{action} when the question asked what to sell")
        if facts is None:
            continue
        held, limits = facts["held"], facts["limits"]
        h = held.get(sym)
        if action in SELLS and h is None:
            add("not_held", f"{action} of {sym}, which the portfolio does not hold")
            continue
        if action in SELLS and isinstance(rec.get("shares"), int) and _num(h.get("quantity")) is not None \
                and -rec["shares"] > h["quantity"]:
            add("cap_breach", f"sells {-rec['shares']} shares of the {h['quantity']:g} held")
        if action not in BUYS:
            continue
        cap = _num(limits.get("position_cap"))
        weight, target = _num((h or {}).get("weight")), _num(rec.get("target_weight"))
        sector = rec.get("sector") or (h or {}).get("sector")
        sector_cap = _num((limits.get("sector_caps") or {}).get(sector)) if sector else None
        active_cap = _num(limits.get("sector_active_cap"))
        bench = sector_cap - active_cap if sector_cap is not None and active_cap is not None else None
        after = _num(rec.get("sector_weight_after"))
        level = after if after is not None else _num(facts["sectors"].get(sector))
        over_sector = bench is not None and level is not None and level > bench + TOLERANCE
        over_position = cap is not None and weight is not None and weight >= cap - TOLERANCE
        if (over_position or over_sector) and not _ACK.search(reason):
            what = (f"position already {weight:.2%} vs the {cap:.2%} cap" if over_position
                    else f"{sector} at {level:.2%} vs {bench:.2%} in the benchmark")
            add("overweight_add", f"{action} to an overweight ({what}) without saying so and why")
        if cap is not None and target is not None and target > cap + TOLERANCE:
            add("cap_breach", f"target weight {target:.2%} above the {cap:.2%} position cap")
        if sector_cap is not None and after is not None and after > sector_cap + TOLERANCE:
            add("cap_breach", f"{sector} would be {after:.2%}, above its {sector_cap:.2%} cap")
    return found, len(recs), (facts or {}).get("source", "no portfolio analysis in this conversation")


def _summary(n_findings: int, checked: int, status: str) -> str:
    if checked == 0:
        return "no recommendations to check"
    if n_findings == 0:
        return f"{checked} of {checked} recommendation{'s' * (checked != 1)} consistent with the portfolio and profile"
    verb = "repaired" if status == "repaired" else "flagged"
    return f"{n_findings} problem{'s' * (n_findings != 1)} in {checked} recommendation{'s' * (checked != 1)} ({verb})"


def review(answer: dict, outputs: list[Any], question: str, policy: str) -> tuple[dict, Advice]:
    """Check ``answer`` and apply ``policy``: (the answer, repaired when policy is repair, and its record).
    For ``reject`` the caller fails the run when the record has findings."""
    findings, checked, facts = check(answer, outputs, question)
    status = "sound" if not findings else "repaired" if policy == "repair" else "flagged"
    if findings and policy == "repair":
        answer = {**answer, "recommendations": [dict(r) for r in answer.get("recommendations") or []]}
        for index in sorted({f.index for f in findings}):
            rec, mine = answer["recommendations"][index], [f for f in findings if f.index == index]
            if any(f.rule == "not_held" for f in mine):
                rec["action"] = "watch"
            elif rec.get("action") in BUYS:
                rec["action"] = "hold"
            for key in ("shares", "amount_inr", "target_weight", "sector_weight_after"):
                rec.pop(key, None)
            rec["reason"] = ("Advice check: " + "; ".join(f.problem for f in mine)
                             + f"; not acted on. Given reason: {rec.get('reason', '')}")
    return answer, Advice(status=status, checked=checked, findings=findings, policy=policy, facts=facts,
                          summary=_summary(len(findings), checked, status))


def policy_for(assistant_metadata: dict | None = None) -> str:
    """The advice policy: the assistant's ``metadata["advice"]``, else ``QLWORK_ADVICE``, else repair."""
    value = (assistant_metadata or {}).get("advice")
    where = "the assistant's metadata['advice']"
    if value is None:
        value, where = os.environ.get("QLWORK_ADVICE", DEFAULT_POLICY), "QLWORK_ADVICE"
    if isinstance(value, str) and value.strip().lower() in POLICIES:
        return value.strip().lower()
    raise InputError(f"Advice policy {value!r} in {where} is not one of {', '.join(POLICIES)}.",
                     fix="Set it to repair (default), flag or reject.", code="invalid_setting", setting="advice")


def describe(record: Any) -> str:
    """One line for people (widget, threads show, the report's audit trail); empty without a record."""
    a = record.model_dump() if isinstance(record, BaseModel) else record
    if not isinstance(a, dict) or not a.get("summary"):
        return ""
    text = f"Advice: {a['summary']}"
    findings = a.get("findings") or []
    if findings:
        text += ": " + "; ".join(f"{f['symbol']} {f['problem']}" for f in findings[:5])
    return text


def _question(messages: list[Any]) -> str:
    """Text of the last user message (stored Message objects or dicts)."""
    for m in reversed(messages or []):
        m = m.model_dump() if isinstance(m, BaseModel) else m
        if isinstance(m, dict) and m.get("role") == "user":
            parts = [p.get("text") for p in m.get("content") or [] if isinstance(p, dict) and p.get("type") == "text"]
            return " ".join(t.get("value", "") if isinstance(t, dict) else str(t or "") for t in parts)
    return ""


def apply(response: Any, outputs: list[Any], messages: list[Any], policy: str) -> tuple[Any, Advice]:
    """The runner's hook: check a TradingResponse against ``outputs`` for the last user question in
    ``messages``; returns the (repaired) response and the record to attach."""
    data = response.model_dump(mode="json", exclude={"conversation_context", "grounding", "advice"})
    fixed, record = review(data, outputs, _question(messages), policy)
    if record.status == "repaired":
        response = type(response).model_validate({**fixed, "grounding": response.grounding})
    return response, record


def failure_message(record: Advice) -> str:
    """The run error of an answer rejected by the advice check."""
    return ("The answer was rejected by the advice check: " + "; ".join(f"{f.symbol}: {f.problem}" for f in
            record.findings[:5]) + ". Policy 'reject' never shows such an answer; set advice to 'repair' or 'flag'.")
