"""``python -m bench``: run every benchmark section and print its lines.

Append a section name to SECTIONS; each is a module ``bench.<name>`` with ``run() -> list[str]``.
A section whose module (or one of its dependencies) is missing is skipped with a note.
"""

from __future__ import annotations

import importlib
import sys

SECTIONS = ["analytics", "advice", "backtest", "demo", "tools", "sandbox", "runner", "grounding", "kite", "reports",
            "server", "server_load", "store", "real_model"]


def main() -> int:
    for name in SECTIONS:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            print(f"== {name} == skipped: {exc}")
            continue
        try:
            lines = module.run()
        except ModuleNotFoundError as exc:
            print(f"== {name} == skipped: {exc}")
            continue
        print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
