"""``python -m qlwork.cli``: the same as the ``qlwork`` command."""

import sys

from .commands import main

sys.exit(main())
