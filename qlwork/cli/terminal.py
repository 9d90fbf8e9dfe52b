"""``qlwork chat`` in a terminal: text wrapped to the terminal's width (words never broken, tables' last
column wrapped under itself, no trailing blanks that make the terminal wrap a line into a stray blank
one), colour only on a TTY and never with ``NO_COLOR`` or ``TERM=dumb``, and the chat's own commands.

Commands (anything else is a question): ``/help``, ``/new`` (a new thread), ``clear`` or ``/clear``,
``exit`` / ``quit`` / ``/exit`` (or Ctrl-D).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
from typing import TextIO

COMMANDS = {
    "/help": "this list",
    "/new": "start a new thread (the same portfolio and settings)",
    "/clear": "clear the screen (also: clear)",
    "/exit": "leave the chat (also: exit, quit, Ctrl-D)",
}
EXIT = {"exit", "quit", "/exit", "/quit"}
CLEAR = {"clear", "/clear"}
_RULE = re.compile(r"^-+(?:  -+)+$")
_ANSI = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


def width(out: TextIO | None = None) -> int:
    """The terminal's width in columns (``COLUMNS`` when set, else the terminal's, else 80), at least 40."""
    return max(40, shutil.get_terminal_size((80, 24)).columns)


def use_colour(out: TextIO | None = None) -> bool:
    """Colour only on a terminal, and never with ``NO_COLOR`` set (https://no-color.org) or ``TERM=dumb``."""
    out = out or sys.stdout
    if os.environ.get("NO_COLOR", "") != "" or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(out, "isatty", lambda: False)())


def paint(text: str, style: str, colour: bool) -> str:
    return f"\033[{_ANSI[style]}m{text}\033[0m" if colour else text


def _wrap_table_row(line: str, start: int, columns: int) -> list[str]:
    head, tail = line[:start], line[start:].strip()
    room = columns - start
    if room < 20:  # too narrow to keep the columns: the row as a paragraph
        return textwrap.wrap(line.strip(), columns, break_long_words=False, break_on_hyphens=False) or [""]
    parts = textwrap.wrap(tail, room, break_long_words=False, break_on_hyphens=False) or [""]
    return [(head + parts[0]).rstrip()] + [" " * start + p for p in parts[1:]]


def fit(text: str, columns: int | None = None) -> str:
    """``text`` wrapped to ``columns``: bullets with a hanging indent, table rows with their last column
    wrapped under itself, other lines at word boundaries; trailing blanks removed."""
    columns = columns or width()
    lines = text.splitlines()
    out: list[str] = []
    start = None  # where a table's last column starts, from its rule line
    for i, raw in enumerate(lines):
        line = raw.rstrip()
        nxt = lines[i + 1].rstrip() if i + 1 < len(lines) else ""
        if _RULE.match(nxt):  # a header: its rule follows
            start = nxt.rfind("  -") + 2
        elif start is not None and not _RULE.match(line) and (not line or line[:1] not in " -" and "  " not in line):
            start = None  # the table ended
        if len(line) <= columns:
            out.append(line)
        elif start is not None and not _RULE.match(line):
            out += _wrap_table_row(line, start, columns)
        elif _RULE.match(line):
            out.append(line[:columns])
        else:
            indent = "  " if line.startswith("- ") else ""
            out += textwrap.wrap(line, columns, subsequent_indent=indent, break_long_words=False,
                                 break_on_hyphens=False) or [""]
    return "\n".join(out)


def style_answer(text: str, colour: bool) -> str:
    """The answer's head line in bold, recommendation actions in colour (buy/add green, sell/reduce red)."""
    if not colour:
        return text
    lines = text.splitlines()
    if lines and lines[0].startswith("["):
        lines[0] = paint(lines[0], "bold", True)
    for i, line in enumerate(lines):
        for action, hue in (("buy", "green"), ("add", "green"), ("sell", "red"), ("reduce", "red")):
            if line.startswith(action + " ") and "  " in line:
                lines[i] = paint(action, hue, True) + line[len(action):]
        if line.startswith("Grounding:") and "flagged" in line.lower():
            lines[i] = paint(line, "yellow", True)
    return "\n".join(lines)


def help_text() -> str:
    return "Commands: " + "; ".join(f"{name} {what}" for name, what in COMMANDS.items()) + \
        ". Anything else is a question for the assistant."


def clear_screen(out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if getattr(out, "isatty", lambda: False)():
        out.write("\033[2J\033[H")
        out.flush()
