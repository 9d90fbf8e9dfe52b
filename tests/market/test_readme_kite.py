"""The README's Kite Connect steps, run command by command as written, against the local fake Kite server.

The commands and the Python snippet are read from README.md itself, so a step that stops working (or a
README that drifts from the code) fails here. Only two things differ from a real user's machine: the
credentials exported are the fake server's, and ``KITE_ROOT`` points the client at it.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _kite_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Zerodha Kite Connect")
    end = text.index("\n## ", start + 3)
    return text[start:end]


def _blocks(section: str, lang: str) -> list[str]:
    return [re.sub(r"(?m)^   ", "", b) for b in re.findall(rf"```{lang}\n(.*?)```", section, flags=re.DOTALL)]


@pytest.fixture
def readme_env(fake_kite, kite_env, monkeypatch):
    from qlwork.market import kite_auth, ratelimit

    monkeypatch.setenv("KITE_ROOT", fake_kite.url)
    monkeypatch.setattr(kite_auth, "now_ist", lambda: kite_env["now"])
    monkeypatch.setattr(ratelimit, "_SHARED", ratelimit.RateLimiter({"historical": 50, "quote": 50, "other": 50}))
    monkeypatch.chdir(kite_env["home"].parent)
    return kite_env


def _run(line: str, stdin: str, monkeypatch) -> tuple[int, str]:
    from qlwork.cli.commands import main

    argv = shlex.split(line, comments=True)
    assert argv[0] == "qlwork", line
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv[1:])
    return code, out.getvalue() + err.getvalue()


def test_readme_kite_steps(readme_env, fake_kite, monkeypatch):
    section = _kite_section()
    [shell] = _blocks(section, "bash")
    [snippet] = _blocks(section, "python")
    lines = [ln.strip() for ln in shell.splitlines() if ln.strip()]
    assert lines[0].startswith("export ")
    exported = dict(part.split("=", 1) for part in shlex.split(lines[0])[1:])
    assert set(exported) == {"KITE_API_KEY", "KITE_API_SECRET"}  # the fake's values are already exported
    stdin = {"kite login": "req_token_ok\n", "chat": "Review my portfolio\nexit\n"}
    outputs = {}
    for line in lines[1:]:
        args = shlex.split(line, comments=True)
        verb = " ".join(args[1:3]) if args[1] == "kite" else args[1]
        code, text = _run(line, stdin.get(verb, ""), monkeypatch)
        assert code == 0, (line, text)
        assert readme_env["access_token"] not in text and readme_env["api_secret"] not in text
        outputs[verb] = text
    assert set(outputs) == {"kite login", "kite status", "chat"}
    assert "Logged in to Kite account AB1234 for qlwork user asha" in outputs["kite login"]
    assert "api_key=" in outputs["kite login"]  # the login URL was printed
    assert "valid until" in outputs["kite status"]
    chat = outputs["chat"]
    assert "provider kite" in chat and "portfolio kite" in chat and "error" not in chat.lower()
    assert "RELIANCE" in chat or "INR" in chat
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "README.md", "exec"), {})
    assert "INR" in printed.getvalue()
    assert fake_kite.count("/portfolio/holdings") >= 2  # chat and the snippet both read the holdings
    forbidden = [r.path for r in fake_kite.log("/") if r.path.startswith(("/orders", "/gtt", "/user/margins"))]
    assert forbidden == []
