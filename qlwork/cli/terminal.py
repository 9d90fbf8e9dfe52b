"""``qlwork chat`` in a terminal: text wrapped to the terminal's width (words never broken, tables
too wide narrowed with their cells wrapped under themselves and the header on one line right above its
rule, no trailing blanks that make the terminal wrap a line into a stray blank one), colour only on a TTY
and never with ``NO_COLOR`` or ``TERM=dumb``, and the chat's own commands.

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


def _is_row(line: str, starts: list[int]) -> bool:
    """A row of the table whose columns start at ``starts``: non-blank, with a blank gap before every
    column it reaches (prose after the table has letters there)."""
    return bool(line.strip()) and all(line[s - 2:s] == "  " for s in starts[1:] if s < len(line))


def _fit_table(header: str, rule: str, rows: list[str], columns: int) -> list[str]:
    """A fixed-width table (``assistant.render.table``) narrowed to ``columns``: every column keeps its
    header on one line (so the rule stays right under it) and at least its longest word; the widest
    columns give up width first and their cells wrap at word boundaries under themselves. Too narrow
    for that: each row as a bullet of ``Header: value`` pairs."""
    dashes = list(re.finditer(r"-+", rule))
    starts = [m.start() for m in dashes]
    cut = lambda line: [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]  # noqa: E731
    heads, cells = cut(header), [cut(r) for r in rows]
    natural = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(heads)]
    least = [max([len(h)] + [len(w) for c in cells for w in c[i].split()]) for i, h in enumerate(heads)]
    room = columns - 2 * (len(heads) - 1)
    if sum(least) > room:
        out = []
        for c in cells:
            text = "- " + "; ".join(f"{h}: {v}" for h, v in zip(heads, c) if v)
            out += textwrap.wrap(text, columns, subsequent_indent="  ", break_long_words=False,
                                 break_on_hyphens=False) or [""]
        return out
    widths = list(natural)
    while sum(widths) > room:  # the widest column that can still give up a column does
        i = max((i for i in range(len(widths)) if widths[i] > least[i]), key=lambda i: widths[i])
        widths[i] -= 1
    line = lambda parts: "  ".join(p.ljust(w) for p, w in zip(parts, widths)).rstrip()  # noqa: E731
    out = [line(heads), line(["-" * min(w, len(m.group())) for w, m in zip(widths, dashes)])]
    for c in cells:
        wrapped = [textwrap.wrap(v, w, break_long_words=False, break_on_hyphens=False) or [""]
                   for v, w in zip(c, widths)]
        out += [line([p[k] if k < len(p) else "" for p in wrapped]) for k in range(max(map(len, wrapped)))]
    return out


def fit(text: str, columns: int | None = None) -> str:
    """``text`` wrapped to ``columns``: bullets with a hanging indent, tables too wide narrowed with their
    cells wrapped under themselves (the header stays one line with its rule right under it), other
    lines at word boundaries; trailing blanks removed."""
    columns = columns or width()
    lines = [raw.rstrip() for raw in text.splitlines()]
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if _RULE.match(nxt) and line:  # a header: its rule follows
            starts = [m.start() for m in re.finditer(r"-+", nxt)]
            end = i + 2
            while end < len(lines) and _is_row(lines[end], starts):
                end += 1
            table = lines[i:end]
            out += table if max(map(len, table)) <= columns else _fit_table(line, nxt, lines[i + 2:end], columns)
            i = end
            continue
        if len(line) <= columns:
            out.append(line)
        else:
            indent = "  " if line.startswith("- ") else ""
            out += textwrap.wrap(line, columns, subsequent_indent=indent, break_long_words=False,
                                 break_on_hyphens=False) or [""]
        i += 1
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
