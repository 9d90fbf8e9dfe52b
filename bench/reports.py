"""Weekly report batch throughput: ``run_batch`` with 2 workers vs plain sequential
``papermill.execute_notebook`` + nbconvert HTML on the same notebook and users (goal: >= 1.8x), and
the per-report overhead above a bare kernel start (a one-cell notebook through papermill)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

GOAL = 1.8
WORKERS = 2


def _sequential(nb_path: Path, users, as_of: str, out: Path, kernel: str = "python3") -> float:
    import papermill
    from nbconvert import HTMLExporter

    start = time.perf_counter()
    for user in users:
        target = out / user.user_id
        target.mkdir(parents=True, exist_ok=True)
        papermill.execute_notebook(str(nb_path), str(target / "portfolio_review.ipynb"),
                                   parameters=user.parameters(as_of), kernel_name=kernel, progress_bar=False)
        html, _ = HTMLExporter(exclude_input=True).from_filename(str(target / "portfolio_review.ipynb"))
        (target / "portfolio_review.html").write_text(html, encoding="utf-8")
    return time.perf_counter() - start


def _bare_kernel(tmp: Path, repeats: int = 3) -> float:
    import nbformat
    import papermill

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")],
                                  metadata={"kernelspec": {"name": "python3", "language": "python",
                                                           "display_name": "Python 3"}})
    path = tmp / "bare.ipynb"
    nbformat.write(nb, path)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        papermill.execute_notebook(str(path), str(tmp / "bare-out.ipynb"), progress_bar=False)
        times.append(time.perf_counter() - t)
    return min(times)


def run() -> list[str]:
    from qlwork.reports import default_notebook, load_users, run_batch

    users = load_users()
    as_of = "2026-11-20"
    nb_path = default_notebook()
    saved = os.environ.get("QLWORK_HOME")
    with tempfile.TemporaryDirectory(prefix="qlwork-bench-") as tmp:
        tmp_path = Path(tmp)
        os.environ["QLWORK_HOME"] = str(tmp_path / "home")
        try:
            bare = _bare_kernel(tmp_path)
            _sequential(nb_path, users[:1], as_of, tmp_path / "warm")  # warm caches, compiled kernels
            seq = _sequential(nb_path, users, as_of, tmp_path / "seq")
            t = time.perf_counter()
            result = run_batch(as_of, workers=WORKERS, force=True, output_dir=tmp_path / "batch", progress=False)
            par = time.perf_counter() - t
            t = time.perf_counter()
            run_batch(as_of, workers=1, force=True, output_dir=tmp_path / "batch1", progress=False)
            one = time.perf_counter() - t
        finally:
            if saved is None:
                os.environ.pop("QLWORK_HOME", None)
            else:
                os.environ["QLWORK_HOME"] = saved
    n = len(users)
    speed = seq / par
    per_report = one / n
    return [
        "== reports ==",
        f"{n} sample users, {os.cpu_count()} cores; all ok: {result.ok}",
        f"sequential papermill + nbconvert: {seq / n:.2f} s/report ({seq:.1f} s total)",
        f"run_batch, {WORKERS} workers (IPC kernels): {par / n:.2f} s/report ({par:.1f} s total); "
        f"throughput {speed:.2f}x (goal >= {GOAL}x) {'OK' if speed >= GOAL else 'BELOW GOAL'}",
        f"run_batch, 1 worker: {per_report:.2f} s/report",
        f"bare kernel start + one-cell notebook via papermill: {bare:.2f} s; "
        f"per-report overhead above it: {per_report - bare:.2f} s (review, charts, HTML render)",
    ]


if __name__ == "__main__":  # pragma: no cover
    print("\n".join(run()))
