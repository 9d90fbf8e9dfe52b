"""Attacks on the host and on other users from code_interpreter kernel code, run for real through the
code_interpreter tool. Each test performs the attack, asserts that it fails, and that the host process
(this pytest process, which plays qlwork's role) is still healthy. Where the machine cannot provide a
layer, the test skips and says which (docs/sandbox.md says what is then unprotected)."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qlwork.tools import code_interpreter as ci
from qlwork.tools import sandbox_host
from qlwork.tools.files import FileStore
from qlwork.tools.registry import ToolContext
from qlwork.tools.sandbox import SandboxLimits

HOST = os.getpid()
LIMITS = [resource.RLIMIT_CPU, resource.RLIMIT_NOFILE, resource.RLIMIT_AS, resource.RLIMIT_NPROC]


@pytest.fixture(scope="module")
def pool():
    p = ci.KernelPool(SandboxLimits(timeout_seconds=30, max_kernels=4, output_chars=2000, interrupt_grace_seconds=2,
                                    disk_bytes=64 * 1024 ** 2))
    yield p
    p.shutdown()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return FileStore(tmp_path_factory.mktemp("files"))


@pytest.fixture(scope="module")
def status(pool, store):
    return json.loads(attack(pool, store, "import json; print(json.dumps(sandbox_status()))")["stdout"])


def attack(pool, store, code: str, thread: str = "mallory") -> dict:
    """Run ``code`` as a model would: through the code_interpreter tool of thread ``thread``."""
    ctx = ToolContext(thread_id=thread, extra={"file_store": store, "kernel_pool": pool})
    return ci.code_interpreter.tool.invoke({"code": code}, ctx)


def require(status: dict, layer: str, word: str = "enforced") -> None:
    if not str(status.get(layer, "")).startswith(word):
        pytest.skip(f"{layer} not available on this host: {status.get(layer)}")


@pytest.fixture()
def healthy(pool, store):
    """The host's limits, priority and CPU affinity before the attack; afterwards all unchanged, the host
    can open files, and the sandbox still answers."""
    before = ({r: resource.getrlimit(r) for r in LIMITS}, os.getpriority(os.PRIO_PROCESS, 0), os.sched_getaffinity(0))
    yield
    after = ({r: resource.getrlimit(r) for r in LIMITS}, os.getpriority(os.PRIO_PROCESS, 0), os.sched_getaffinity(0))
    assert after == before
    files = [open(__file__) for _ in range(20)]
    for f in files:
        f.close()
    assert attack(pool, store, "6 * 7", thread="healthcheck")["result"] == "42"


def denied(out: dict, *names: str) -> list[str]:
    """The kernel prints one 'name=errno-or-OK' per attempt; returns those that did not fail."""
    results = dict(line.split("=", 1) for line in out["stdout"].split())
    assert set(results) == set(names), out
    return [n for n, r in results.items() if r == "OK"]


TRY = ("import ctypes, errno, os, resource\nlibc = ctypes.CDLL(None, use_errno=True)\n"
       "libc.syscall.restype = ctypes.c_long\n"
       "def attempt(name, fn):\n"
       "    try:\n        rc = fn()\n    except OSError as exc:\n        print(f'{name}={errno.errorcode[exc.errno]}'); return\n"
       "    if isinstance(rc, int) and rc < 0:\n        print(f'{name}={errno.errorcode[ctypes.get_errno()]}')\n"
       "    else:\n        print(f'{name}=OK')\n")


def test_kernel_runs_without_capabilities_or_new_privileges(pool, store, status):
    require(status, "capabilities")
    fields = dict(line.split(":", 1) for line in attack(pool, store, "print(open('/proc/self/status').read())")
                  ["stdout"].splitlines() if ":" in line)
    for cap in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"):
        assert int(fields[cap], 16) == 0, (cap, fields[cap])
    assert fields["NoNewPrivs"].strip() == "1"
    if status["seccomp"].startswith("enforced"):
        assert fields["Seccomp"].strip() == "2"
    uid = attack(pool, store, "import os; print(os.getuid(), os.geteuid())")["stdout"].split()
    assert uid[0] != "0" and uid[1] != "0"


def test_prlimit_on_the_host_fails(pool, store, status, healthy):
    """The issue's attack: RLIMIT_CPU (1, 1) killed the host, RLIMIT_NOFILE (8, 8) froze it."""
    require(status, "seccomp")
    code = TRY + (f"attempt('cpu', lambda: resource.prlimit({HOST}, resource.RLIMIT_CPU, (1, 1)))\n"
                  f"attempt('nofile', lambda: resource.prlimit({HOST}, resource.RLIMIT_NOFILE, (8, 8)))\n"
                  "attempt('parent', lambda: resource.prlimit(os.getppid(), resource.RLIMIT_NOFILE, (8, 8)))\n"
                  "attempt('own', lambda: resource.prlimit(0, resource.RLIMIT_NOFILE))")
    assert denied(attack(pool, store, code), "cpu", "nofile", "parent", "own") == ["own"]


def test_priority_and_cpu_affinity_of_the_host_cannot_be_changed(pool, store, status, healthy):
    require(status, "seccomp")
    code = TRY + (f"attempt('nice', lambda: os.setpriority(os.PRIO_PROCESS, {HOST}, 19))\n"
                  "attempt('nice_user', lambda: os.setpriority(os.PRIO_USER, 0, 19))\n"
                  "attempt('nice_group', lambda: os.setpriority(os.PRIO_PGRP, 0, 19))\n"
                  f"attempt('affinity', lambda: os.sched_setaffinity({HOST}, {{0}}))\n"
                  f"attempt('sched', lambda: os.sched_setscheduler({HOST}, os.SCHED_IDLE, os.sched_param(0)))\n"
                  "attempt('ioprio_user', lambda: libc.syscall(251, 3, 0, (3 << 13)))  # IOPRIO_WHO_USER, idle\n"
                  "attempt('own_nice', lambda: os.setpriority(os.PRIO_PROCESS, 0, 1))")
    allowed = denied(attack(pool, store, code), "nice", "nice_user", "nice_group", "affinity", "sched", "ioprio_user",
                     "own_nice")
    # sched_setscheduler on another pid reports success without doing anything (libzmq needs that)
    assert sorted(allowed) in (["own_nice"], ["own_nice", "sched"])
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_bpf_perf_kexec_keys_and_ptrace_are_refused(pool, store, status, healthy):
    require(status, "seccomp")
    code = TRY + (
        "insns = (ctypes.c_uint64 * 2)(0xb7, 0x95)  # r0 = 0; exit\nlicense = ctypes.c_char_p(b'GPL')\n"
        "attr = (ctypes.c_uint32 * 30)()\nattr[0], attr[1] = 1, 2  # BPF_PROG_TYPE_SOCKET_FILTER, 2 insns\n"
        "ctypes.memmove(ctypes.byref(attr, 8), ctypes.byref(ctypes.c_uint64(ctypes.addressof(insns))), 8)\n"
        "ctypes.memmove(ctypes.byref(attr, 16), ctypes.byref(ctypes.c_uint64(ctypes.cast(license, ctypes.c_void_p).value)), 8)\n"
        "attempt('bpf', lambda: libc.syscall(321, 5, ctypes.byref(attr), 120))\n"
        "pattr = (ctypes.c_uint32 * 32)()\npattr[0], pattr[1] = 1, 128  # PERF_TYPE_SOFTWARE\n"
        "attempt('perf', lambda: libc.syscall(298, ctypes.byref(pattr), 0, -1, -1, 0))\n"
        "attempt('kexec', lambda: libc.syscall(246, 0, 0, None, 0))\n"
        "attempt('kexec_file', lambda: libc.syscall(320, -1, -1, 0, None, 0))\n"
        "attempt('add_key', lambda: libc.syscall(248, b'user', b'qlwork', b'secret', 6, -2))\n"
        "attempt('keyctl', lambda: libc.syscall(250, 0, -3, 0))\n"
        "attempt('request_key', lambda: libc.syscall(249, b'user', b'qlwork', None, 0))\n"
        f"attempt('ptrace', lambda: libc.ptrace(16, {HOST}, None, None))\n"
        "attempt('ptrace_me', lambda: libc.ptrace(0, 0, None, None))")
    names = ("bpf", "perf", "kexec", "kexec_file", "add_key", "keyctl", "request_key", "ptrace", "ptrace_me")
    assert denied(attack(pool, store, code), *names) == []
    tracer = [line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("TracerPid")]
    assert tracer == ["TracerPid:\t0"]


def test_namespaces_and_mounts_cannot_be_entered_or_changed(pool, store, status, tmp_path, healthy):
    require(status, "seccomp")
    code = TRY + (
        "for name, flag in (('userns', 0x10000000), ('netns', 0x40000000), ('mountns', 0x00020000)):\n"
        "    attempt(name, lambda: libc.unshare(flag))\n"
        f"attempt('setns', lambda: libc.setns(os.open('/proc/{HOST}/ns/net', os.O_RDONLY), 0))\n"
        "attempt('mount', lambda: libc.mount(b'none', b'.', b'tmpfs', 0, None))\n"
        f"attempt('umount', lambda: libc.umount2({str(tmp_path)!r}.encode(), 2))\n"
        "attempt('clone_userns', lambda: libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0))")
    assert denied(attack(pool, store, code), "userns", "netns", "mountns", "setns", "mount", "umount",
                  "clone_userns") == []


def test_dev_and_sys_are_not_readable(pool, store, status, healthy):
    require(status, "landlock")
    code = TRY + (
        "for i, path in enumerate(['/dev/kmsg', '/dev/loop0', '/dev/loop-control', '/dev/mem', '/dev/sda', '/dev/vda',\n"
        "                          '/sys/kernel/notes', '/sys/fs/cgroup/pids/cgroup.procs', '/sys/class/net']):\n"
        "    if os.path.lexists(path):\n"
        "        attempt(f'read{i}', lambda: open(path, 'rb').read(64) if not os.path.isdir(path) else os.listdir(path))\n"
        "attempt('list_dev', lambda: os.listdir('/dev'))\nattempt('list_sys', lambda: os.listdir('/sys'))\n"
        "attempt('list_cgroups', lambda: os.listdir('/sys/fs/cgroup/pids'))\n"
        "attempt('urandom', lambda: len(open('/dev/urandom', 'rb').read(8)))\n"
        "attempt('null', lambda: open('/dev/null', 'w').write('x'))")
    out = attack(pool, store, code)
    names = [line.split("=")[0] for line in out["stdout"].split()]
    if str(status.get("bubblewrap", "")).startswith("enforced"):
        assert not [n for n in names if n.startswith("read")]  # the mount namespace's /dev holds five files only
    else:
        assert "read0" in names or not os.path.exists("/dev/kmsg")
    assert sorted(denied(out, *names)) == ["null", "urandom"]


def test_kernels_cannot_listen_to_each_other(pool, store, status, healthy):
    """The issue's attack: a zmq SUB connect to another kernel's iopub socket received user A's output.
    Here user B even knows the socket's path (the worst case) and receives nothing; A's directories are
    out of B's reach, and cgroup names reveal neither thread nor directory."""
    require(status, "seccomp")
    require(status, "landlock")
    import zmq

    attack(pool, store, "1", thread="user_a")
    attack(pool, store, "1", thread="user_b")  # both kernels warm, so B listens while A speaks
    victim = pool.kernel("user_a")
    iopub = f"{victim.km.ip}-{victim.km.iopub_port}"
    control = zmq.Context().socket(zmq.SUB)  # the same connect from outside the sandbox hears A
    control.setsockopt(zmq.SUBSCRIBE, b"")
    control.connect(f"ipc://{iopub}")
    a_out = {}
    speak = "import time\nfor _ in range(50):\n    print('USER-A-SECRET-PORTFOLIO-ROW', flush=True)\n    time.sleep(0.1)"
    talker = threading.Thread(target=lambda: a_out.update(attack(pool, store, speak, thread="user_a")))
    talker.start()
    time.sleep(0.5)
    listen = (
        "import time, zmq\nctx = zmq.Context()\nsub = ctx.socket(zmq.SUB)\nsub.setsockopt(zmq.SUBSCRIBE, b'')\n"
        f"sub.connect('ipc://{iopub}')\nheard = []\npoller = zmq.Poller()\npoller.register(sub, zmq.POLLIN)\n"
        "deadline = time.time() + 3\nwhile time.time() < deadline:\n    if poller.poll(100):\n"
        "        heard.append(sub.recv_multipart())\nsub.close(0); ctx.term()\nprint('heard', len(heard))\n")
    out = attack(pool, store, listen, thread="user_b")
    talker.join()
    control_heard = []
    while control.poll(100):
        control_heard.append(b"".join(control.recv_multipart()))
    control.close(0)
    assert a_out["stdout"].count("USER-A-SECRET-PORTFOLIO-ROW") == 50
    assert any(b"USER-A-SECRET" in m for m in control_heard)  # A published on that socket all along
    assert out["stdout"] == "heard 0\n" and "USER-A" not in json.dumps(out)
    probe = TRY + "".join(f"attempt('{n}', lambda: os.listdir({str(p)!r}))\n" for n, p in
                          (("run", victim.run_dir), ("work", victim.work_dir), ("base", victim.base)))
    probe += f"attempt('read', lambda: open({str(victim.host_dir / 'kernel.json')!r}).read())\n"
    assert denied(attack(pool, store, probe, thread="user_b"), "run", "work", "base", "read") == []
    names = [p.name for k in (victim, pool.kernel("user_b")) for p in (k.cgroups.paths.values() if k.cgroups else [])]
    for name in names:
        assert victim.base.name not in name and "user" not in name


def test_host_unix_sockets_are_unreachable(pool, store, status, tmp_path, healthy):
    """connect('/tmp/.../host.sock') succeeded before; a world-writable socket in a world-readable dir."""
    require(status, "seccomp")
    tmp_path.chmod(0o755)
    path = tmp_path / "host.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    path.chmod(0o777)
    server.listen()
    server.settimeout(0.5)
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.bind(str(tmp_path / "host.dgram"))
    dgram.settimeout(0.5)
    try:
        code = TRY + (f"import socket\nattempt('stream', lambda: socket.socket(socket.AF_UNIX).connect({str(path)!r}))\n"
                      "attempt('dgram', lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'hi', "
                      f"{str(tmp_path / 'host.dgram')!r}))\n"
                      "attempt('seqpacket', lambda: socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET))\n"
                      "import _socket\n"
                      f"attempt('raw', lambda: _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM).connect({str(path)!r}))")
        assert denied(attack(pool, store, code), "stream", "dgram", "seqpacket", "raw") == []
        with pytest.raises(TimeoutError):
            server.accept()
        with pytest.raises(TimeoutError):
            dgram.recv(10)
    finally:
        server.close()
        dgram.close()


def _peak_rss_reset() -> int:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    return _vm("VmHWM")


def _vm(field: str) -> int:
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field))
    return int(line.split()[1]) * 1024


def test_huge_output_is_capped_in_the_kernel(pool, store, healthy):
    """A 300 MB print and a 300 MB result: before, the host grew by 860 MB before cutting."""
    start = _peak_rss_reset()
    out = attack(pool, store, "print('x' * 300_000_000)")
    result = attack(pool, store, "'y' * 300_000_000")
    growth = _vm("VmHWM") - start
    assert out["truncated"] and out["stdout"].endswith("[truncated: 299998001 more characters]")
    assert len(out["stdout"]) < 2100 and len(result["result"]) < 2100 and "more characters" in result["result"]
    assert growth < 50 * 1024 ** 2, f"host peak RSS grew by {growth / 1e6:.0f} MB"


def test_direct_oversized_iopub_message_never_reaches_host_memory(store, healthy):
    """Bypassing the kernel's cap by sending on its iopub socket directly: the host's zmq socket refuses
    the 300 MB message unread (MAXMSGSIZE), so host memory stays flat; the call ends at its time limit."""
    small = ci.KernelPool(SandboxLimits(timeout_seconds=4, interrupt_grace_seconds=1, max_kernels=1))
    try:
        attack(small, store, "1", "flood")
        start = _peak_rss_reset()
        code = ("k = get_ipython().kernel\nk.session.send(k.iopub_socket, 'stream', {'name': 'stdout', 'text': 'z' * "
                "300_000_000}, parent=k.get_parent('shell'))\nimport time; time.sleep(1)")
        out = attack(small, store, code, "flood")
        growth = _vm("VmHWM") - start
        assert growth < 100 * 1024 ** 2, f"host peak RSS grew by {growth / 1e6:.0f} MB"
        assert "z" * 100 not in json.dumps(out)
        assert attack(small, store, "1 + 1", "flood")["result"] == "2"
    finally:
        small.shutdown()


def host_pid(kernel, pid: int) -> int | None:
    """The host pid of process ``pid`` of the kernel's pid namespace (the same number without bubblewrap)."""
    try:
        ns = os.readlink(f"/proc/{kernel.pid}/ns/pid")
    except OSError:
        return None
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != ns:
                continue
            nspid = next(l for l in Path(f"/proc/{entry}/status").read_text().splitlines() if l.startswith("NSpid"))
        except (OSError, StopIteration):
            continue
        if int(nspid.split()[-1]) == pid:
            return int(entry)
    return None


def test_child_processes_do_not_outlive_the_call(pool, store, status, healthy):
    code = ("import subprocess, os\nkid = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
            "pid = os.fork()\nif pid == 0:\n    os.setsid()\n    if os.fork() == 0:\n        import time; time.sleep(300)\n"
            "    os._exit(0)\nos.waitpid(pid, 0)\nprint(kid.pid)")
    out = attack(pool, store, code)
    kernel = pool.kernel("mallory")
    kid = host_pid(kernel, int(out["stdout"]))  # the kernel printed its pid namespace's number
    assert any("left running" in n for n in out["notes"]), out["notes"]
    state = Path(f"/proc/{kid}/stat").read_text().rsplit(")", 1)[1].split()[0] if kid and Path(f"/proc/{kid}").exists() \
        else "gone"
    assert state in ("Z", "X", "gone")
    if kernel.cgroups and kernel.cgroups.paths:
        assert kernel.cgroups.procs() == kernel.keep | {kernel.pid}  # the setsid grandchild too
    assert attack(pool, store, "print('still here')")["stdout"] == "still here\n"


def test_disk_quota_for_the_working_directory(pool, store, status, healthy):
    require(status, "disk_quota")
    code = ("import os, errno\nwritten = 0\ntry:\n    for i in range(20):\n        with open(f'fill{i}', 'wb') as f:\n"
            "            for _ in range(8):\n                f.write(b'\\0' * 1024 ** 2); written += 1024 ** 2\n"
            "except OSError as exc:\n    print(errno.errorcode[exc.errno], written // 1024 ** 2)")
    err, mb = attack(pool, store, code, thread="filler")["stdout"].split()
    assert err == "ENOSPC" and 56 <= int(mb) <= 64  # 64 MB quota here (160 MB were attempted)
    run_dir = "os.environ['JUPYTER_RUNTIME_DIR']"  # the kernel's other writable directory
    err, mb = attack(pool, store, code.replace("f'fill{i}'", f"os.path.join({run_dir}, f'fill{{i}}')"),
                     thread="filler")["stdout"].split()
    assert err == "ENOSPC" and int(mb) <= sandbox_host.RUN_DIR_BYTES // 1024 ** 2
    attack(pool, store, f"import glob\n[os.remove(p) for p in glob.glob(os.path.join({run_dir}, 'fill*'))]", thread="filler")
    assert attack(pool, store, "import glob\n[os.remove(p) for p in glob.glob('fill*')]\nopen('ok', 'w').write('ok')",
                  thread="filler")["status"] == "ok"
    pool.shutdown("filler")


def test_children_together_cannot_exceed_the_memory_cap(store, healthy):
    """Before, 3 children x 610 MB passed a 763 MB cap (RLIMIT_AS is per process); the cgroup caps the total."""
    small = ci.KernelPool(SandboxLimits(timeout_seconds=30, memory_bytes=768 * 1024 ** 2, max_kernels=1))
    try:
        status = json.loads(attack(small, store, "import json; print(json.dumps(sandbox_status()))", "mem")["stdout"])
        require(status, "memory_cgroup")
        code = ("import os\nkids = []\nfor _ in range(3):\n    pid = os.fork()\n    if pid == 0:\n"
                "        try:\n            block = b'\\1' * (300 * 1024 ** 2)\n            time.sleep(3)\n"
                "        finally:\n            os._exit(0)\n    kids.append(pid)\n"
                "import time\nprint([os.waitpid(p, 0)[1] for p in kids])")
        groups = small.kernel("mem").cgroups
        out = attack(small, store, "import time\n" + code, "mem")
        if out["status"] == "ok":  # the OOM killer chose children: at least one was killed, the total stayed capped
            assert any(status_ == 9 for status_ in json.loads(out["stdout"])), out
            peak = groups.peak_memory()
            assert peak is not None and peak <= 768 * 1024 ** 2
        else:  # it chose the kernel (the largest process): killed and restarted
            assert out["status"] == "killed" and "SIGKILL" in out["notes"][0], out
        assert attack(small, store, "1 + 1", "mem")["result"] == "2"
    finally:
        small.shutdown()


def test_leftovers_of_a_killed_host_are_swept(tmp_path):
    """A host SIGKILLed with a kernel running leaves the kernel, its temp dir and cgroups; the sweep at the
    next start removes them (and leaves a live host's kernels alone)."""
    script = ("import json, os, signal\nfrom qlwork.tools import code_interpreter as ci\n"
              "p = ci.KernelPool()\nk = p.kernel('t')\n"
              "print(json.dumps({'base': str(k.base), 'pid': k.km.provisioner.pid,"
              " 'cgroups': [str(c) for c in (k.cgroups.paths.values() if k.cgroups else [])]}), flush=True)\n"
              "os.kill(os.getpid(), signal.SIGKILL)")
    env = {**os.environ, "PYTHONPATH": str(Path(ci.__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    left = json.loads(done.stdout.splitlines()[-1])
    assert Path(left["base"]).exists() and Path(f"/proc/{left['pid']}").exists()
    live = ci.KernelPool(SandboxLimits(max_kernels=1))
    try:
        mine = live.kernel("live")
        swept = sandbox_host.sweep_stale()
        assert left["base"] in swept and str(mine.base) not in swept and mine.alive()
    finally:
        live.shutdown()
    assert not Path(left["base"]).exists()
    for path in left["cgroups"]:
        assert not Path(path).exists()
    time.sleep(0.2)
    stat = Path(f"/proc/{left['pid']}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
