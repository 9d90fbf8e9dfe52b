"""Weekly report batch: per-report cost above the bare-kernel floor, the cold first report, a real
1,000-user batch on 2 workers and memory per worker, beside the goals (issues 17 and 31).

- floor: a bare kernel start plus a one-cell notebook through papermill (best of 3);
- per report: ``run_batch`` with 1 worker over 5 users (warm kernel after the first), each user's own
  duration from the manifest (kernel reset, papermill, HTML render); median and p90 of users 2..5,
  the first user's as the cold report (kernel start + imports), and the CPU per warm report;
- the batch: ``run_batch`` with 2 workers over ``QLWORK_BENCH_USERS`` (default 1,000; ``python -m
  bench.reports 50`` for a quick look) synthetic users, each with their own portfolio (5 to 20 demo
  stocks, seeded quantities, a CSV beside a temporary users.toml), measured, not extrapolated: wall
  time, CPU per report (batch process + kernels / users) and the goals 1,000 users <= 5 min and
  CPU per warm report <= 0.5 s;
- memory: the largest resident set of each worker's kernel process and of the batch process.

Wall times on a shared machine are noisy: the load average before and after is printed with them.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

GOAL_OVERHEAD_S, GOAL_COLD_S, GOAL_1000_S, GOAL_CPU_S = 1.0, 5.0, 300.0, 0.5
USERS = 1000
WORKERS = 2
AS_OF = "2026-11-20"


def _bare_kernel(tmp: Path, repeats: int = 3) -> float:
    import nbformat
    import papermill

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")],
                                  metadata={"kernelspec": {"name": "python3", "language": "python",
                                                           "display_name": "Python 3"}})
    path = tmp / "bare.ipynb"
    nbformat.write(nb, path)
    times, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), _cpu()
        papermill.execute_notebook(str(path), str(tmp / "bare-out.ipynb"), progress_bar=False)
        times.append(time.perf_counter() - t)
        cpu.append(_cpu() - c)
    return min(times), min(cpu)


def _users(path: Path, n: int) -> Path:
    """A users.toml of ``n`` synthetic users, each with their own portfolio CSV (5 to 20 demo stocks,
    seeded quantities and prices), risk profiles and horizons in turn."""
    import numpy as np

    from qlwork.market import get_provider

    inst = get_provider("demo").instruments()
    stocks = sorted(inst.loc[(inst["instrument_type"] == "EQ") & (inst["cap"] != "etf"), "tradingsymbol"])
    rng = np.random.default_rng(31)
    folder = path.parent / f"{path.stem}-portfolios"
    folder.mkdir(exist_ok=True)
    risk, horizon = ("conservative", "moderate", "aggressive"), ("short", "medium", "long")
    blocks = []
    for i in range(n):
        picks = rng.choice(stocks, size=int(rng.integers(5, 21)), replace=False)
        rows = "".join(f"{s},NSE,{int(rng.integers(5, 400))},{rng.uniform(100, 3000):.2f}\n" for s in sorted(picks))
        (folder / f"u{i:04d}.csv").write_text("tradingsymbol,exchange,quantity,average_price\n" + rows, encoding="utf-8")
        blocks.append(f'[[users]]\nuser_id = "u{i:04d}"\nportfolio = "{folder.name}/u{i:04d}.csv"\n'
                      f'risk_profile = "{risk[i % 3]}"\nhorizon = "{horizon[i % 3]}"\n\n')
    path.write_text("".join(blocks), encoding="utf-8")
    return path


def _cpu() -> float:
    """CPU seconds used so far by this process, its live kernel children and its ended children."""
    import resource

    import psutil

    me = psutil.Process()
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = sum(me.cpu_times()[:2]) + ended.ru_utime + ended.ru_stime
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except Exception:  # noqa: BLE001 - a child that just exited
            pass
    return total


class _Memory:
    """Samples the resident set of this process and of its kernel children every 0.2 s."""

    def __init__(self):
        import psutil

        self.me, self.peak_self, self.peak_kernel, self.kernels, self.child_cpu = psutil.Process(), 0, 0, {}, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.2):
            try:
                self.peak_self = max(self.peak_self, self.me.memory_info().rss)
                for child in self.me.children(recursive=True):
                    rss = child.memory_info().rss
                    self.peak_kernel = max(self.peak_kernel, rss)
                    self.kernels[child.pid] = max(self.kernels.get(child.pid, 0), rss)
                    self.child_cpu[child.pid] = sum(child.cpu_times()[:2])  # the last seen: kept after it ends
            except Exception:  # noqa: BLE001 - a child that just exited
                pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def cpu(self) -> float:
        """CPU seconds of this process and of every child seen (ended ones as last sampled)."""
        return sum(self.me.cpu_times()[:2]) + sum(self.child_cpu.values())


def _batch(tmp: Path, n: int, workers: int, tag: str, mem=None):
    from qlwork.reports import run_batch

    os.environ["QLWORK_HOME"] = str(tmp / f"home-{tag}")
    cpu = []  # CPU seconds (batch process + kernels) at each finished report: kernels that end take theirs along
    t = time.perf_counter()
    result = run_batch(AS_OF, workers=workers, force=True, config=str(_users(tmp / f"{tag}.toml", n)),
                       output_dir=tmp / f"out-{tag}", progress=False, on_result=lambda e: cpu.append(mem.cpu() if mem else _cpu()))
    result.cpu = cpu
    return time.perf_counter() - t, result


def _p90(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]


def run(big: int | None = None) -> list[str]:
    big = big or int(os.environ.get("QLWORK_BENCH_USERS", str(USERS)))
    saved = os.environ.get("QLWORK_HOME")
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="qlwork-bench-", dir="/tmp") as tmp:
        tmp_path = Path(tmp)
        try:
            floor, floor_cpu = _bare_kernel(tmp_path)
            with _Memory() as mem1:
                _, one = _batch(tmp_path, 5, 1, "one", mem1)
            with _Memory() as mem:
                cpu0 = mem.cpu()
                wall_big, r_big = _batch(tmp_path, big, WORKERS, "big")
                cpu_big = mem.cpu() - cpu0
        finally:
            if saved is None:
                os.environ.pop("QLWORK_HOME", None)
            else:
                os.environ["QLWORK_HOME"] = saved
    load1 = os.getloadavg()
    cpu_warm = (one.cpu[-1] - one.cpu[0]) / (len(one.cpu) - 1)  # per report, reports 2..5, one kernel alive
    durations = [e["duration_s"] for e in one.entries.values()]
    cold, warm = durations[0], durations[1:]
    med, p90 = statistics.median(warm), _p90(warm)
    ok = lambda good: "OK" if good else "ABOVE GOAL"  # noqa: E731
    per_user = [e["duration_s"] for e in r_big.entries.values()]
    failed = sum(e.get("status") != "ok" for e in r_big.entries.values())
    kernels = sorted(mem.kernels.values(), reverse=True)[:WORKERS]
    goal_wall = GOAL_1000_S * big / USERS
    return [
        "== reports ==",
        f"{os.cpu_count()} cores, load average {load0[0]:.1f} before / {load1[0]:.1f} after (other work on the "
        "machine inflates wall times)",
        f"floor: bare kernel + one-cell notebook via papermill {floor:.2f} s ({floor_cpu:.2f} s CPU)",
        f"1 worker, 5 users (all ok: {one.ok}): cold first report {cold:.2f} s (goal <= {GOAL_COLD_S:.0f} s) "
        f"{ok(cold <= GOAL_COLD_S)}; warm reports median {med:.2f} s, p90 {p90:.2f} s",
        f"per-report overhead above the floor: median {med - floor:+.2f} s (goal <= {GOAL_OVERHEAD_S:.1f} s) "
        f"{ok(med - floor <= GOAL_OVERHEAD_S)}, p90 {p90 - floor:+.2f} s",
        f"CPU per warm report (kernel + batch process): {cpu_warm:.2f} s (goal <= {GOAL_CPU_S:.1f} s) "
        f"{ok(cpu_warm <= GOAL_CPU_S)}",
        f"{WORKERS} workers, {big} users measured ({big - failed} ok, {failed} failed; each with their own "
        f"portfolio): {wall_big:.1f} s wall (goal <= {goal_wall:.0f} s"
        + (f" = {GOAL_1000_S:.0f} s per 1,000 users" if big != USERS else "") + f") {ok(wall_big <= goal_wall)}; "
        f"{wall_big / big:.2f} s wall per report; per report median {statistics.median(per_user):.2f} s, "
        f"p90 {_p90(per_user):.2f} s",
        f"CPU per report in the batch (batch process + kernels / users): {cpu_big / big:.2f} s (goal <= "
        f"{GOAL_CPU_S:.1f} s) {ok(cpu_big / big <= GOAL_CPU_S)}",
        f"memory: kernel per worker {', '.join(f'{k / 2**20:.0f}' for k in kernels)} MiB RSS (peak); batch "
        f"process {mem.peak_self / 2**20:.0f} MiB RSS",
    ]


if __name__ == "__main__":  # pragma: no cover
    print("\n".join(run(int(sys.argv[1]) if len(sys.argv) > 1 else None)))
