"""The weekly portfolio review behind ``notebooks/portfolio_review.ipynb``.

- :mod:`.weekly`  :func:`run_review`: ask the assistant for the week's review, compare with last week
- :mod:`.series`  the numeric series behind the review's charts (equity, drawdown, indicator panels)
- :mod:`.render`  the review's HTML sections and figures
- :mod:`.executive`  the first page (title, executive summary) and the appendix (run details, audit trail)

The notebook calls :func:`run_review` and displays what it returns; no logic lives in the notebook.
"""

from .weekly import REVIEW_KIND, REVIEW_MIME, Review, compare, effective_preferences, run_review

__all__ = ["REVIEW_KIND", "REVIEW_MIME", "Review", "compare", "effective_preferences", "run_review"]
