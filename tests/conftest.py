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


@pytest.fixture
def readable_copy():
    """``readable_copy(html)`` copies ``html`` where the report printer's browser can read it: the system
    Chromium may run as the unprivileged sandbox uid (QLWORK_SANDBOX_UID, qlwork/reports/_chromium_as_user.py)
    and pytest's tmp dirs are 0700. Only the one file is copied (a page loading siblings would need more);
    the copies are removed after the test."""
    import shutil
    import tempfile

    folders: list[Path] = []

    def copy(html: Path) -> Path:
        folder = Path(tempfile.mkdtemp(prefix="qlwork-report-view-"))
        folders.append(folder)
        folder.chmod(0o711)
        target = folder / Path(html).name
        shutil.copyfile(html, target)
        target.chmod(0o644)
        return target

    yield copy
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


# -- PostgreSQL: one throwaway cluster per test session (tests/servers/pg_cluster.py) ---------------
_PG: dict = {}


@pytest.fixture(autouse=True)
def _fresh_capabilities():
    """What model servers refused is remembered per process (backends/capabilities.py); each test
    starts from nothing learnt (a fake server's port may be reused by a later test)."""
    from qlwork.assistant.backends import capabilities

    capabilities.forget()
    yield
    capabilities.forget()


@pytest.fixture(scope="session")
def pg_cluster():
    """A PostgreSQL server on 127.0.0.1 for the session; skips (loudly, with the reason, repeated in
    the summary) when none can start here."""
    if "error" in _PG:
        pytest.skip(f"PostgreSQL tests SKIPPED: {_PG['error']}")
    if "cluster" not in _PG:
        import pg_cluster as pg
        try:
            _PG["cluster"] = pg.Cluster()
        except Exception as exc:  # no binaries, cannot run as root, ...
            _PG["error"] = str(exc)
            pytest.skip(f"PostgreSQL tests SKIPPED: {exc}")
    yield _PG["cluster"]


def pytest_sessionfinish(session):
    if "cluster" in _PG:
        _PG.pop("cluster").stop()


def pytest_terminal_summary(terminalreporter):
    if "error" in _PG:
        terminalreporter.write_line(f"WARNING: PostgreSQL store tests were SKIPPED: {_PG['error']}", yellow=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """Where a store lives, for tests that run on both backends: an SQLite file path, or the URL of
    a fresh database on the session's PostgreSQL cluster."""
    if request.param == "sqlite":
        return str(tmp_path / "test.db")
    return request.getfixturevalue("pg_cluster").new_database()
