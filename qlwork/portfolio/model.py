"""Holding and Portfolio: the validated model of a portfolio and its valuation against prices.

Prices in INR; quantities in shares; weights are fractions of market value (sum 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import InputError
from ..symbols import normalise_symbol

VALUATION_COLUMNS = ["symbol", "quantity", "average_price", "last_price", "invested", "market_value", "weight",
                     "pnl", "pnl_pct", "sector"]
"""Columns of :meth:`Portfolio.valuation`."""

FLOAT_FIELDS = ("average_price", "last_price", "close_price", "pnl", "day_change", "day_change_percentage")


class Holding(BaseModel):
    """One position, in Kite's holdings shape. Only ``tradingsymbol``, ``quantity`` and
    ``average_price`` are needed; ``close_price``, ``pnl`` and the day-change fields are carried but
    never used for valuation."""

    model_config = ConfigDict(extra="ignore")

    tradingsymbol: str
    exchange: str = "NSE"
    quantity: int = Field(gt=0)
    average_price: float = Field(gt=0)
    last_price: float | None = Field(default=None, gt=0)
    instrument_token: int | None = None
    isin: str | None = None
    product: str = "CNC"
    close_price: float | None = None
    pnl: float | None = None
    day_change: float | None = None
    day_change_percentage: float | None = None

    @field_validator("tradingsymbol")
    @classmethod
    def _symbol(cls, v: str) -> str:
        v = normalise_symbol(v)
        if not v:
            raise ValueError("tradingsymbol is empty")
        return v

    @field_validator("exchange")
    @classmethod
    def _exchange(cls, v: str) -> str:
        return (v or "NSE").strip().upper()

    @field_validator("average_price", "last_price")
    @classmethod
    def _finite(cls, v):
        if v is not None and not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class Portfolio(BaseModel):
    """A named set of holdings (one row per symbol)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    holdings: list[Holding]
    source: str = "records"
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> "Portfolio":
        if not self.holdings:
            raise ValueError("a portfolio needs at least one holding")
        seen: set[str] = set()
        for h in self.holdings:
            if h.tradingsymbol in seen:
                raise ValueError(f"duplicate holding {h.tradingsymbol}")
            seen.add(h.tradingsymbol)
        return self

    # basic views
    @property
    def symbols(self) -> list[str]:
        return [h.tradingsymbol for h in self.holdings]

    @property
    def quantities(self) -> np.ndarray:
        return np.array([h.quantity for h in self.holdings], dtype=np.int64)

    @property
    def average_prices(self) -> np.ndarray:
        return np.array([h.average_price for h in self.holdings], dtype=float)

    def __len__(self) -> int:
        return len(self.holdings)

    # valuation
    def _prices(self, prices) -> np.ndarray:
        lookup: dict[str, float] = {}
        if prices is not None:
            items = prices.items() if isinstance(prices, (Mapping, pd.Series)) else None
            if items is None:
                raise InputError(f"prices must be a mapping or a pandas Series, not {type(prices).__name__}.",
                                 fix="Pass e.g. {'TCS': 3150.0} or close_prices(...).iloc[-1].")
            lookup = {normalise_symbol(k): v for k, v in items}
        out = np.empty(len(self.holdings), dtype=float)
        missing, bad = [], []
        for i, h in enumerate(self.holdings):
            value = lookup.get(h.tradingsymbol, h.last_price)
            try:
                value = float(value) if value is not None else math.nan
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value) and h.last_price is not None:
                value = float(h.last_price)
            if not math.isfinite(value):
                missing.append(h.tradingsymbol)
            elif value <= 0:
                bad.append(f"{h.tradingsymbol}={value}")
            out[i] = value
        if missing:
            raise InputError(f"No price for {', '.join(missing)} in portfolio {self.name!r}.",
                             fix="Pass prices for every holding (e.g. market.close_prices(symbols).iloc[-1]) "
                                 "or include last_price in the holdings.", missing=missing)
        if bad:
            raise InputError(f"Non-positive price for {', '.join(bad)} in portfolio {self.name!r}.",
                             fix="Prices must be greater than zero.")
        return out

    def valuation(self, prices: Mapping[str, float] | pd.Series | None = None,
                  sectors: Mapping[str, str] | None = None) -> pd.DataFrame:
        """One row per holding with :data:`VALUATION_COLUMNS`.

        ``last_price`` comes from ``prices`` (which override each holding's ``last_price``); a holding
        with neither raises :class:`InputError` naming it. ``invested = quantity * average_price``,
        ``market_value = quantity * last_price``, ``weight = market_value / total`` (sums to 1),
        ``pnl = (last_price - average_price) * quantity``, ``pnl_pct = pnl / invested`` (a fraction,
        0.05 = 5%). ``sector`` from ``sectors`` or ``"Unknown"``.
        """
        last = self._prices(prices)
        qty = self.quantities.astype(float)
        avg = self.average_prices
        invested = qty * avg
        value = qty * last
        pnl = value - invested
        sec = {normalise_symbol(k): str(v) for k, v in (sectors or {}).items()}
        frame = pd.DataFrame({
            "symbol": self.symbols,
            "quantity": self.quantities,
            "average_price": avg,
            "last_price": last,
            "invested": invested,
            "market_value": value,
            "weight": value / value.sum(),
            "pnl": pnl,
            "pnl_pct": pnl / invested,
            "sector": [sec.get(s, "Unknown") for s in self.symbols],
        }, columns=VALUATION_COLUMNS)
        frame.attrs["portfolio"] = self.name
        return frame

    def weights(self, prices: Mapping[str, float] | pd.Series | None = None) -> pd.Series:
        """Market-value weights by symbol (sum to 1)."""
        val = self.valuation(prices)
        return pd.Series(val["weight"].to_numpy(), index=pd.Index(val["symbol"], name="symbol"), name="weight")

    def market_value(self, prices: Mapping[str, float] | pd.Series | None = None) -> float:
        """Total market value in INR."""
        return float(self.valuation(prices)["market_value"].sum())

    def sector_exposure(self, prices: Mapping[str, float] | pd.Series | None = None,
                        sectors: Mapping[str, str] | None = None) -> dict[str, float]:
        """Weight per sector (sums to 1), largest first."""
        val = self.valuation(prices, sectors)
        grouped = val.groupby("sector", sort=False)["weight"].sum().sort_values(ascending=False)
        return {str(k): float(v) for k, v in grouped.items()}

    def to_records(self) -> list[dict]:
        """Holdings as JSON-ready dicts (None fields dropped)."""
        return [h.model_dump(exclude_none=True) for h in self.holdings]

    def to_dict(self) -> dict:
        """``{"name", "source", "metadata", "holdings"}``: JSON-ready, loadable by :func:`load_portfolio`."""
        return {"name": self.name, "source": self.source, "metadata": dict(self.metadata),
                "holdings": self.to_records()}


# ---------------------------------------------------------------------------------------------
# samples
