"""code_interpreter: kernel per thread, outputs, and each sandbox guarantee (one shared kernel where possible)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from qlwork.errors import InputError
from qlwork.tools import code_interpreter as ci
from qlwork.tools.files import FileStore
from qlwork.tools.registry import ToolContext
from qlwork.tools.sandbox import SandboxLimits

SECRETS = {"OPENAI_API_KEY": "sk-test-planted-000000", "KITE_ACCESS_TOKEN": "kite-planted-token",
           "KITE_API_SECRET": "kite-planted-secret"}


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    for k, v in SECRETS.items():
        mp.setenv(k, v)
    p = ci.KernelPool(SandboxLimits(timeout_seconds=20, max_kernels=3, output_chars=2000, interrupt_grace_seconds=2))
    yield p
    p.shutdown()
    mp.undo()


@pytest.fixture(scope="module")
def status(pool):
    return json.loads(pool.execute("main", "import json; print(json.dumps(sandbox_status()))")["stdout"])


def run(pool, code, key="main", **kw):
    return pool.execute(key, code, **kw)


def test_state_stdout_result_and_errors(pool):
    assert run(pool, "x = 41\nprint('hello')\nx + 1")["stdout"] == "hello\n"
    out = run(pool, "x + 1")
    assert out["status"] == "ok" and out["result"] == "42"
    err = run(pool, "1 / 0")
    assert err["status"] == "error" and err["exception"]["ename"] == "ZeroDivisionError"
    assert "\x1b[" not in err["exception"]["traceback"]
    assert run(pool, "x")["result"] == "41"  # an error does not lose state


def test_tool_stores_figures_as_files_and_copies_attachments(pool, tmp_path):
    fs = FileStore(tmp_path / "files")
    data = fs.create(b"symbol,close\nTCS,1\nINFY,2\n", "px.csv")
    ctx = ToolContext(thread_id="main", extra={"file_store": fs, "kernel_pool": pool, "attachments": [
        {"file_id": data.id, "tools": ["code_interpreter"]}]})
    out = ci.code_interpreter.tool.invoke({"code": "df = read_file('px.csv')\nplt.plot(df['close'])\nplt.show()\n"
                                                   "print(len(df))"}, ctx)
    assert out["stdout"] == "2\n" and out["other_files_in_directory"][0]["filename"] == "px.csv"
    image = out["images"][0]
    assert fs.get(image["file_id"]).kind == "png" and fs.get(image["file_id"]).purpose == "assistants_output"
    assert image["bytes"] == fs.get(image["file_id"]).bytes > 1000


def test_host_hooks_limit_the_files_a_model_may_name_and_record_new_ones(pool, tmp_path):
    """A multi-user host (the server) allows only the user's files and learns of the files made."""
    fs = FileStore(tmp_path / "files")
    mine = fs.create(b"symbol,close\nTCS,1\n", "mine.csv")
    theirs = fs.create(b"symbol,close\nSECRETCO,9\n", "theirs.csv")
    attached = fs.create(b"symbol,close\nINFY,2\n", "attached.csv")
    created: list[str] = []
    ctx = ToolContext(thread_id="hooks", extra={
        "file_store": fs, "kernel_pool": pool, "file_allowed": lambda fid: fid == mine.id,
        "file_created": created.append, "attachments": [{"file_id": attached.id, "tools": ["code_interpreter"]}]})
    with pytest.raises(InputError) as err:
        ci.code_interpreter.tool.invoke({"code": "1", "file_ids": [theirs.id]}, ctx)
    assert err.value.details["code"] == "not_found" and "theirs" not in str(err.value)
    out = ci.code_interpreter.tool.invoke(
        {"code": "import os\nprint(sorted(os.listdir('.')))\nplt.plot([1, 2]); plt.show()",
         "file_ids": [mine.id, attached.id]}, ctx)
    assert "theirs.csv" not in out["stdout"] and "mine.csv" in out["stdout"] and "attached.csv" in out["stdout"]
    assert created == [out["images"][0]["file_id"]]


def test_working_directory_is_per_thread_and_store_is_out_of_reach(pool, status, tmp_path):
    cwd = run(pool, "import os; print(os.getcwd())")["stdout"].strip()
    assert cwd.endswith("/work") and "qlwork-ci-" in cwd
    assert run(pool, "print(os.getcwd())", key="other")["stdout"].strip() != cwd
    if not status["landlock"].startswith("enforced"):
        pytest.skip(f"Landlock not available: {status['landlock']}")
    target = tmp_path / "store.db"
    target.write_text("precious")
    refused = ("PermissionError", "FileNotFoundError")  # Landlock, or not even in bubblewrap's mount namespace
    out = run(pool, f"open({str(target)!r}, 'w').write('x')")
    assert out["exception"]["ename"] in refused and target.read_text() == "precious"
    assert run(pool, f"open({str(target)!r}).read()")["exception"]["ename"] in refused
    assert run(pool, "open('notes.txt', 'w').write('ok')")["status"] == "ok"


def test_symlink_planted_in_work_dir_does_not_redirect_host_copies(pool, tmp_path):
    """A model alone: plot a figure (a file object figure_1.png), plant symlinks named like it and like an
    attachment pointing at a host file, then ask for the files. The host replaces the links with regular
    files and the host file is untouched; a directory in the way is refused with a clear error."""
    victim = tmp_path / "qlwork.db"
    victim.write_bytes(b"precious store")
    fs = FileStore(tmp_path / "files")
    ctx = ToolContext(thread_id="symlink", extra={"file_store": fs, "kernel_pool": pool})
    figure = ci.code_interpreter.tool.invoke({"code": "plt.plot([1, 2]); plt.show()"}, ctx)["images"][0]
    assert figure["filename"] == "figure_1.png"
    attached = fs.create(b"symbol,close\nINFY,2\n", "attached.csv")
    blocked = fs.create(b"symbol,close\nTCS,1\n", "blocked.csv")
    plant = (f"import os\nfor name in ('figure_1.png', 'attached.csv'):\n    os.symlink({str(victim)!r}, name)\n"
             "os.mkdir('blocked.csv')\nprint(sorted(n for n in os.listdir('.') if os.path.islink(n)))")
    assert ci.code_interpreter.tool.invoke({"code": plant}, ctx)["stdout"] == "['attached.csv', 'figure_1.png']\n"
    ctx.extra["attachments"] = [{"file_id": attached.id, "tools": ["code_interpreter"]}]
    check = "import os\nprint([os.path.islink(n) for n in ('figure_1.png', 'attached.csv')])"
    out = ci.code_interpreter.tool.invoke({"code": check, "file_ids": [figure["file_id"]]}, ctx)
    assert victim.read_bytes() == b"precious store"
    assert out["stdout"] == "[False, False]\n"
    work = pool.kernel("symlink").work_dir
    for obj_id, name in ((figure["file_id"], "figure_1.png"), (attached.id, "attached.csv")):
        assert not (work / name).is_symlink() and (work / name).read_bytes() == fs.content(obj_id)
    with pytest.raises(InputError) as err:
        ci.code_interpreter.tool.invoke({"code": "1", "file_ids": [blocked.id]}, ctx)
    assert err.value.details["code"] == "sandbox_path_in_use" and "directory" in str(err.value)
    assert (work / "blocked.csv").is_dir() and victim.read_bytes() == b"precious store"
    pool.shutdown("symlink")


def test_kernel_cannot_redirect_host_files_next_to_it(pool, status, tmp_path):
    """launcher.json (rewritten at each start), the connection file and kernel.log (appended to, and read for
    error messages) are outside the kernel's writable paths: it cannot swap them for symlinks."""
    if not status["landlock"].startswith("enforced"):
        pytest.skip(f"Landlock not available: {status['landlock']}")
    victim = tmp_path / "qlwork.db"
    victim.write_bytes(b"precious store")
    kernel = pool.kernel("rundir")
    paths = [kernel.km.launcher_config, kernel.km.connection_file,
             str(Path(kernel.km.launcher_config).with_name("kernel.log"))]
    code = (f"import os\nres = []\nfor p in {paths!r}:\n    try:\n        os.remove(p)\n"
            f"        os.symlink({str(victim)!r}, p)\n        res.append('planted')\n"
            "    except OSError as exc:\n        res.append(type(exc).__name__)\nprint(res)")
    out = run(pool, code, key="rundir")
    with kernel.lock:
        kernel.restart()
    assert "precious" not in kernel.log_tail()
    assert victim.read_bytes() == b"precious store"
    # refused by Landlock, or not even there (bubblewrap binds the launcher config and connection file only)
    assert set(eval(out["stdout"])) <= {"PermissionError", "FileNotFoundError", "OSError"}, out["stdout"]
    assert not any(os.path.islink(p) for p in paths)
    assert run(pool, "1 + 1", key="rundir")["result"] == "2"
    pool.shutdown("rundir")


def test_host_file_helpers_never_follow_symlinks(tmp_path):
    """Without Landlock the kernel can write next to the host's files, so the helpers check themselves."""
    from qlwork.tools import sandbox

    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    box = tmp_path / "box"
    box.mkdir()
    (box / "a.csv").symlink_to(victim)
    (box / "log").symlink_to(victim)
    sandbox.write_file_nofollow(box, "a.csv", b"new")
    assert not (box / "a.csv").is_symlink() and (box / "a.csv").read_bytes() == b"new"
    assert sandbox.read_tail_nofollow(box / "log", 100) == "" and victim.read_bytes() == b"precious"
    with pytest.raises(OSError):
        sandbox.open_append_nofollow(box / "log")
    for bad in ("../victim", "x/y", ".", "..", ""):
        with pytest.raises(InputError):
            sandbox.write_file_nofollow(box, bad, b"x")
    assert victim.read_bytes() == b"precious"


def test_environment_is_scrubbed(pool):
    env = json.loads(run(pool, "import json, os; print(json.dumps(dict(os.environ)))")["stdout"])
    for name, value in SECRETS.items():
        assert name not in env and value not in json.dumps(env)
    assert not [k for k in env if "KEY" in k or "TOKEN" in k or "SECRET" in k]
    host = run(pool, f"open('/proc/{os.getpid()}/environ', 'rb').read()")
    assert host["status"] == "error"  # the host's environment (with the keys) is not readable either


def test_network_is_blocked(pool, status):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        for target in (("127.0.0.1", port), ("1.1.1.1", 80)):
            out = run(pool, f"import socket\ns = socket.create_connection({target!r}, timeout=3)")
            assert out["exception"]["ename"] == "PermissionError"
        if "enforced" not in status["namespaces"] and "tcp" not in status["landlock"]:
            pytest.skip("only the Python-level block is available here")
        for target in (("127.0.0.1", port), ("1.1.1.1", 80)):  # raw C-level sockets bypass the Python patch
            out = run(pool, f"import _socket\ns = _socket.socket()\ns.settimeout(3)\ns.connect({target!r})")
            assert out["status"] == "error" and out["exception"]["ename"] in ("OSError", "PermissionError")
    finally:
        server.close()


def test_memory_cap(pool):
    run(pool, "x = 41")  # each test sets up the state it checks, so it can run alone (-k)
    out = run(pool, "big = bytearray(3 * 1024 ** 3)")
    assert out["exception"]["ename"] == "MemoryError"
    assert run(pool, "x")["result"] == "41"


def test_fork_bomb_is_contained(pool, status):
    if status["cgroups"].get("pids") != "enforced" and "max_processes" not in status["rlimits"]:
        pytest.skip("neither a pids cgroup nor RLIMIT_NPROC is available")
    run(pool, "x = 41")
    code = ("import os, time\npids, err = [], None\nfor _ in range(2000):\n    try:\n        pid = os.fork()\n"
            "    except OSError as exc:\n        err = type(exc).__name__\n        break\n    if pid == 0:\n"
            "        time.sleep(1)\n        os._exit(0)\n    pids.append(pid)\nfor p in pids:\n    os.waitpid(p, 0)\n"
            "print(len(pids), err)")
    n, err = run(pool, code)["stdout"].split()
    assert int(n) < 128 and err == "BlockingIOError"
    assert run(pool, "x")["result"] == "41"


def test_host_process_cannot_be_signalled(pool, status):
    if "signals" not in status["landlock"]:
        pytest.skip("Landlock signal scoping not available")
    out = run(pool, f"import os, signal; os.kill({os.getpid()}, signal.SIGTERM)")
    assert out["exception"]["ename"] in ("PermissionError", "ProcessLookupError")  # Landlock / pid namespace


def test_output_is_capped(pool):
    out = run(pool, "print('x' * 10000)")
    assert out["truncated"] and len(out["stdout"]) < 2100 and "truncated" in out["stdout"]


def test_timeout_interrupts_and_keeps_state(pool):
    run(pool, "x = 41")
    start = time.monotonic()
    out = run(pool, "while True: pass", timeout=1.5)
    assert out["status"] == "timeout" and time.monotonic() - start < 6
    assert out["exception"]["ename"] == "KeyboardInterrupt" and not out.get("kernel_restarted")
    assert run(pool, "x")["result"] == "41"


def test_stuck_kernel_is_restarted(pool):
    code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: time.sleep(0.05)"
    out = run(pool, code, key="stuck", timeout=1)
    assert out["status"] == "timeout" and out["kernel_restarted"]
    assert run(pool, "1 + 1", key="stuck")["result"] == "2"
    pool.shutdown("stuck")


def test_cpu_time_cap_kills_and_restarts(pool):
    out = run(pool, "while True: pass", key="cpu", cpu_seconds=1, timeout=30)
    assert out["status"] == "killed" and out["kernel_restarted"] and "CPU time" in out["notes"][0]
    assert run(pool, "2 + 2", key="cpu")["result"] == "4"
    pool.shutdown("cpu")


def test_pool_limits_idle_shutdown_and_exit(pool):
    small = ci.KernelPool(SandboxLimits(max_kernels=1, idle_seconds=0.5))
    try:
        busy = threading.Thread(target=small.execute, args=("a", "import time; time.sleep(3)"))
        busy.start()
        time.sleep(0.5)
        with pytest.raises(InputError) as err:
            small.kernel("b")
        assert err.value.details["code"] == "too_many_kernels"
        busy.join()
        pid = small._kernels["a"].km.provisioner.pid
        assert small.reap_idle(now=time.monotonic() + 5) == ["a"] and small.keys() == []
        time.sleep(0.2)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        small.shutdown()


def test_historical_prices_and_rsi_vs_qlwork(pool):
    """The seed's rolling-mean RSI runs in the sandbox; a Wilder RSI built with ewm(alpha=1/14, adjust=False)
    seeded with the simple mean of the first 14 changes (TA-Lib's convention) matches qlwork's rsi().
    The rolling-mean RSI agrees only at the first value (both use the simple mean of the first 14 changes)
    and differs afterwards, because a 14-day rolling mean forgets older changes while Wilder smoothing decays them."""
    from qlwork.analytics.indicators import rsi
    from qlwork.market import get_provider
    from qlwork.market.demo import DEMO_AS_OF

    code = (
        "close = get_historical_prices('TCS', days=200, end='2026-11-20')\n"
        "delta = close.diff()\n"
        "gain = delta.clip(lower=0).rolling(14).mean()\n"
        "loss = (-delta.clip(upper=0)).rolling(14).mean()\n"
        "rsi_rolling = 100 - 100 / (1 + gain / loss)\n"
        "g, l = delta.clip(lower=0), -delta.clip(upper=0)\n"
        "def wilder(s):\n"
        "    seeded = s.copy(); seeded.iloc[:14] = np.nan; seeded.iloc[14] = s.iloc[1:15].mean()\n"
        "    return seeded.ewm(alpha=1/14, adjust=False, ignore_na=True).mean()\n"
        "rsi_wilder = 100 - 100 / (1 + wilder(g) / wilder(l))\n"
        "import json; json.dump({'close': close.tolist(), 'rolling': rsi_rolling.tolist(), 'wilder': rsi_wilder.tolist()},"
        " open('rsi.json', 'w'))")
    out = run(pool, code)
    assert out["status"] == "ok", out
    data = json.loads((Path(out["working_directory"]) / "rsi.json").read_text())
    market = get_provider("demo")
    host_close = market.close_prices(["TCS"], end=DEMO_AS_OF)["TCS"].iloc[-200:].to_numpy()
    np.testing.assert_allclose(data["close"], host_close)
    ours = rsi(host_close, 14)
    wilder, rolling = np.array(data["wilder"], dtype=float), np.array(data["rolling"], dtype=float)
    assert np.isnan(ours[:14]).all() and np.isnan(rolling[:14]).all()
    np.testing.assert_allclose(wilder[14:], ours[14:], atol=1e-9)
    assert abs(rolling[14] - ours[14]) < 1e-9          # same definition for the first value
    assert np.nanmax(np.abs(rolling[15:] - ours[15:])) > 1.0  # different smoothing afterwards
