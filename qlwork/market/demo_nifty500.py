"""The demo provider's wider universe (synthetic): the rest of the bundled NIFTY 500 list and the indices.

:mod:`.demo` generates the 56 core stocks and NIFTY 50 from :data:`.demo.DEMO_SEED`; nothing here changes
a number of them. This module prices the other ~446 symbols of ``qlwork/data/nse/ind_nifty500list.csv``
from a **separate** seeded stream (``default_rng([seed, EXTRA_STREAM])``), sharing only the core's market
factor and regimes (so they move with the same synthetic market), and builds the benchmark indices of
:data:`INDICES` as buy-and-hold cap-weighted baskets of their (synthetic) constituents.

Everything here is synthetic: price levels, market caps and index memberships are drawn from the seed,
not taken from NSE (the list supplies only symbols, company names and industries). Memberships follow
NSE's rules in shape only: NIFTY 500 is every stock of the list; NIFTY MIDCAP 150 and NIFTY SMALLCAP
250 are the 51st-200th and 201st-450th stocks by synthetic market cap; the sectoral indices take the
stocks of their NSE industry (NIFTY BANK: the banks). Generated once per process per seed, lazily: a
question about the core 56 never pays for this.
"""

from __future__ import annotations

import csv
import functools
import threading
from dataclasses import dataclass

import numpy as np

from ..config import BENCHMARK
from .base import round_to_tick
from .sectors import BUNDLED

EXTRA_STREAM = 500
"""Second key of the extra symbols' seed sequence (``[seed, 500]``): independent of the core stream."""

# NSE industry -> (beta to market, industry-factor daily vol, idiosyncratic daily vol, annual alpha)
INDUSTRY_PARAMS: dict[str, tuple[float, float, float, float]] = {
    "Information Technology": (0.85, 0.0080, 0.0150, 0.010),
    "Financial Services": (1.15, 0.0075, 0.0140, 0.005),
    "Healthcare": (0.65, 0.0075, 0.0145, 0.005),
    "Fast Moving Consumer Goods": (0.60, 0.0055, 0.0120, 0.005),
    "Automobile and Auto Components": (1.05, 0.0070, 0.0145, 0.005),
    "Capital Goods": (1.10, 0.0080, 0.0160, 0.010),
    "Chemicals": (0.95, 0.0075, 0.0155, 0.005),
    "Consumer Durables": (0.95, 0.0070, 0.0150, 0.005),
    "Consumer Services": (1.00, 0.0080, 0.0170, 0.005),
    "Oil Gas & Consumable Fuels": (0.90, 0.0070, 0.0140, -0.005),
    "Power": (0.95, 0.0075, 0.0150, 0.005),
    "Metals & Mining": (1.30, 0.0100, 0.0160, -0.005),
    "Construction Materials": (1.00, 0.0070, 0.0140, 0.000),
    "Construction": (1.10, 0.0080, 0.0160, 0.000),
    "Realty": (1.35, 0.0110, 0.0190, 0.000),
    "Telecommunication": (0.85, 0.0075, 0.0170, 0.000),
    "Textiles": (0.95, 0.0080, 0.0170, -0.005),
    "Services": (1.00, 0.0080, 0.0165, 0.000),
    "Media Entertainment & Publication": (1.00, 0.0090, 0.0190, -0.010),
    "Forest Materials": (0.90, 0.0080, 0.0170, 0.000),
    "Diversified": (0.95, 0.0070, 0.0150, 0.000),
}
DEFAULT_PARAMS = (1.0, 0.0080, 0.0160, 0.0)

# index -> (synthetic level at DEMO_AS_OF, membership rule); NIFTY 50 itself stays in :mod:`.demo`
INDICES: dict[str, tuple[float, str]] = {
    "NIFTY 500": (23_600.0, "all"),
    "NIFTY BANK": (58_200.0, "bank"),
    "NIFTY IT": (36_400.0, "industry:Information Technology"),
    "NIFTY MIDCAP 150": (21_700.0, "rank:50:200"),
    "NIFTY SMALLCAP 250": (16_900.0, "rank:200:450"),
    "NIFTY PHARMA": (22_300.0, "industry:Healthcare"),
    "NIFTY AUTO": (26_800.0, "industry:Automobile and Auto Components"),
    "NIFTY FMCG": (55_600.0, "industry:Fast Moving Consumer Goods"),
}
"""The benchmark indices the demo provider prices besides NIFTY 50 (levels approximate, synthetic)."""
INDEX_TOKENS = {name: 257_000 + 256 * i + 9 for i, name in enumerate(INDICES)}


@dataclass(frozen=True)
class ListedStock:
    symbol: str
    name: str
    industry: str
    isin: str


@functools.lru_cache(maxsize=1)
def nifty500_list() -> tuple[ListedStock, ...]:
    """The bundled NIFTY 500 list (``qlwork/data/nse``), in file order."""
    with open(BUNDLED, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    return tuple(ListedStock(r["Symbol"].strip(), r["Company Name"].strip(), r["Industry"].strip(),
                             r["ISIN Code"].strip()) for r in rows if r.get("Symbol"))


def extra_stocks(core: tuple[str, ...]) -> tuple[ListedStock, ...]:
    """The listed stocks not in the core universe ``core``, in file order."""
    have = set(core)
    return tuple(s for s in nifty500_list() if s.symbol not in have)


@dataclass(frozen=True)
class ExtraStatic:
    """What is known without generating a series: symbols, levels at DEMO_AS_OF (INR), synthetic caps."""

    stocks: tuple[ListedStock, ...]
    level: np.ndarray  # (K,) INR at DEMO_AS_OF
    market_cap: np.ndarray  # (K,) synthetic, INR crore
    cap: tuple[str, ...]  # "large" | "mid" | "small" by synthetic cap rank among all listed stocks


@functools.lru_cache(maxsize=4)
def extra_static(seed: int, core: tuple[str, ...], core_caps: tuple[float, ...]) -> ExtraStatic:
    """Levels and synthetic caps of the extra stocks; ``core_caps`` are the core stocks' synthetic caps
    (in ``core`` order, 0 for the ETF), so ranks are taken over the whole list."""
    stocks = extra_stocks(core)
    rng = np.random.default_rng([seed, EXTRA_STREAM, 0])
    k = len(stocks)
    level = np.round(np.exp(rng.normal(np.log(850.0), 1.05, k)).clip(15.0, 30_000.0) / 0.05) * 0.05
    market_cap = np.exp(rng.normal(np.log(25_000.0), 1.0, k)).clip(2_000.0, 400_000.0)
    listed = {s.symbol for s in nifty500_list()}
    ranked = sorted([(c, s) for s, c in zip(core, core_caps) if s in listed and c > 0]
                    + [(c, s.symbol) for s, c in zip(stocks, market_cap)], reverse=True)
    rank = {s: i for i, (_, s) in enumerate(ranked)}
    cap = tuple("large" if rank[s.symbol] < 100 else "mid" if rank[s.symbol] < 250 else "small" for s in stocks)
    return ExtraStatic(stocks=stocks, level=level, market_cap=market_cap, cap=cap)


def members(rule: str, symbols: list[str], industries: list[str], names: list[str],
            caps: np.ndarray) -> np.ndarray:
    """Boolean mask of the stocks an index rule takes (see :data:`INDICES`); ``caps`` synthetic."""
    n = len(symbols)
    if rule == "all":
        return np.ones(n, dtype=bool)
    if rule == "bank":
        return np.array([ind == "Financial Services" and " bank" in f" {nm.lower()}"
                         for ind, nm in zip(industries, names)])
    if rule.startswith("industry:"):
        want = rule.split(":", 1)[1]
        return np.array([ind == want for ind in industries])
    lo, hi = (int(x) for x in rule.split(":")[1:])
    order = np.argsort(-caps, kind="stable")
    mask = np.zeros(n, dtype=bool)
    mask[order[lo:hi]] = True
    return mask


def generate_extra(seed: int, days: np.ndarray, at: int, market: np.ndarray, regime: np.ndarray,
                   static: ExtraStatic, tick: float) -> dict[str, np.ndarray]:
    """OHLCV (T, K) of the extra stocks, vectorised: ``r = beta*m + industry factor + noise + jumps``,
    detrended to a plausible growth and calibrated so the close at row ``at`` is the static level.
    ``market`` and ``regime`` are the core universe's (shared), everything else comes from the extra
    stream. Volume in shares."""
    rng = np.random.default_rng([seed, EXTRA_STREAM, 1])
    n_days, k = len(days), len(static.stocks)
    industries = sorted({s.industry for s in static.stocks})
    ind_idx = np.array([industries.index(s.industry) for s in static.stocks])
    params = np.array([INDUSTRY_PARAMS.get(s.industry, DEFAULT_PARAMS) for s in static.stocks])
    small = np.array([c == "small" for c in static.cap])
    stress = np.where(regime == 1, 1.5, 1.0)[:, None]
    beta = params[:, 0] * np.exp(rng.normal(0.0, 0.15, k))
    idio = 0.75 * params[:, 2] * np.exp(rng.normal(0.0, 0.2, k)) * np.where(small, 1.25, 1.0)
    ind_vol = np.array([INDUSTRY_PARAMS.get(i, DEFAULT_PARAMS)[1] for i in industries])
    f = rng.standard_normal((n_days, len(industries))) * ind_vol * stress
    e = rng.standard_normal((n_days, k)) * idio * stress
    jumps = (rng.random((n_days, k)) < np.where(small, 0.02, 0.008)) * rng.standard_normal((n_days, k)) * 0.04
    r = beta * market[:, None] + f[:, ind_idx] + e + jumps
    r[0] = 0.0
    growth = np.clip(1.1 + params[:, 3] * 10 + 0.6 * rng.standard_normal(k), -0.4, 2.8)
    r[1:] += (growth - r[1:at + 1].sum(axis=0)) / at
    logc = np.cumsum(r, axis=0)
    logc += np.log(static.level) - logc[at]
    r = np.diff(logc, axis=0, prepend=logc[:1])
    sig = np.sqrt((beta * market.std()) ** 2 + (params[:, 1] ** 2 + idio ** 2) * stress ** 2)
    overnight = 0.3 * (r - jumps) + 0.25 * sig * rng.standard_normal((n_days, k)) + jumps
    overnight[0] = 0.0
    logo = np.vstack([logc[:1], logc[:-1]]) + overnight
    logh = np.maximum(logo, logc) + np.abs(rng.standard_normal((n_days, k))) * 0.45 * sig
    logl = np.minimum(logo, logc) - np.abs(rng.standard_normal((n_days, k))) * 0.45 * sig
    close = np.exp(logc)
    turnover = static.market_cap * 1e7 * 0.002 * np.exp(rng.normal(0, 0.4, k))  # ~0.2% of cap a day
    years = (days - days[at]).astype(np.float64) / 365.25
    volume = turnover * np.exp(0.09 * years)[:, None] / close * np.exp(0.3 * rng.standard_normal((n_days, k)))
    volume = np.maximum(np.ceil(volume * stress * (0.7 + 0.35 * np.minimum(np.abs(r) / sig, 6.0))), 1)
    o, h, lo_, c = (round_to_tick(np.exp(x), tick) for x in (logo, logh, logl, logc))
    lo_ = np.maximum(lo_, tick)
    h = np.maximum(h, np.maximum(o, c))
    lo_ = np.minimum(lo_, np.minimum(o, c))
    return {"open": o, "high": h, "low": lo_, "close": c, "volume": volume.astype(np.int64)}


def index_series(raw: dict[str, np.ndarray], masks: dict[str, np.ndarray], caps: np.ndarray, at: int,
                 tick: float) -> dict[str, np.ndarray]:
    """OHLCV (T, len(INDICES)) of the indices: buy-and-hold baskets weighted by synthetic cap at row
    ``at`` and calibrated to their :data:`INDICES` level there; volume is the members' total."""
    w = np.column_stack([np.where(masks[name], caps, 0.0) for name in INDICES])  # (N, I)
    levels = np.array([level for level, _ in INDICES.values()])
    units = levels * (w / w.sum(axis=0)) / raw["close"][at][:, None]  # index points per share
    out = {key: raw[key] @ units for key in ("open", "high", "low", "close")}  # one product per field
    vol = np.rint(raw["volume"].astype(float) @ (w > 0)).astype(np.int64)
    rounded = {k: round_to_tick(v, tick) for k, v in out.items()}
    rounded["high"] = np.maximum(rounded["high"], np.maximum(rounded["open"], rounded["close"]))
    rounded["low"] = np.minimum(rounded["low"], np.minimum(rounded["open"], rounded["close"]))
    rounded["volume"] = vol
    return rounded


def index_names() -> tuple[str, ...]:
    """NIFTY 50 and every index of :data:`INDICES`."""
    return (BENCHMARK, *INDICES)


# -- the wider universe as one object of the core's type ----------------------------------------
CORE_CAP_PER_WEIGHT = 60_000.0
"""Synthetic market cap (INR crore) of a core stock per percent of NIFTY 50 weight (15,000 for the rest)."""


def _core_caps(core) -> tuple[float, ...]:
    inst = core.instruments.set_index("tradingsymbol")
    weights = {s: w * 100 for s, w in core.index_weights.items()}
    return tuple(0.0 if inst.at[s, "cap"] == "etf" else weights.get(s, 0.25) * CORE_CAP_PER_WEIGHT
                 for s in core.symbols[:-1])


@functools.lru_cache(maxsize=4)
def _listed(core_symbols: tuple[str, ...], core_names: tuple[tuple[str, str], ...]):
    stocks = extra_stocks(core_symbols)
    known = (*core_symbols, *(s.symbol for s in stocks), *INDICES)
    names = dict(core_names) | {s.symbol: s.name.upper() for s in stocks} | {i: i for i in INDICES}
    return known, names


def listed_names(core) -> tuple[tuple[str, ...], dict[str, str]]:
    """``(every symbol the demo prices, {symbol: company name})`` without generating a series."""
    return _listed(core.symbols, tuple(core.names.items()))


def _instruments(core, seed: int, tick: float, provider: str):
    """The wider instrument list without generating a series: a stock's close at the calibration date is its
    static level, an index's is its :data:`INDICES` level (both tick-rounded by construction)."""
    import pandas as pd

    from .base import INSTRUMENT_COLUMNS, mark, round_to_tick

    static = extra_static(seed, core.symbols[:-1], _core_caps(core))
    rows = [dict(r) for r in core.instruments.to_dict("records")]
    for i, (s, c, level) in enumerate(zip(static.stocks, static.cap, round_to_tick(static.level, tick))):
        token = 20_000 + 7 * i
        rows.append({"instrument_token": token * 256 + 1, "exchange_token": token, "tradingsymbol": s.symbol,
                     "name": s.name.upper(), "last_price": float(level), "expiry": None, "strike": 0.0,
                     "tick_size": tick, "lot_size": 1, "instrument_type": "EQ", "segment": "NSE", "exchange": "NSE",
                     "sector": s.industry, "cap": c})
    for name, (level, _) in INDICES.items():
        rows.append({"instrument_token": INDEX_TOKENS[name], "exchange_token": INDEX_TOKENS[name] // 256,
                     "tradingsymbol": name, "name": name, "last_price": float(round_to_tick(level, tick)),
                     "expiry": None, "strike": 0.0, "tick_size": 0.0, "lot_size": 0, "instrument_type": "INDEX",
                     "segment": "INDICES", "exchange": "NSE", "sector": "Index", "cap": "index"})
    return mark(pd.DataFrame(rows, columns=INSTRUMENT_COLUMNS + ["cap"]), provider, True)


def _extended(core, seed: int, as_of, tick: float, provider: str):
    import dataclasses

    core_n = len(core.symbols) - 1  # stock columns before NIFTY 50
    static, symbols, caps, masks = _memberships(core, seed)
    at = int(np.searchsorted(core.days, np.datetime64(as_of, "D")))
    extra = generate_extra(seed, core.days, at, core.market, core.regime, static, tick)
    stocks = {k: np.column_stack([getattr(core, k)[:, :core_n], extra[k]]) for k in extra}
    idx = index_series(stocks, masks, caps, at, tick)
    arrays = {k: np.column_stack([stocks[k], getattr(core, k)[:, core_n:], idx[k]]) for k in extra}
    for arr in arrays.values():
        arr.setflags(write=False)
    all_syms = (*symbols, BENCHMARK, *INDICES)
    inst = extended_instruments(core, seed, tick, provider)
    return dataclasses.replace(core, symbols=all_syms, col={s: i for i, s in enumerate(all_syms)},
                               instruments=inst, names=dict(zip(inst["tradingsymbol"], inst["name"])),
                               **arrays)


def _memberships(core, seed: int):
    """(extra statics, stock symbols in column order, synthetic caps, {index: member mask})."""
    from .sectors import bundled_industries, industry_of

    core_n = len(core.symbols) - 1
    static = extra_static(seed, core.symbols[:-1], _core_caps(core))
    inst_core = core.instruments.iloc[:core_n]
    symbols = [*inst_core["tradingsymbol"], *(s.symbol for s in static.stocks)]
    names = [*inst_core["name"], *(s.name.upper() for s in static.stocks)]
    table = bundled_industries()
    industries = [*(industry_of(s, table=table) for s in inst_core["tradingsymbol"]),
                  *(s.industry for s in static.stocks)]
    caps = np.array([*_core_caps(core), *static.market_cap])
    masks = {name: members(rule, symbols, industries, names, caps) for name, (_, rule) in INDICES.items()}
    return static, symbols, caps, masks


def index_weights(core, seed: int, index: str) -> dict[str, float]:
    """``{symbol: weight}`` (sum 1) of an index of :data:`INDICES` at the calibration date: synthetic
    cap weights of its members (no series is generated)."""
    _, symbols, caps, masks = _memberships(core, seed)
    w = np.where(masks[index], caps, 0.0)
    w = w / w.sum()
    return {s: float(x) for s, x in zip(symbols, w) if x > 0}


_BUILT: dict[tuple, object] = {}
_LOCK = threading.RLock()  # extended_universe builds its instruments under the same lock


def extended_instruments(core, seed: int, tick: float, provider: str):
    """The wider instrument list (core, extra stocks, indices), cached; no series is generated."""
    key = ("instruments", id(core), seed, tick, provider)
    with _LOCK:
        if key not in _BUILT:
            _BUILT[key] = (core, _instruments(core, seed, tick, provider))
        return _BUILT[key][1]


def extended_universe(core, seed: int, as_of, tick: float, provider: str):
    """The core universe plus the extra stocks and the indices, as the core's own dataclass (columns:
    core stocks, extra stocks, NIFTY 50, :data:`INDICES`; the core's columns unchanged). Built once per
    process per (core, seed); ``as_of`` is the calibration date of the levels."""
    key = (id(core), seed, as_of, tick, provider)
    with _LOCK:
        if key not in _BUILT:
            _BUILT[key] = (core, _extended(core, seed, as_of, tick, provider))  # core kept: its id stays valid
        return _BUILT[key][1]
