"""Issue 32 items 2-3 and the partial findings: attacks from kernel code that worked under the Landlock-only
sandbox, now run against the bubblewrap + libseccomp one through the real code_interpreter tool.

Each test performs the attack and fails if it works again: host file metadata (chmod, utime, xattr, a
setuid copy owned by root), inotify/fanotify watches, a datagram to a host unix socket through
``socket(AF_UNIX, SOCK_RAW)``, a view of other processes, mounts and host files (no pid or mount
namespace), CPU burned by a thread after the call returned, and the PDF/PNG parser's environment and
view. The layer that stops each is named in docs/sandbox.md.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
import time
from pathlib import Path

import pytest

from qlwork.errors import InputError
from qlwork.tools import code_interpreter as ci
from qlwork.tools import parse_process, sandbox
from qlwork.tools.file_parsing import Limits
from qlwork.tools.files import FileStore
from qlwork.tools.registry import ToolContext
from qlwork.tools.sandbox import SandboxLimits

HOST = os.getpid()
PACKAGE_FILE = Path(sandbox.__file__).resolve().parent.parent / "__init__.py"
TRY = ("import ctypes, errno, os\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\n"
       "def attempt(name, fn):\n"
       "    try:\n        rc = fn()\n    except OSError as exc:\n        print(f'{name}={errno.errorcode[exc.errno]}'); return\n"
       "    if isinstance(rc, int) and rc < 0:\n        print(f'{name}={errno.errorcode[ctypes.get_errno()]}')\n"
       "    else:\n        print(f'{name}=OK')\n")


@pytest.fixture(scope="module")
def pool():
    p = ci.KernelPool(SandboxLimits(timeout_seconds=30, max_kernels=3, output_chars=4000, interrupt_grace_seconds=2,
                                    disk_bytes=64 * 1024 ** 2))
    yield p
    p.shutdown()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return FileStore(tmp_path_factory.mktemp("files"))


def attack(pool, store, code: str, thread: str = "mallory") -> dict:
    ctx = ToolContext(thread_id=thread, extra={"file_store": store, "kernel_pool": pool})
    return ci.code_interpreter.tool.invoke({"code": code}, ctx)


@pytest.fixture(scope="module")
def status(pool, store):
    out = json.loads(attack(pool, store, "import json; print(json.dumps(sandbox_status()))")["stdout"])
    if not str(out.get("bubblewrap", "")).startswith("enforced"):
        pytest.fail(f"bubblewrap is not isolating the kernel here: {out.get('bubblewrap')} (make sandbox)")
    return out


def results(out: dict) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out["stdout"].split())


def test_host_file_metadata_cannot_change(pool, store, status, tmp_path):
    """As root the kernel made qlwork.db 0666 and a setuid-root copy of `id`; now every host file it sees is
    on a read-only mount and what it creates belongs to the unprivileged sandbox uid."""
    before = PACKAGE_FILE.stat()
    target = str(PACKAGE_FILE)
    code = TRY + (
        f"attempt('chmod', lambda: os.chmod({target!r}, 0o666))\n"
        f"attempt('utime', lambda: os.utime({target!r}, (0, 0)))\n"
        f"attempt('chown', lambda: os.chown({target!r}, os.getuid(), os.getgid()))\n"
        f"attempt('setxattr', lambda: os.setxattr({target!r}, 'user.qlwork', b'x'))\n"
        "attempt('setxattr_own', lambda: os.setxattr('.', 'user.qlwork', b'x'))\n"
        "import shutil\nshutil.copy('/usr/bin/id', 'id_copy')\n"
        "attempt('setuid_copy', lambda: os.chmod('id_copy', 0o4755))\n"
        "attempt('chown_copy', lambda: os.chown('id_copy', 0, 0))\n")
    got = results(attack(pool, store, code))
    assert got["chmod"] in ("EROFS", "EACCES", "EPERM") and got["utime"] in ("EROFS", "EACCES", "EPERM"), got
    assert got["chown"] == got["setxattr"] == got["setxattr_own"] == got["chown_copy"] == "EPERM", got
    after = PACKAGE_FILE.stat()
    assert (after.st_mode, after.st_mtime_ns, after.st_uid) == (before.st_mode, before.st_mtime_ns, before.st_uid)
    copy = pool.kernel("mallory").work_dir / "id_copy"
    info = copy.lstat()  # the chmod in its own directory works, but the file is not root's
    assert not (info.st_mode & stat.S_ISUID and info.st_uid == 0), (oct(info.st_mode), info.st_uid)
    if os.getuid() == 0:
        assert info.st_uid == sandbox.sandbox_uid()


def test_inotify_and_fanotify_are_refused(pool, store, status):
    """Watches on $QLWORK_HOME/files, /tmp and /root reported other users' new uploads."""
    code = TRY + ("attempt('inotify_init1', lambda: libc.syscall(294, 0))\n"
                  "attempt('inotify_init', lambda: libc.syscall(253))\n"
                  "attempt('fanotify_init', lambda: libc.syscall(300, 0, 0))\n")
    if os.uname().machine != "x86_64":
        pytest.skip("syscall numbers of this test are x86_64's")
    assert set(results(attack(pool, store, code)).values()) <= {"EPERM", "ENOSYS"}


def test_unix_raw_and_datagram_sockets_cannot_reach_a_host_listener(pool, store, status, tmp_path):
    """socket(AF_UNIX, SOCK_RAW) is a datagram socket under another name: it passed the old filter."""
    tmp_path.chmod(0o755)
    path = tmp_path / "host.dgram"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    path.chmod(0o777)
    listener.settimeout(0.5)
    try:
        code = TRY + ("import _socket\n"
                      f"attempt('raw', lambda: _socket.socket(_socket.AF_UNIX, _socket.SOCK_RAW).sendto(b'hi', {str(path)!r}))\n"
                      f"attempt('dgram', lambda: _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM))\n"
                      "attempt('seqpacket', lambda: _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET))\n"
                      "attempt('raw_nb', lambda: _socket.socket(_socket.AF_UNIX, _socket.SOCK_RAW | _socket.SOCK_NONBLOCK))\n"
                      "attempt('stream', lambda: _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM).close())\n")
        got = results(attack(pool, store, code))
        assert got == {"raw": "EPERM", "dgram": "EPERM", "seqpacket": "EPERM", "raw_nb": "EPERM", "stream": "OK"}, got
        with pytest.raises(TimeoutError):
            listener.recv(10)
    finally:
        listener.close()


def test_no_view_of_host_processes_mounts_or_files(pool, store, status, tmp_path):
    """Without pid and mount namespaces /proc/self/mountinfo listed other kernels' folders, 376 pids were
    visible and stat() of host files outside Landlock's rules showed sizes and times."""
    secret = tmp_path / "host_file.txt"
    secret.write_text("host data")
    other = pool.kernel("neighbour") if attack(pool, store, "1", thread="neighbour") else None
    home = os.environ.get("QLWORK_HOME") or str(Path.cwd() / ".qlwork")
    code = TRY + (f"attempt('stat_host', lambda: os.stat({str(secret)!r}))\n"
                  f"attempt('stat_home', lambda: os.stat({home!r}))\n"
                  f"attempt('stat_neighbour', lambda: os.stat({str(other.work_dir)!r}))\n"
                  f"attempt('signal_host', lambda: os.kill({HOST}, 0))\n"
                  "mounts = open('/proc/self/mountinfo').read()\n"
                  f"print('mounts_named=' + str(sum(p in mounts for p in ({str(other.base)!r}, {home!r}))))\n"
                  "print('pid=' + str(os.getpid()))\n")
    got = results(attack(pool, store, code))
    assert got["stat_host"] == got["stat_home"] == got["stat_neighbour"] == "ENOENT", got
    assert got["signal_host"] == "ESRCH", got
    assert int(got["pid"]) < 10  # a pid namespace of its own: bubblewrap's init, then the kernel
    assert got["mounts_named"] == "0"  # its mount table names neither the neighbour's folders nor QLWORK_HOME


def test_nothing_runs_between_calls(pool, store, status):
    """A thread the call started kept burning CPU after the call returned; now the kernel is stopped
    when the call returns and resumed by the next one."""
    code = ("import threading\ndef burn():\n    while True:\n        pass\n"
            "threading.Thread(target=burn, daemon=True).start()\nprint('started')")
    assert attack(pool, store, code, thread="burner")["stdout"] == "started\n"
    kernel = pool.kernel("burner")
    used = sandbox.cpu_seconds_used(kernel.pid)
    time.sleep(1.0)  # time for a running burner to show (not a speed assertion)
    state = Path(f"/proc/{kernel.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    assert state == "T" and sandbox.cpu_seconds_used(kernel.pid) - used < 0.05
    assert attack(pool, store, "6 * 7", thread="burner")["result"] == "42"  # and the next call works


def test_parser_runs_sandboxed_without_secrets(tmp_path, monkeypatch):
    """The PDF/PNG parser ran as root with capabilities, no seccomp and OPENAI_API_KEY / KITE_API_SECRET in
    its environment. The same launcher as the kernels now starts it; here it runs a probe instead."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak-1234")
    monkeypatch.setenv("KITE_API_SECRET", "kite-must-not-leak-5678")
    secret = tmp_path / "elsewhere" / "qlwork.db"  # a host file beside the parser's own folder
    secret.parent.mkdir()
    secret.write_text("host data")
    (tmp_path / "parse").mkdir()
    cmd, env = parse_process._sandboxed(tmp_path / "parse", json.dumps({"probe": True}), Limits.from_env())
    probe = ("import json, os\nout = {'env': dict(os.environ), 'uid': os.getuid(), 'pid': os.getpid(), "
             "'status': open('/proc/self/status').read()}\n"
             f"try:\n    os.stat({str(secret)!r}); out['home'] = 'visible'\nexcept OSError as e:\n    out['home'] = e.errno\n"
             "print(json.dumps(out))")
    cmd = cmd[:cmd.index("--") + 1] + [sys.executable, "-c", probe]
    import subprocess

    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    text = json.dumps(got["env"])
    assert "must-not-leak" not in text and "OPENAI_API_KEY" not in text and "KITE" not in text
    fields = dict(line.split(":", 1) for line in got["status"].splitlines() if ":" in line)
    assert int(fields["CapEff"], 16) == 0 and fields["Seccomp"].strip() == "2" and fields["NoNewPrivs"].strip() == "1"
    assert got["uid"] != 0 and got["pid"] < 10 and got["home"] != "visible"
    assert json.loads(got["env"]["QLWORK_SANDBOX_STATUS"])["bubblewrap"].startswith("enforced")


def test_refuses_to_start_without_bubblewrap_unless_overridden(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on PATH
    sandbox.bubblewrap_problem.cache_clear()
    try:
        monkeypatch.delenv(sandbox.UNISOLATED_ENV, raising=False)
        with pytest.raises(InputError) as err:
            sandbox.isolation()
        assert err.value.details["code"] == "sandbox_unavailable" and sandbox.UNISOLATED_ENV in err.value.fix
        monkeypatch.setenv(sandbox.UNISOLATED_ENV, "1")
        assert sandbox.isolation() is None
        weak = ci.KernelPool(SandboxLimits(timeout_seconds=30, max_kernels=1))
        try:
            ctx = ToolContext(thread_id="weak", extra={"file_store": FileStore(tmp_path / "f"), "kernel_pool": weak})
            out = ci.code_interpreter.tool.invoke({"code": "import json; print(json.dumps(sandbox_status()))"}, ctx)
            layers = json.loads(out["stdout"])
            assert layers["bubblewrap"].startswith("disabled") and layers["seccomp"].startswith("enforced")
        finally:
            weak.shutdown()
    finally:
        sandbox.bubblewrap_problem.cache_clear()
