"""The weekly report batch: papermill runs ``notebooks/portfolio_review.ipynb`` once per user.

- :mod:`.batch`  users.toml, input hashes, executors (local threads, Dask), manifest; :func:`run_batch`
- :mod:`.job`    one user's job: a kernel, papermill, the HTML render, the result read back
- :mod:`.index`  the dated ``index.html`` that links every user's report

The review each notebook runs lives in :mod:`qlwork.review`; this package only schedules and files it.
"""

from .batch import DEFAULT_USERS, BatchResult, UserConfig, default_notebook, inputs_hash, load_users, run_batch

__all__ = ["DEFAULT_USERS", "BatchResult", "UserConfig", "default_notebook", "inputs_hash", "load_users", "run_batch"]
