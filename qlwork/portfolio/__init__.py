"""Portfolios: the model (:mod:`.model`), row validation (:mod:`.validation`), the loaders per source
(:mod:`.loaders`: samples, CSV and XLSX broker exports (:mod:`.sheets`), JSON, Kite holdings responses,
records), trade history (:mod:`.trades`, FIFO lots and Indian capital gains in :mod:`.lots`,
:mod:`.reconcile`) and mutual funds (:mod:`.funds`: Kite MF holdings, CAS PDFs).

``load_portfolio(source)`` is the one entry point; everything else here is for tools that parse files.
"""

from .funds import FUND_CATEGORIES, Fund, FundPortfolio, fund_category, load_cas
from .loaders import (SAMPLES_DIR, load_portfolio, portfolio_from_csv_text, portfolio_from_json,
                      portfolio_from_xlsx, sample_portfolios)
from .trades import Trade, load_trades
from .model import VALUATION_COLUMNS, Holding, Portfolio
from .validation import ALIASES, EXPECTED_HEADER, REQUIRED_FIELDS, RowProblems, normalise_header

__all__ = ["FUND_CATEGORIES", "Fund", "FundPortfolio", "Trade", "fund_category", "load_cas", "load_trades",
           "portfolio_from_xlsx", "ALIASES", "EXPECTED_HEADER", "REQUIRED_FIELDS", "SAMPLES_DIR", "VALUATION_COLUMNS", "Holding", "Portfolio",
           "RowProblems", "load_portfolio", "normalise_header", "portfolio_from_csv_text", "portfolio_from_json",
           "sample_portfolios"]
