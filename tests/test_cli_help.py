"""Every ``qlwork`` subcommand's --help has a description, and the common ones show examples that parse."""

from __future__ import annotations

import argparse
import shlex

import pytest

from qlwork.cli.commands import EXAMPLES, build_parser


def _commands(parser: argparse.ArgumentParser, path: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                key = f"{path} {name}".strip()
                yield key, child
                yield from _commands(child, key)


def test_every_subcommand_describes_itself():
    missing = [key for key, child in _commands(build_parser()) if not child.description]
    assert missing == []


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_examples_are_shown_and_parse(key):
    commands = dict(_commands(build_parser()))
    assert key in commands, f"EXAMPLES names {key!r}, which is not a command"
    text = commands[key].format_help()
    assert "examples:" in text
    for line in EXAMPLES[key]:
        assert line in text
        if line.startswith("qlwork "):
            build_parser().parse_args(shlex.split(line)[1:])  # an example that no longer parses fails here
