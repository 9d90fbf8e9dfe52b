"""Portfolios: the model (:mod:`.model`), row validation (:mod:`.validation`) and the loaders per source
(:mod:`.loaders`: samples, CSV, JSON, Kite holdings responses, records).

``load_portfolio(source)`` is the one entry point; everything else here is for tools that parse files.
"""

from .loaders import (SAMPLES_DIR, load_portfolio, portfolio_from_csv_text, portfolio_from_json,
                      sample_portfolios)
from .model import VALUATION_COLUMNS, Holding, Portfolio
from .validation import ALIASES, EXPECTED_HEADER, REQUIRED_FIELDS, RowProblems, normalise_header

__all__ = ["ALIASES", "EXPECTED_HEADER", "REQUIRED_FIELDS", "SAMPLES_DIR", "VALUATION_COLUMNS", "Holding", "Portfolio",
           "RowProblems", "load_portfolio", "normalise_header", "portfolio_from_csv_text", "portfolio_from_json",
           "sample_portfolios"]
