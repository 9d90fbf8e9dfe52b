"""Synthetic NAV series of a few mutual fund schemes for the demo provider (mixed into
:class:`qlwork.market.demo.DemoMarketData`).

The schemes are named after real ones (so a Kite ``/mf/holdings`` response or a CAS statement matches them
by ISIN offline), but every NAV here is **synthetic**: an equity scheme follows a demo index with its own
tracking noise, a debt or liquid scheme accrues a yield with small noise, a hybrid one mixes the two;
each is calibrated to its NAV at the demo as-of date. Seeded (``[seed, FUND_STREAM]``), independent of
the stock streams. NAVs in INR per unit on the demo trading days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import BENCHMARK
from ..errors import InputError

FUND_STREAM = 600
# isin, scheme, category, NAV at the as-of date, index followed (or None), equity share, yield a year of the rest,
# noise a day
SCHEMES: tuple[tuple[str, str, str, float, str | None, float, float, float], ...] = (
    ("INF879O01027", "Parag Parikh Flexi Cap Fund - Direct Plan Growth", "equity", 88.412, "NIFTY 500", 0.95, 0.065,
     0.0035),
    ("INF179KB1HP9", "HDFC Liquid Fund - Direct Plan - Growth Option", "liquid", 5102.77, None, 0.0, 0.068, 0.00002),
    ("INF789F01XA0", "UTI Nifty 50 Index Fund - Direct Plan Growth", "index", 171.5, BENCHMARK, 1.0, 0.0, 0.0002),
    ("INF179K01WA6", "HDFC Balanced Advantage Fund - Direct Plan - Growth Option", "hybrid", 560.25, BENCHMARK, 0.6,
     0.072, 0.0015),
    ("INF109K016B1", "ICICI Prudential Corporate Bond Fund - Direct Plan - Growth", "debt", 31.2, None, 0.0, 0.074,
     0.0006),
)


class DemoFunds:
    """``fund_schemes()`` and ``fund_navs()`` for the demo provider (needs ``close_prices``, ``seed`` and
    ``default_as_of`` from it)."""

    def fund_schemes(self) -> pd.DataFrame:
        """The demo schemes: ``isin, scheme, category, nav`` (NAV at the demo as-of date; synthetic)."""
        frame = pd.DataFrame([{"isin": s[0], "scheme": s[1], "category": s[2], "nav": s[3]} for s in SCHEMES])
        frame.attrs.update(provider="demo", synthetic=True)
        return frame

    def fund_navs(self, funds, start=None, end=None) -> pd.DataFrame:
        """Daily synthetic NAVs (INR per unit) of ``funds`` (ISINs or scheme names, any case), a column per
        fund keyed by ISIN; ``attrs["synthetic"]`` is True. InputError naming the schemes it has otherwise."""
        wanted = [funds] if isinstance(funds, str) else list(funds)
        by_key = {s[0]: i for i, s in enumerate(SCHEMES)} | {s[1].upper(): i for i, s in enumerate(SCHEMES)}
        picked = []
        for f in wanted:
            i = by_key.get(str(f).strip().upper())
            if i is None:
                raise InputError(f"{f!r} is not a demo mutual fund scheme.",
                                 fix="Use one of: " + "; ".join(f"{s[0]} ({s[1]})" for s in SCHEMES), field="funds")
            picked.append(i)
        close = self.close_prices([BENCHMARK, "NIFTY 500"])  # whole range: NAVs never depend on start/end
        r_index = close.pct_change().fillna(0.0).to_numpy()
        rng = np.random.default_rng([self.seed, FUND_STREAM])
        noise = rng.standard_normal((len(close), len(SCHEMES)))
        eq = np.array([s[5] for s in SCHEMES])
        follow = np.array([0 if s[4] == BENCHMARK else 1 for s in SCHEMES])
        yld = np.array([s[6] for s in SCHEMES]) / 252.0
        vol = np.array([s[7] for s in SCHEMES])
        r = eq * r_index[:, follow] + (1.0 - eq) * yld + vol * noise
        r[0] = 0.0
        log_nav = np.cumsum(np.log1p(r), axis=0)
        at = int(np.searchsorted(close.index.tz_localize(None).values.astype("datetime64[D]"),
                                 np.datetime64(self.default_as_of, "D"), side="right")) - 1
        if at >= 0:
            log_nav += np.log([s[3] for s in SCHEMES]) - log_nav[at]
        nav = np.round(np.exp(log_nav), 4)[:, picked]
        frame = pd.DataFrame(nav, index=close.index, columns=pd.Index([SCHEMES[i][0] for i in picked], name="isin"))
        tz = close.index.tz
        frame = frame.loc[pd.Timestamp(str(start)).tz_localize(tz) if start is not None else None:
                          pd.Timestamp(str(end)).tz_localize(tz) if end is not None else None]
        frame.attrs.update(provider="demo", synthetic=True, schemes={SCHEMES[i][0]: SCHEMES[i][1] for i in picked})
        return frame
