"""One formatter for numbers and labels shown to people (CLI, widget, reports, explorer).

Conventions: amounts are INR with Indian digit grouping (lakh, crore: ``19,99,010.00``) unless
``QLWORK_NUMBER_GROUPING=international`` (``1,999,010.00``); the currency is written ``INR 19,99,010.00``
or, with ``QLWORK_CURRENCY_STYLE=rupee``, ``₹19,99,010.00``; a sign goes before the currency
(``-INR 15,954.00``). In tables the currency belongs in the column
header (``Value (INR)``) and cells use :func:`amount` without it, so cells do not wrap. Fractions are
shown as percentages (0.052 -> ``5.20%``), weight changes in percentage points, ratios to 2 decimals.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from zoneinfo import ZoneInfo

from .errors import InputError

CURRENCY_STYLES = ("inr", "rupee")
GROUPINGS = ("indian", "international")

LABELS = {
    "total_value": "Value", "invested": "Invested", "pnl": "Unrealised P&L", "pnl_pct": "Unrealised P&L %",
    "total_return": "Total return over the window", "cagr": "CAGR", "volatility": "Volatility (annualised)",
    "sharpe_ratio": "Sharpe ratio", "sortino_ratio": "Sortino ratio", "max_drawdown": "Max drawdown",
    "beta": "Beta vs NIFTY 50", "alpha": "Alpha (annualised)", "correlation_to_benchmark": "Correlation with NIFTY 50",
    "value_at_risk": "1-day 95% VaR", "conditional_value_at_risk": "1-day 95% CVaR",
    "value_at_risk_parametric": "1-day 95% VaR (parametric)", "overall_score": "Health score",
    "risk_level": "Risk level", "weight": "Weight", "var_95": "1-day 95% VaR", "cvar_95": "1-day 95% CVaR",
    "var_95_parametric": "1-day 95% VaR (parametric)", "period_return": "Return over the window",
    "annual_return": "Annual return", "tracking_error": "Tracking error", "downside_deviation": "Downside deviation",
    "sector_weight": "Sector weight", "active_sector_weight": "Active sector weight vs NIFTY 50",
}
"""Human labels for the metric and field keys qlwork shows."""


def _setting(name: str, allowed: tuple[str, ...], default: str, given: str | None) -> str:
    value = (given or os.environ.get(name) or default).strip().lower()
    if value not in allowed:
        raise InputError(f"{name}={value!r} is not a known setting.", fix=f"Use one of: {', '.join(allowed)}.",
                         field=name, allowed=list(allowed))
    return value


def group_digits(whole: int, grouping: str | None = None) -> str:
    """``1999010`` -> ``19,99,010`` (Indian: the last three digits, then pairs) or ``1,999,010``."""
    digits = str(abs(int(whole)))
    if _setting("QLWORK_NUMBER_GROUPING", GROUPINGS, "indian", grouping) == "international" or len(digits) <= 3:
        body = f"{int(digits):,}"
    else:
        head, tail = digits[:-3], digits[-3:]
        pairs = [head[max(0, i - 2):i] for i in range(len(head), 0, -2)][::-1]
        body = ",".join(pairs) + "," + tail
    return ("-" if int(whole) < 0 else "") + body


def amount(value: float | None, decimals: int = 2, signed: bool = False, grouping: str | None = None) -> str:
    """A number with digit grouping and ``decimals`` places, no currency (for cells under "... (INR)")."""
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    text = f"{abs(float(value)):.{decimals}f}"
    whole, _, frac = text.partition(".")
    zero = not any(ch not in "0." for ch in text)
    sign = "" if zero else "-" if float(value) < 0 else "+" if signed else ""
    return sign + group_digits(int(whole), grouping) + ("." + frac if frac else "")


def inr(value: float | None, decimals: int = 2, signed: bool = False, style: str | None = None,
        grouping: str | None = None) -> str:
    """An INR amount: ``INR 19,99,010.00`` or ``₹19,99,010.00`` (``QLWORK_CURRENCY_STYLE``)."""
    text = amount(value, decimals, signed, grouping)
    if text == "n/a":
        return text
    sign = text[0] if text[0] in "+-" else ""  # the sign goes before the currency: -INR 15,954.00
    if _setting("QLWORK_CURRENCY_STYLE", CURRENCY_STYLES, "inr", style) == "rupee":
        return f"{sign}\u20b9{text[len(sign):]}"
    return f"{sign}INR {text[len(sign):]}"


def currency_header(label: str, style: str | None = None) -> str:
    """A column header naming the currency once: ``Value (INR)`` or ``Value (₹)``."""
    unit = "\u20b9" if _setting("QLWORK_CURRENCY_STYLE", CURRENCY_STYLES, "inr", style) == "rupee" else "INR"
    return f"{label} ({unit})"


def pct(fraction: float | None, decimals: int = 2, signed: bool = False) -> str:
    """A fraction as a percentage: ``0.0523`` -> ``5.23%``."""
    if fraction is None or not math.isfinite(float(fraction)):
        return "n/a"
    return f"{float(fraction) * 100:{'+' if signed else ''}.{decimals}f}%"


def pp(change: float | None, decimals: int = 1) -> str:
    """A change of a weight (fractions) in percentage points: ``0.031`` -> ``+3.1 pp``."""
    if change is None or not math.isfinite(float(change)):
        return "n/a"
    return f"{float(change) * 100:+.{decimals}f} pp"


def quantity(value: float | None, grouping: str | None = None) -> str:
    """A quantity of shares or units with digit grouping: ``100000`` -> ``1,00,000``; fractional units (mutual
    funds) to 3 decimals: ``1234.5678`` -> ``1,234.568``."""
    if value is None or isinstance(value, bool) or not math.isfinite(float(value)):
        return "n/a"
    whole = float(value).is_integer()
    return amount(value, 0 if whole else 3, grouping=grouping)


def ratio(value: float | None, decimals: int = 2, signed: bool = False) -> str:
    """A ratio (Sharpe, beta) to ``decimals`` places."""
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    return f"{float(value):{'+' if signed else ''}.{decimals}f}"


PERCENT_KEYS = frozenset({"max_drawdown", "volatility", "var_95", "cvar_95", "var_95_parametric", "total_return",
                          "annual_return", "cagr", "tracking_error", "alpha", "downside_deviation", "period_return",
                          "value_at_risk", "conditional_value_at_risk", "value_at_risk_parametric", "pnl_pct",
                          "weight"})
"""Keys whose values are fractions shown as percentages; other numeric metrics are ratios."""
PERCENT_KEYS = PERCENT_KEYS | {"sector_weight", "benchmark_weight", "hit_rate", "win_rate"}
POINT_KEYS = frozenset({"active_sector_weight", "active_weight", "active_return"})
"""Keys whose values are differences of fractions, shown in percentage points (``0.0095`` -> ``+0.95 pp``)."""


def metric(key: str, value) -> str:
    """A metric value for people: fractions (``PERCENT_KEYS``) as percentages, other numbers as ratios to 2
    decimals, anything else as text."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if key in POINT_KEYS:
        return pp(value, 2)
    return pct(value) if key in PERCENT_KEYS else ratio(value)


def metric_change(key: str, change) -> str:
    """A change of a metric: fractions (``PERCENT_KEYS``) in percentage points, ratios signed to 2 decimals."""
    if change is None or isinstance(change, bool) or not isinstance(change, (int, float)):
        return "n/a"
    return pp(change, 2) if key in PERCENT_KEYS | POINT_KEYS else ratio(change, signed=True)


def label(key: str) -> str:
    """The human label of a metric/field key (``sharpe_ratio`` -> ``Sharpe ratio``); an enum value such as
    ``very_high`` -> ``Very high``."""
    if key in LABELS:
        return LABELS[key]
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


IST = ZoneInfo("Asia/Kolkata")


def when(timestamp: float | str | dt.datetime | None, seconds: bool = False) -> str:
    """A moment for people, in India time: a Unix timestamp (``1764332940``), an ISO 8601 string with an
    offset (``2026-11-28T12:29:00+00:00``) or an aware datetime -> ``28 Nov 2026, 17:59 IST`` (with
    ``seconds``: ``17:59:00 IST``). A naive ISO string or datetime is taken as UTC."""
    if timestamp is None or timestamp == "":
        return "n/a"
    if isinstance(timestamp, str):
        timestamp = dt.datetime.fromisoformat(timestamp)
    if isinstance(timestamp, dt.datetime):
        moment = (timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=dt.timezone.utc)).astimezone(IST)
    else:
        moment = dt.datetime.fromtimestamp(float(timestamp), IST)
    return moment.strftime(f"%d %b %Y, %H:%M{':%S' if seconds else ''} IST")
