#!/usr/bin/env python3
"""Start Chromium as the unprivileged sandbox uid when run as root, so Chromium's own sandbox stays on
(it refuses to run as root without ``--no-sandbox``). Playwright execs this as the browser; the real
binary is ``QLWORK_CHROMIUM_REAL``. The profile folder Playwright made is handed to that uid first,
and it becomes HOME. Standard library only; the pipes to Playwright (fds 3 and 4) stay open."""

import os
import sys

real = os.environ["QLWORK_CHROMIUM_REAL"]
if os.getuid() == 0:
    uid = int(os.environ.get("QLWORK_SANDBOX_UID", "") or 65534)
    profile = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--user-data-dir=")), None)
    if profile:
        for root, dirs, files in os.walk(profile):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, uid, uid, follow_symlinks=False)
        os.environ["HOME"] = profile
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
os.execv(real, [real, *sys.argv[1:]])
