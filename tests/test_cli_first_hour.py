"""The first hour of a new user at the command line (issue 33): each input below once ended in a
traceback or in wrong advice. Run as a user would: ``python -m qlwork.cli ...`` in a subprocess, with the
exact inputs; every answer is one sentence naming the fix, and no traceback reaches the user."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from qlwork.market.as_of import check_as_of, today_in_india
from qlwork.market.base import parse_date
from qlwork.market.demo import DemoMarketData
from qlwork.errors import InputError
from qlwork.reports.batch import load_users


def qlwork(home: Path, *args: str, env: dict | None = None, stdin: str = "", timeout: float = 240):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("KITE_", "QLWORK_"))}
    environ.update({"QLWORK_HOME": str(home), "QLWORK_USER": "asha", **(env or {})})
    return subprocess.run([sys.executable, "-m", "qlwork.cli", *args], input=stdin, capture_output=True, text=True,
                          env=environ, timeout=timeout, cwd=home)


def no_traceback(result) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-2000:]


@pytest.fixture
def home(tmp_path):
    return tmp_path


# -- users.toml -----------------------------------------------------------------------------------

def test_users_toml_table_form_is_read_with_the_key_as_user_id(tmp_path):
    config = tmp_path / "users.toml"
    config.write_text('[defaults]\nrisk_profile = "aggressive"\n\n[users.asha]\nportfolio = "sample:concentrated"\n\n'
                      '[users.dev]\nportfolio = "sample:diversified"\nrisk_profile = "moderate"\n')
    users = load_users(config)
    assert [(u.user_id, u.portfolio, u.risk_profile) for u in users] == [
        ("asha", "sample:concentrated", "aggressive"), ("dev", "sample:diversified", "moderate")]


@pytest.mark.parametrize("text, expected", [
    ('[users]\nasha = "sample:concentrated"\n', 'users.asha = \'sample:concentrated\' is not a table of settings. '
                                                'Fix: Write [users.asha] with portfolio = "..." under it'),
    ('users = "asha"\n', "users must be [[users]] tables (or [users.<id>] tables), got str."),
    ('[users.asha]\nuser_id = "dev"\nportfolio = "sample:diversified"\n', "[users.asha] says user_id = 'dev'."),
])
def test_users_toml_wrong_shapes_say_the_expected_shape(home, text, expected):
    (home / "users.toml").write_text(text)
    result = qlwork(home, "reports", "run", "--as-of", "2026-11-20", "--config", "users.toml", "--no-progress")
    assert result.returncode == 2
    assert expected in result.stderr
    no_traceback(result)


# -- qlwork serve on a busy port; threads show | head ------------------------------------------------

def test_serve_on_a_busy_port_answers_in_one_sentence(home):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = qlwork(home, "serve", "--port", str(port))
    assert result.returncode == 2
    assert (f"qlwork: error: Port {port} on 127.0.0.1 is already in use (another qlwork serve, or another program). "
            f"Fix: Stop that program, or pass another port: --port {port + 1}.") in result.stderr
    no_traceback(result)


def test_threads_show_into_a_closed_pipe_ends_quietly(home):
    demo = qlwork(home, "demo")
    assert demo.returncode == 0, demo.stderr
    thread_id = demo.stdout.rsplit("qlwork threads show ", 1)[1].split()[0]
    environ = {**os.environ, "QLWORK_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "qlwork.cli", "threads", "show", thread_id], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=environ, cwd=home)
    assert proc.stdout.read(40).startswith(b"# Thread " + thread_id.encode())
    proc.stdout.close()  # what `| head -1` does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141  # 128 + SIGPIPE, as a shell reports a process killed by the pipe
    assert err == ""


# -- --as-of --------------------------------------------------------------------------------------

def test_as_of_before_the_data_names_the_first_usable_day_not_rate_limits(home):
    result = qlwork(home, "reports", "run", "--as-of", "2013-05-01", "--no-progress")
    assert result.returncode == 2
    assert ("as_of 2013-05-01 is too early: the demo (synthetic) prices start on 2014-01-01, and a review needs 252 "
            "trading days of prices before its date. Fix: Use 2014-12-31 or later.") in result.stderr
    assert "rate limit" not in result.stderr
    assert not (home / "reports" / "2013-05-01").exists()
    no_traceback(result)


def test_a_future_as_of_is_refused_before_any_report(home):
    future = today_in_india() + dt.timedelta(days=20)
    result = qlwork(home, "reports", "run", "--as-of", future.isoformat(), "--no-progress")
    assert result.returncode == 2
    assert f"as_of {future.isoformat()} is in the future (today is {today_in_india().isoformat()} in India)" in result.stderr
    assert not (home / "reports").exists()
    no_traceback(result)


def test_a_saturday_as_of_says_the_last_trading_day(tmp_path):
    config = tmp_path / "users.toml"
    config.write_text('[users.asha]\nportfolio = "sample:concentrated"\n')
    result = qlwork(tmp_path, "reports", "run", "--as-of", "21-11-2026", "--config", "users.toml", "--no-progress",
                    timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    note = ("2026-11-21 is a Saturday, not a trading day: prices are up to the close of Friday 2026-11-20, the last "
            "trading day before it.")
    assert f"note: {note}" in result.stderr
    html = (tmp_path / "reports" / "2026-11-21" / "asha" / "portfolio_review.html").read_text()
    assert note in html
    assert "to 2026-11-20); the active return" in html and "to 2026-11-21)" not in html
    no_traceback(result)


@pytest.mark.parametrize("text, day", [("20-11-2026", dt.date(2026, 11, 20)), ("20/11/2026", dt.date(2026, 11, 20)),
                                       ("11-11-2026", dt.date(2026, 11, 11)), ("2026-11-20", dt.date(2026, 11, 20))])
def test_day_first_dates_are_read_when_unambiguous(text, day):
    assert parse_date(text, field="as_of") == day


def test_an_ambiguous_day_first_date_offers_both_readings(home):
    result = qlwork(home, "reports", "run", "--as-of", "05-11-2026", "--no-progress")
    assert result.returncode == 2
    assert ("as_of '05-11-2026' is ambiguous: 05 Nov 2026 (dd-mm-yyyy) or 11 May 2026 (mm-dd-yyyy). Fix: Write as_of "
            "as YYYY-MM-DD: 2026-11-05 or 2026-05-11.") in result.stderr
    with pytest.raises(InputError, match="not a valid date"):
        parse_date("31-02-2026", field="as_of")
    no_traceback(result)


def test_holidays_come_from_the_demo_calendar():
    market = DemoMarketData()
    day = next(d for d in (dt.date(2026, 1, 26) + dt.timedelta(days=i) for i in range(0, 400))
               if d.weekday() < 5 and d not in set(market.trading_days(dt.date(2026, 1, 1), dt.date(2026, 12, 31)))
               and d <= today_in_india())
    checked = check_as_of(day, market)
    assert checked.trading_day < day and checked.trading_day in market.trading_days(None, day)
    assert checked.note.startswith(f"{day.isoformat()} is a {day.strftime('%A')}, not a trading day")


# -- kite login, --portfolio ------------------------------------------------------------------------

def test_kite_login_without_the_key_says_so_first(home):
    result = qlwork(home, "kite", "login", "--user", "asha")
    assert result.returncode == 2
    assert result.stdout == ""  # no "Open this URL ..." before the error
    assert result.stderr.startswith("qlwork: error: KITE_API_KEY is not set.")
    no_traceback(result)


def test_kite_login_without_the_secret_says_so_before_the_url(home):
    result = qlwork(home, "kite", "login", "--user", "asha", env={"KITE_API_KEY": "kitekey123"})
    assert result.returncode == 2
    assert "Open this URL" not in result.stdout
    assert "KITE_API_SECRET" in result.stderr
    no_traceback(result)


@pytest.mark.parametrize("command", [["chat"], ["demo"]])
def test_an_unknown_sample_portfolio_is_refused_at_start(home, command):
    result = qlwork(home, *command, "--portfolio", "sample:growth", stdin="Analyze my portfolio\n")
    assert result.returncode == 2
    assert ("qlwork: error: Unknown sample portfolio 'growth'. Fix: Use one of: sample:concentrated, "
            "sample:diversified") in result.stderr
    assert "you>" not in result.stdout  # refused before the first question
    no_traceback(result)
