"""A seccomp-BPF filter for code_interpreter kernels (standard library only; imported by the launcher).

Denied with EPERM: system calls that reach beyond the kernel's own process (ptrace, process_vm_*, kcmp,
pidfd_getfd), load code or programs into the Linux kernel (bpf, perf_event_open, kexec, modules),
change mounts or namespaces (mount API, umount2, pivot_root, chroot, unshare, setns, clone with a
namespace flag), touch the key rings (keyctl, add_key, request_key), and a few host-wide controls
(syslog, swapon/off, reboot, acct, quotactl, io_uring, userfaultfd, handle-based opens, ioprio_set).
ioprio_set is denied (it can target every process of the uid); prlimit64, sched_setaffinity,
migrate_pages and move_pages are allowed only on the calling process (pid 0), setpriority only as (PRIO_PROCESS, 0); sched_setscheduler/param/attr on any other pid
return success without doing anything (libzmq threads call them on themselves and abort on an error).
connect() is denied for every socket, and so are unix datagram and seqpacket sockets: the kernel only
binds its own ipc sockets, so it cannot reach any other pathname unix socket.
clone3 returns ENOSYS (its flags cannot be inspected), so the C library falls back to clone.
"""

import ctypes
import os
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
RET_ALLOW, RET_KILL = 0x7FFF0000, 0x80000000
RET_EPERM, RET_ENOSYS, RET_FAKE_OK = 0x00050000 | 1, 0x00050000 | 38, 0x00050000
LD_ABS, JEQ, JSET, AND, RET = 0x20, 0x15, 0x45, 0x54, 0x06
NS_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080

# x86_64 numbers
DENY = {"ptrace": 101, "syslog": 103, "vhangup": 153, "pivot_root": 155, "chroot": 161, "acct": 163,
        "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "iopl": 172, "ioperm": 173,
        "init_module": 175, "delete_module": 176, "quotactl": 179, "kexec_load": 246, "add_key": 248,
        "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298, "name_to_handle_at": 303,
        "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
        "finit_module": 313, "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "pidfd_getfd": 438, "mount_setattr": 442, "connect": 42, "ioprio_set": 251}
SELF_ONLY = {"prlimit64": (302, 0), "sched_setaffinity": (203, 0), "migrate_pages": (256, 0),
             "move_pages": (279, 0)}
# libzmq's threads re-apply their own (unchanged) scheduling policy by thread id and abort on an error:
# on any pid but 0 these report success without doing anything
FAKE_ON_OTHERS = {"sched_setscheduler": 144, "sched_setparam": 142, "sched_setattr": 314}
SETPRIORITY, CLONE, CLONE3, SOCKET = 141, 56, 435, 41


def _ins(code, k=0, jt=0, jf=0):
    return (code, jt, jf, k)


def _arg(i, high=False):
    return _ins(LD_ABS, 16 + 8 * i + (4 if high else 0))


def _args_zero(nr, args, otherwise=RET_EPERM):
    """nr with every listed argument (64-bit) zero -> allow, otherwise EPERM (or ``otherwise``)."""
    body = []
    for i in args:
        body += [_arg(i), _ins(JEQ, 0, 0, None), _arg(i, True), _ins(JEQ, 0, 0, None)]
    n = len(body)
    body = [(c, jt, (n - idx) if jf is None else jf, k) for idx, (c, jt, jf, k) in enumerate(body)]
    body += [_ins(RET, RET_ALLOW), _ins(RET, otherwise)]
    return [_ins(JEQ, nr, 0, len(body))] + body


def program() -> list:
    prog = [_ins(LD_ABS, 4), _ins(JEQ, AUDIT_ARCH_X86_64, 1, 0), _ins(RET, RET_KILL), _ins(LD_ABS, 0),
            _ins(0x35, 0x40000000, 0, 1), _ins(RET, RET_EPERM)]  # x32 ABI: refuse
    for nr in DENY.values():
        prog += [_ins(JEQ, nr, 0, 1), _ins(RET, RET_EPERM)]
    prog += [_ins(JEQ, CLONE3, 0, 1), _ins(RET, RET_ENOSYS)]
    for nr, arg in SELF_ONLY.values():
        prog += _args_zero(nr, [arg])
    for nr in FAKE_ON_OTHERS.values():
        prog += _args_zero(nr, [0], otherwise=RET_FAKE_OK)
    prog += _args_zero(SETPRIORITY, [0, 1])
    # clone(flags, ...): no namespace flags
    prog += [_ins(JEQ, CLONE, 0, 4), _arg(0), _ins(JSET, NS_FLAGS, 0, 1), _ins(RET, RET_EPERM), _ins(RET, RET_ALLOW)]
    # socket(AF_UNIX, SOCK_DGRAM | SOCK_SEQPACKET): refused (a datagram can be sent to any pathname socket
    # without connect; getifaddrs' netlink sendto needs an address, so sendto itself stays allowed)
    prog += [_ins(JEQ, SOCKET, 0, 8), _arg(0), _ins(JEQ, 1, 0, 4), _arg(1), _ins(AND, 0xF), _ins(JEQ, 2, 2, 0),
             _ins(JEQ, 5, 1, 0), _ins(RET, RET_ALLOW), _ins(RET, RET_EPERM)]
    prog.append(_ins(RET, RET_ALLOW))
    return prog


def install() -> str:
    """Install the filter on this process (needs PR_SET_NO_NEW_PRIVS first); returns a status line."""
    if os.uname().machine != "x86_64":
        return f"unavailable (no syscall table for {os.uname().machine})"
    prog = program()
    raw = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Fprog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        return f"unavailable ({os.strerror(ctypes.get_errno())})"
    return f"enforced ({len(DENY) + len(SELF_ONLY) + len(FAKE_ON_OTHERS) + 3} rules)"
