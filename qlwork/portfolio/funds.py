"""Mutual funds as holdings: scheme, ISIN, units, NAV and value (INR), folio, and a category
(:data:`FUND_CATEGORIES`) for asset-class rules and look-through.

Sources: Kite Connect's ``GET /mf/holdings`` (:func:`funds_from_kite`) and the Consolidated Account
Statement PDF from CAMS / KFintech / NSDL / CDSL read with the ``casparser`` library (:func:`load_cas`).
A CAS is encrypted, usually with the investor's PAN: the password comes from the argument, the
``QLWORK_CAS_PASSWORD`` environment variable or a prompt, and is never stored, logged or returned.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from ..errors import InputError

FUND_CATEGORIES = ("equity", "debt", "hybrid", "liquid", "index", "other")
"""Fund categories: ``liquid`` (liquid, overnight, money market), ``index`` (index funds and equity ETFs),
``hybrid`` (balanced advantage, equity savings, multi-asset, arbitrage, aggressive/conservative hybrid),
``debt`` (bond, gilt, duration, credit, banking & PSU, floater funds), ``equity`` (the rest of SEBI's
equity schemes), ``other`` (fund of funds, gold, unknown)."""
PASSWORD_ENV = "QLWORK_CAS_PASSWORD"

_RULES: tuple[tuple[str, str], ...] = (
    ("liquid", r"\b(liquid|overnight|money market)\b"),
    ("other", r"\b(fund of funds?|fof|gold|silver|overseas)\b"),
    ("index", r"\b(index|etf|nifty|sensex|bees)\b"),
    ("hybrid", r"\b(hybrid|balanced|equity savings|multi[- ]asset|arbitrage|asset allocation|equity & debt)\b"),
    ("debt", r"\b(debt|bond|gilt|duration|income|credit risk|banking (and|&) psu|floater|treasury|fixed maturity)\b"),
    ("equity", r"\b(equity|cap|flexi|elss|tax saver|focused|value|contra|dividend yield|thematic|sectoral|"
               r"opportunities|growth fund|bluechip|infrastructure|technology|pharma|banking)\b"),
)


def fund_category(name: str, hint: str | None = None) -> str:
    """The category of a scheme from its name (rules in order: liquid, index, hybrid, debt, other,
    equity), else from ``hint`` (casparser's ``EQUITY`` / ``DEBT`` type), else ``"other"``."""
    text = " ".join(str(name or "").lower().replace("-", " ").split())
    for category, pattern in _RULES:
        if re.search(pattern, text):
            return category
    hint = str(hint or "").strip().lower()
    return hint if hint in ("equity", "debt") else "other"


class Fund(BaseModel):
    """One mutual fund holding: units (fractional), NAV and value in INR at ``nav_date``."""

    scheme: str
    isin: str | None = None
    units: float = Field(gt=0)
    nav: float = Field(gt=0)
    value: float
    cost: float | None = None
    category: str
    folio: str | None = None
    amc: str | None = None
    nav_date: dt.date | None = None
    amfi: str | None = None

    @property
    def average_price(self) -> float | None:
        """Cost per unit in INR, when the source gives the cost."""
        return self.cost / self.units if self.cost else None


class FundPortfolio(BaseModel):
    """Mutual fund holdings with their source (``kite:mf``, ``cas:CAMS`` ...) and statement date."""

    name: str
    funds: list[Fund]
    source: str
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def value(self) -> float:
        """Total value in INR."""
        return float(sum(f.value for f in self.funds))

    def category_weights(self) -> dict[str, float]:
        """Value weight per category (sums to 1), largest first."""
        total = self.value
        out: dict[str, float] = {}
        for f in self.funds:
            out[f.category] = out.get(f.category, 0.0) + f.value / total
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def to_records(self) -> list[dict]:
        """JSON-ready dicts, one per fund (``average_price`` added when known)."""
        return [{**f.model_dump(mode="json", exclude_none=True),
                 **({"average_price": round(f.average_price, 4)} if f.average_price else {})} for f in self.funds]


def _num(value) -> float | None:
    try:
        return float(value) if value is not None and str(value).strip() != "" else None
    except (TypeError, ValueError):
        return None


def funds_from_kite(holdings: Iterable[Mapping], name: str = "kite-mf") -> FundPortfolio:
    """Kite ``/mf/holdings`` rows (``fund``, ``tradingsymbol`` = ISIN, ``folio``, ``quantity`` units,
    ``average_price``, ``last_price`` NAV, ``last_price_date``) as a :class:`FundPortfolio`; rows with no
    units are skipped and named in ``metadata["skipped"]``."""
    funds, skipped = [], []
    for h in holdings:
        units, nav = _num(h.get("quantity")), _num(h.get("last_price"))
        scheme = str(h.get("fund") or h.get("tradingsymbol") or "")
        if not units or units <= 0 or not nav or nav <= 0:
            skipped.append(scheme)
            continue
        avg = _num(h.get("average_price"))
        day = h.get("last_price_date")
        funds.append(Fund(scheme=scheme, isin=h.get("tradingsymbol"), units=units, nav=nav, value=round(units * nav, 2),
                          cost=units * avg if avg else None, category=fund_category(scheme),
                          folio=h.get("folio"), nav_date=dt.date.fromisoformat(str(day)[:10]) if day else None))
    if not funds:
        raise InputError("The Kite account holds no mutual fund units.", fix="Use the equity holdings (portfolio "
                         '"kite") or import a CAS statement.', skipped=skipped or None)
    return FundPortfolio(name=name, funds=funds, source="kite:mf", metadata={"skipped": skipped} if skipped else {})


def _password(password: str | None, where: str) -> str:
    if password:
        return password
    env = os.environ.get(PASSWORD_ENV)
    if env:
        return env
    import sys

    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"Password of {where} (usually your PAN in capitals): ")
    raise InputError(f"{where} needs its password.", fix=f"Set {PASSWORD_ENV} (usually your PAN in capitals) or "
                     "pass password=...; it is never stored.", file=where)


def load_cas(path, password: str | None = None, *, name: str | None = None) -> FundPortfolio:
    """The mutual funds in a CAS PDF (CAMS / KFintech detailed or summary, NSDL / CDSL), parsed by
    ``casparser``. Errors name the file by its file name: a wrong password, a PDF that is not a CAS."""
    from pathlib import Path

    file = Path(path).expanduser()
    where = file.name
    if not file.is_file():
        raise InputError(f"CAS file {where} does not exist.", fix="Check the path of the CAS PDF.", file=where)
    import casparser
    from casparser.exceptions import CASParseError, IncorrectPasswordError, ParserException

    secret = _password(password, where)
    try:
        data = casparser.read_cas_pdf(str(file), secret)
    except IncorrectPasswordError:
        raise InputError(f"{where}: the password is wrong.", fix=f"Use the CAS password (usually your PAN in "
                         f"capitals) in {PASSWORD_ENV} or the prompt.", file=where, code="cas_password") from None
    except (CASParseError, ParserException) as exc:
        raise InputError(f"{where} is not a CAMS / KFintech / NSDL / CDSL Consolidated Account Statement "
                         f"({type(exc).__name__}).", fix="Download the CAS PDF again (camsonline.com, "
                         "kfintech.com, NSDL or CDSL) and import it unchanged.", file=where, code="not_cas") from None
    finally:
        del secret
    return _funds_from_cas(data, name or file.stem)


def _funds_from_cas(data, name: str) -> FundPortfolio:
    funds: list[Fund] = []
    kind = getattr(getattr(data, "file_type", None), "value", str(getattr(data, "file_type", "")))
    for folio in getattr(data, "folios", []) or []:
        for s in folio.schemes:
            units, nav = _num(s.close), _num(s.valuation.nav)
            if not units or units <= 0 or not nav:
                continue
            day = s.valuation.date
            funds.append(Fund(scheme=s.scheme, isin=s.isin, units=units, nav=nav, value=float(s.valuation.value),
                              cost=_num(s.valuation.cost), category=fund_category(s.scheme, s.type), folio=folio.folio,
                              amc=folio.amc, amfi=s.amfi, nav_date=day if isinstance(day, dt.date) else None))
    for account in getattr(data, "accounts", []) or []:
        for mf in account.mutual_funds:
            units, nav = _num(mf.balance), _num(mf.nav)
            if units and units > 0 and nav:
                funds.append(Fund(scheme=mf.name or mf.isin, isin=mf.isin, units=units, nav=nav, value=float(mf.value),
                                  cost=_num(mf.total_cost), category=fund_category(mf.name or "", mf.type),
                                  folio=mf.folio, amfi=mf.amfi))
    if not funds:
        raise InputError(f"The statement {name} holds no mutual fund units.", fix="Check it is the latest CAS.")
    period = getattr(data, "statement_period", None)
    meta = {"issuer": kind, "statement_to": getattr(period, "to", None)}
    return FundPortfolio(name=name, funds=funds, source=f"cas:{kind}", metadata=meta)
