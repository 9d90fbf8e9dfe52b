"""Shared test set-up: the local fake servers in tests/servers/ import as top-level modules
(``import fake_kite``, ``import fake_model``); tests are not a package (importlib mode)."""

import sys
from pathlib import Path

SERVERS = str(Path(__file__).resolve().parent / "servers")
if SERVERS not in sys.path:
    sys.path.insert(0, SERVERS)

import pytest


@pytest.fixture(autouse=True)
def _grounding_policy(monkeypatch):
    """Tests of the runner's mechanics script hand-written answers whose figures (a 7.5 score, 0.85
    confidence) come from no tool; they run under the ``flag`` grounding policy so a correction turn
    does not shift their scripts (the check still runs and is recorded). The grounding tests
    (tests/assistant/test_grounding*.py) set the policy they exercise, the default included."""
    monkeypatch.setenv("QLWORK_GROUNDING", "flag")
