"""The ``qlwork`` command line: one thin function per command over the library.

- :mod:`.commands` the argument parser and the commands (demo, chat, threads, kite, sectors, reports)
- :mod:`.byoai`  model options shared by chat and eval (bring your own AI), and ``qlwork eval``
- :mod:`.serving` ``qlwork serve`` (Assistants API server, keys) and ``qlwork mcp``
- :mod:`.demo`   the main job on embedded defaults (``qlwork demo`` / ``make demo``)
"""

from .commands import main

__all__ = ["main"]
