"""Weekly report batch: per-report cost above the bare-kernel floor, the cold first report, throughput
at 5 and 100 users on 2 workers, the scaling line and memory per worker, beside the goals (issue 17).

- floor: a bare kernel start plus a one-cell notebook through papermill (best of 3);
- per report: ``run_batch`` with 1 worker over 5 users (warm kernel after the first), each user's own
  duration from the manifest (kernel reset, papermill, HTML render); median and p90 of users 2..5,
  and the first user's as the cold report (kernel start + imports);
- throughput: ``run_batch`` with 2 workers over 5 users and (``QLWORK_BENCH_USERS=100``, or
  ``python -m bench.reports 100``) over 100 users; the 100-user run takes minutes on 2 shared cores,
  so the default ``make bench`` runs 5 and 20 and extrapolates the line;
- memory: the largest resident set of a worker's kernel process and of the batch process.

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

GOAL_OVERHEAD_S, GOAL_COLD_S, GOAL_100_S = 1.0, 5.0, 180.0
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
    from qlwork.portfolio import sample_portfolios

    names = list(sample_portfolios())
    risk = ("conservative", "moderate", "aggressive")
    path.write_text("".join(f'[[users]]\nuser_id = "u{i:04d}"\nportfolio = "sample:{names[i % len(names)]}"\n'
                            f'risk_profile = "{risk[i % 3]}"\n\n' for i in range(n)), encoding="utf-8")
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

        self.me, self.peak_self, self.peak_kernel = psutil.Process(), 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.2):
            try:
                self.peak_self = max(self.peak_self, self.me.memory_info().rss)
                for child in self.me.children(recursive=True):
                    self.peak_kernel = max(self.peak_kernel, child.memory_info().rss)
            except Exception:  # noqa: BLE001 - a child that just exited
                pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _batch(tmp: Path, n: int, workers: int, tag: str):
    from qlwork.reports import run_batch

    os.environ["QLWORK_HOME"] = str(tmp / f"home-{tag}")
    cpu = []  # CPU seconds (batch process + kernels) at each finished report: kernels that end take theirs along
    t = time.perf_counter()
    result = run_batch(AS_OF, workers=workers, force=True, config=str(_users(tmp / f"{tag}.toml", n)),
                       output_dir=tmp / f"out-{tag}", progress=False, on_result=lambda e: cpu.append(_cpu()))
    result.cpu = cpu
    return time.perf_counter() - t, result


def _p90(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]


def run(big: int | None = None) -> list[str]:
    big = big or int(os.environ.get("QLWORK_BENCH_USERS", "20"))
    saved = os.environ.get("QLWORK_HOME")
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="qlwork-bench-", dir="/tmp") as tmp:
        tmp_path = Path(tmp)
        try:
            floor, floor_cpu = _bare_kernel(tmp_path)
            _, one = _batch(tmp_path, 5, 1, "one")
            with _Memory() as mem:
                wall5, r5 = _batch(tmp_path, 5, WORKERS, "five")
                wall_big, r_big = _batch(tmp_path, big, WORKERS, "big")
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
    slope = (wall_big - wall5) / (big - 5)
    intercept = wall5 - 5 * slope
    at100 = intercept + 100 * slope
    ok = lambda good: "OK" if good else "ABOVE GOAL"  # noqa: E731
    per_user = lambda r: [e["duration_s"] for e in r.entries.values()]  # noqa: E731
    lines = [
        "== reports ==",
        f"{os.cpu_count()} cores, load average {load0[0]:.1f} before / {load1[0]:.1f} after (other work on the "
        "machine inflates wall times)",
        f"floor: bare kernel + one-cell notebook via papermill {floor:.2f} s ({floor_cpu:.2f} s CPU)",
        f"1 worker, 5 users (all ok: {one.ok}): cold first report {cold:.2f} s (goal <= {GOAL_COLD_S:.0f} s) "
        f"{ok(cold <= GOAL_COLD_S)}; warm reports median {med:.2f} s, p90 {p90:.2f} s",
        f"per-report overhead above the floor: median {med - floor:+.2f} s (goal <= {GOAL_OVERHEAD_S:.1f} s) "
        f"{ok(med - floor <= GOAL_OVERHEAD_S)}, p90 {p90 - floor:+.2f} s",
        f"CPU per warm report (kernel + batch process; less sensitive to load than wall time): {cpu_warm:.2f} s, "
        f"{cpu_warm - floor_cpu:+.2f} s above the floor's CPU; on {WORKERS} idle cores 100 users need about "
        f"{100 * cpu_warm / WORKERS:.0f} s of CPU",
        f"{WORKERS} workers, 5 users (ok: {r5.ok}): {wall5:.1f} s wall; per report median "
        f"{statistics.median(per_user(r5)):.2f} s, p90 {_p90(per_user(r5)):.2f} s",
        f"{WORKERS} workers, {big} users (ok: {r_big.ok}): {wall_big:.1f} s wall; per report median "
        f"{statistics.median(per_user(r_big)):.2f} s, p90 {_p90(per_user(r_big)):.2f} s",
        f"scaling line: wall = {intercept:.1f} s + {slope:.2f} s x users; 100 users "
        f"{'measured' if big == 100 else 'extrapolated'} {wall_big if big == 100 else at100:.0f} s "
        f"(goal <= {GOAL_100_S:.0f} s) {ok((wall_big if big == 100 else at100) <= GOAL_100_S)}",
        f"memory: largest kernel (one per worker) {mem.peak_kernel / 2**20:.0f} MiB RSS; batch process "
        f"{mem.peak_self / 2**20:.0f} MiB RSS",
    ]
    if big != 100:
        lines.append("(100 users measured with QLWORK_BENCH_USERS=100 or `python -m bench.reports 100`)")
    return lines


if __name__ == "__main__":  # pragma: no cover
    print("\n".join(run(int(sys.argv[1]) if len(sys.argv) > 1 else None)))
