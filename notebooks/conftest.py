"""nbval runs the notebooks against a fresh, private qlwork home so stored outputs are reproducible
(no earlier thread or weekly review of the same user can change "change since last week")."""

from __future__ import annotations

import os
import shutil
import tempfile

_HOME = tempfile.mkdtemp(prefix="qlwork-nbval-")
os.environ["QLWORK_HOME"] = _HOME  # inherited by the kernels nbval starts


def pytest_unconfigure(config):
    shutil.rmtree(_HOME, ignore_errors=True)
