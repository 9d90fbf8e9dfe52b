"""Shared test set-up: the local fake servers in tests/servers/ import as top-level modules
(``import fake_kite``, ``import fake_model``); tests are not a package (importlib mode)."""

import sys
from pathlib import Path

SERVERS = str(Path(__file__).resolve().parent / "servers")
if SERVERS not in sys.path:
    sys.path.insert(0, SERVERS)
