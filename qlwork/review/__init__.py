"""The weekly portfolio review behind ``notebooks/portfolio_review.ipynb``.

- :mod:`.weekly`  :func:`run_review`: ask the assistant for the week's review, compare with last week
- :mod:`.series`  the numeric series behind the review's charts (equity, drawdown, indicator panels)
- :mod:`.render`  the review's HTML sections and figures

The notebook calls :func:`run_review` and displays what it returns; no logic lives in the notebook.
"""

from .weekly import REVIEW_KIND, REVIEW_MIME, Review, compare, effective_preferences, run_review

__all__ = ["REVIEW_KIND", "REVIEW_MIME", "Review", "compare", "effective_preferences", "run_review"]
