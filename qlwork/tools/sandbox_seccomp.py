"""The seccomp allow-list of sandboxed processes (code_interpreter kernels, the PDF/PNG parser), built
with libseccomp and exported as BPF for bubblewrap's ``--seccomp FD`` (see docs/sandbox.md).

Everything not listed fails with EPERM (``clone3`` with ENOSYS, so the C library falls back to
``clone``, whose namespace flags can be checked). libseccomp resolves the names for the machine's own
architecture; system calls of any other ABI (x32, i386 on x86_64) kill the process. Conditions:

- ``socket``: AF_UNIX only as SOCK_STREAM (a SOCK_DGRAM, SOCK_SEQPACKET or SOCK_RAW unix socket can
  send to a host pathname socket without ``connect``); AF_INET/AF_INET6 (the network namespace has no
  interface up); AF_NETLINK only NETLINK_ROUTE (interface listing). ``connect`` is not allowed at all.
- ``clone`` without namespace flags; ``prlimit64``, ``sched_setaffinity``, ``migrate_pages``,
  ``move_pages`` only on the calling process; ``setpriority`` only (PRIO_PROCESS, 0);
  ``sched_setscheduler/param/attr`` on another pid succeed without doing anything (libzmq calls them
  on its own threads by thread id and aborts on an error); ``personality`` only to query.
- Not allowed: ``chown`` in every form, ``setxattr``/``removexattr`` in every form, ``mknod``,
  inotify and fanotify, ptrace and process_vm_*, mount and namespace calls, bpf, perf, kexec,
  modules, key rings, io_uring, userfaultfd, handle-based opens, ``ioprio_set``, set*id.
  ``chmod`` and ``utime*`` are allowed: outside the kernel's own directories the mount namespace
  is read-only, so they fail with EROFS there (tests/security/test_sandbox_bwrap.py tries both).
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import tempfile
from typing import Any

ALLOW = """
read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2 open openat openat2 creat close
close_range stat fstat lstat newfstatat statx statfs fstatfs access faccessat faccessat2 lseek getdents
getdents64 readlink readlinkat getcwd chdir fchdir mkdir mkdirat rmdir rename renameat renameat2 link linkat
symlink symlinkat unlink unlinkat truncate ftruncate fallocate fsync fdatasync sync syncfs sync_file_range
flock fcntl dup dup2 dup3 pipe pipe2 splice tee vmsplice sendfile copy_file_range umask chmod fchmod fchmodat
utime utimes utimensat futimesat getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr ioctl
fadvise64 readahead
mmap munmap mprotect mremap msync mincore madvise brk mlock mlock2 munlock mbind get_mempolicy
set_mempolicy pkey_mprotect pkey_alloc pkey_free memfd_create membarrier
shmget shmat shmctl shmdt semget semop semtimedop semctl msgget msgsnd msgrcv msgctl
rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend
rt_tgsigqueueinfo sigaltstack kill tkill tgkill pause restart_syscall
poll ppoll select pselect6 epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2
eventfd eventfd2 signalfd signalfd4 timerfd_create timerfd_settime timerfd_gettime
nanosleep clock_nanosleep clock_gettime clock_getres gettimeofday time getitimer setitimer alarm
timer_create timer_settime timer_gettime timer_getoverrun timer_delete
futex futex_waitv set_robust_list get_robust_list set_tid_address rseq arch_prctl prctl seccomp
fork vfork execve execveat exit exit_group wait4 waitid pidfd_open pidfd_send_signal
getpid getppid gettid getuid geteuid getgid getegid getgroups getresuid getresgid getpgid setpgid getpgrp
getsid setsid capget capset uname sysinfo times getrusage getrlimit setrlimit ugetrlimit getcpu getrandom
sched_yield sched_getparam sched_getscheduler sched_getattr sched_get_priority_max sched_get_priority_min
sched_rr_get_interval sched_getaffinity getpriority ioprio_get
socketpair bind listen accept accept4 getsockname getpeername setsockopt getsockopt sendto recvfrom
sendmsg recvmsg sendmmsg recvmmsg shutdown
landlock_create_ruleset landlock_add_rule landlock_restrict_self
""".split()
"""Allowed without conditions (names unknown on this architecture are skipped)."""

AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16
SOCK_STREAM, SOCK_TYPE_MASK, NETLINK_ROUTE = 1, 0xF, 0
NS_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080
EPERM, ENOSYS = 1, 38


def _binding() -> Any:
    """libseccomp's Python API: PyPI ``pyseccomp`` (ctypes), else Debian's ``python3-seccomp``
    extension loaded from its own file (it is built for the same Python minor version)."""
    try:
        import pyseccomp

        return pyseccomp
    except ImportError:
        pass
    import glob
    import sys

    tag = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
    for path in glob.glob(f"/usr/lib/python3/dist-packages/seccomp.{tag}-*.so"):
        loader = importlib.machinery.ExtensionFileLoader("seccomp", path)
        spec = importlib.util.spec_from_file_location("seccomp", path, loader=loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        return module
    raise ImportError("no libseccomp binding: pip install pyseccomp (needs libseccomp2), or apt-get install "
                      "python3-seccomp")


def available() -> str | None:
    """None when a filter can be built here, else why not."""
    try:
        bpf()
        return None
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        return str(exc) or type(exc).__name__


@functools.lru_cache(maxsize=1)
def bpf() -> bytes:
    """The filter as BPF bytes (built once per process)."""
    sc = _binding()
    f = sc.SyscallFilter(sc.ERRNO(EPERM))
    arg = sc.Arg

    def rule(action: int, name: str, *args: Any) -> None:
        try:
            f.add_rule(action, name, *args)
        except (RuntimeError, ValueError, OSError):
            pass  # not a system call of this architecture

    for name in ALLOW:
        rule(sc.ALLOW, name)
    rule(sc.ERRNO(ENOSYS), "clone3")
    rule(sc.ALLOW, "clone", arg(0, sc.MASKED_EQ, NS_FLAGS, 0))
    rule(sc.ALLOW, "socket", arg(0, sc.EQ, AF_UNIX), arg(1, sc.MASKED_EQ, SOCK_TYPE_MASK, SOCK_STREAM))
    for family in (AF_INET, AF_INET6):
        rule(sc.ALLOW, "socket", arg(0, sc.EQ, family))
    rule(sc.ALLOW, "socket", arg(0, sc.EQ, AF_NETLINK), arg(2, sc.EQ, NETLINK_ROUTE))
    for name in ("prlimit64", "sched_setaffinity", "migrate_pages", "move_pages"):
        rule(sc.ALLOW, name, arg(0, sc.EQ, 0))
    rule(sc.ALLOW, "setpriority", arg(0, sc.EQ, 0), arg(1, sc.EQ, 0))
    for name in ("sched_setscheduler", "sched_setparam", "sched_setattr"):
        rule(sc.ALLOW, name, arg(0, sc.EQ, 0))
        rule(sc.ERRNO(0), name, arg(0, sc.NE, 0))
    rule(sc.ALLOW, "personality", arg(0, sc.EQ, 0xFFFFFFFF))
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        return out.read()


def rule_count() -> int:
    return len(ALLOW) + 14
