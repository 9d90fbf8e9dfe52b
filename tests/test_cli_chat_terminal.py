"""`qlwork chat` in a terminal (issue 33): wrapped to the terminal's width without breaking words or
leaving a stray blank line under a table header, colour only on a TTY (never with NO_COLOR), and
/help, /new, clear as commands rather than questions. Run as a subprocess; the TTY cases on a real pty."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from qlwork.cli.terminal import fit

QUESTIONS = "Analyze my portfolio\n/help\n/new\nclear\n/bogus\nexit\n"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _env(home, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QLWORK_", "NO_COLOR"))}
    return {**env, "QLWORK_HOME": str(home), "QLWORK_USER": "asha", "COLUMNS": "80", "LINES": "40", **extra}


def test_piped_chat_is_wrapped_plain_and_knows_its_commands(tmp_path):
    result = subprocess.run([sys.executable, "-m", "qlwork.cli", "chat", "--new"], input=QUESTIONS, text=True,
                            capture_output=True, env=_env(tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert not ANSI.search(out)  # not a terminal: no colour codes
    lines = [re.sub(r"^(?:you> )+", "", line) for line in out.splitlines()]  # piped: the prompt has no newline
    assert max(len(line) for line in lines) <= 80
    assert all(line == line.rstrip() for line in lines)
    header = next(i for i, line in enumerate(lines) if line.startswith("Action  Symbol"))
    assert lines[header + 1].startswith("------  ------")  # the rule right under its header
    words = set(re.findall(r"[A-Za-z]{4,}", " ".join(lines)))
    assert "Bullish" in words or "Uptrend" in words
    assert not any(line.endswith(("Uptr", "Bulli", "histo")) for line in lines)  # no word cut at the edge
    assert "Commands: /help this list; /new start a new thread" in out
    assert re.search(r"New thread thread_[0-9a-f]+ \(portfolio sample:diversified\)\.", out)
    assert "Unknown command /bogus." in out
    assert out.count("[Help]") == 0 and "I did not recognise a request" not in out  # commands are no questions
    asked = subprocess.run([sys.executable, "-m", "qlwork.cli", "threads", "list", "--user", "asha"],
                           capture_output=True, text=True, env=_env(tmp_path), timeout=120).stdout
    assert len(re.findall(r"thread_[0-9a-f]+", asked)) == 2  # the first thread and the /new one


def _chat_on_pty(home, **extra) -> str:
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "qlwork.cli", "chat", "--new"], stdin=child, stdout=child,
                            stderr=child, env=_env(home, TERM="xterm", **extra), close_fds=True)
    os.close(child)
    out, sent, deadline = b"", False, time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 1)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        if not sent and b"you> " in out:
            os.write(main, b"Analyze my portfolio\n")
            sent = True
        if sent and out.count(b"you> ") >= 2:
            os.write(main, b"exit\n")
            break
    assert proc.wait(timeout=60) == 0
    os.close(main)
    return out.decode("utf-8", "replace")


@pytest.mark.parametrize("no_color", [False, True])
def test_colour_only_on_a_tty_without_no_color(tmp_path, no_color):
    out = _chat_on_pty(tmp_path, **({"NO_COLOR": "1"} if no_color else {}))
    assert "[Portfolio health]" in out
    if no_color:
        assert not ANSI.search(out)
    else:
        assert "\x1b[1m[Portfolio health]" in out and "\x1b[36myou> " in out


def test_fit_keeps_words_and_columns():
    text = ("- " + "word " * 30).rstrip() + "\nAction  Reason\n------  ------\nadd     " + "because " * 15
    lines = fit(text, 40).splitlines()
    assert max(map(len, lines)) <= 40 and lines[1].startswith("  word")
    rule = lines.index("------  ------")
    assert lines[rule - 1] == "Action  Reason" and lines[rule + 2].startswith(" " * 8 + "because")
