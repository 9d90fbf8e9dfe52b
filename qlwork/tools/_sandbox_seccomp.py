"""Load an exported seccomp BPF program on this process (standard library only; imported by the
launcher when it runs without bubblewrap, under ``QLWORK_SANDBOX_ALLOW_UNISOLATED=1``).

The program is the libseccomp allow-list of :mod:`qlwork.tools.sandbox_seccomp`, exported by the host;
with bubblewrap the same bytes are loaded by bubblewrap's ``--seccomp FD`` instead.
"""

import ctypes
import os


def install(raw: bytes) -> str:
    """Install the BPF program ``raw`` (needs PR_SET_NO_NEW_PRIVS first); returns a status line."""
    if not raw or len(raw) % 8:
        return "unavailable (no BPF program)"
    buf = ctypes.create_string_buffer(raw, len(raw))

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Fprog(len(raw) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        return f"unavailable ({os.strerror(ctypes.get_errno())})"
    return f"enforced (libseccomp allow-list, {len(raw) // 8} BPF instructions, via prctl)"
