"""qlwork.reports: the weekly batch (papermill per user, local and Dask executors, index, manifest)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from qlwork.cli import main as cli_main
from qlwork.portfolio import sample_portfolios
from qlwork.fileio import atomic_write
from qlwork.reports import DEFAULT_USERS, VOLATILE_FIELDS, inputs_hash, load_users, run_batch
from qlwork.reports_job import REVIEW_MIME, kernel_manager, mask_volatile_html, mask_volatile_notebook, review_result
from qlwork.errors import InputError

PLANTED = {
    "QLWORK_TEST_MODEL_KEY": "sk-planted-f4k3-model-key-0123456789abcdef",
    "OPENAI_API_KEY": "sk-planted-f4k3-openai-key-9876543210",
    "KITE_API_KEY": "kiteplantedapikey4242",
    "KITE_API_SECRET": "kiteplantedsecret4343",
    "KITE_ACCESS_TOKEN": "kiteplantedaccesstoken4444",
}
CONFIG = """
[defaults]
provider = "demo"

[[users]]
user_id = "esha"
portfolio = "sample:near_cash"
risk_profile = "conservative"
horizon = "short"

[[users]]
user_id = "broken"
portfolio = "sample:diversified"
preferred_ai_provider = "openai-chat"
model = "some-model"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "QLWORK_TEST_MODEL_KEY"
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    saved = {k: os.environ.get(k) for k in [*PLANTED, "QLWORK_HOME"]}
    os.environ.update(PLANTED)
    os.environ["QLWORK_HOME"] = str(root / "home")
    config = root / "users.toml"
    config.write_text(CONFIG, encoding="utf-8")
    out = root / "reports"
    # last week's report for esha, so this week's links to it
    week46 = run_batch("2026-11-13", users=["esha"], workers=1, config=str(config), output_dir=out, progress=False)
    # this week through the CLI: esha succeeds, broken fails (model server unreachable) -> exit code 1
    code = cli_main(["reports", "run", "--as-of", "2026-11-20", "--config", str(config), "--workers", "2",
                     "--output-dir", str(out), "--no-progress"])
    yield {"root": root, "config": config, "out": out, "code": code, "week46": week46}
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _manifest(directory: Path) -> dict:
    return json.loads((directory / "manifest.json").read_text())


def test_default_config_has_one_user_per_sample_portfolio():
    users = load_users()
    assert len(users) == 5 and DEFAULT_USERS.exists()
    assert sorted(u.portfolio for u in users) == sorted(f"sample:{n}" for n in sample_portfolios())
    assert all(u.preferred_ai_provider == "offline" for u in users)
    assert [u.user_id for u in load_users(users=["dev", "asha"])] == ["asha", "dev"]
    with pytest.raises(InputError, match="Unknown users"):
        load_users(users=["nobody"])


def test_bad_config_is_rejected(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[users]]\nuser_id = "a"\nportfolio = "sample:diversified"\napi_key = "sk-x"\n')
    with pytest.raises(InputError, match="unknown keys"):
        load_users(bad)


def test_batch_writes_dated_per_user_reports_index_and_manifest(env):
    day = env["out"] / "2026-11-20"
    assert env["week46"].ok and env["code"] == 1  # one failure -> non-zero exit
    for user in ("esha", "broken"):
        assert (day / user / "portfolio_review.ipynb").is_file() and (day / user / "portfolio_review.html").is_file()
    m = _manifest(day)
    assert list(m["users"]) == ["esha", "broken"] and m["summary"] == {"total": 2, "ok": 1, "failed": 1}
    esha, broken = m["users"]["esha"], m["users"]["broken"]
    assert esha["status"] == "ok" and esha["error"] is None and len(esha["inputs_hash"]) == 64
    assert esha["overall_score"] is not None and esha["risk_level"] and esha["duration_s"] > 0
    assert esha["parameters"]["portfolio"] == "sample:near_cash" and esha["timings"]["execute_s"] > 0
    assert esha["previous_thread_id"] == _manifest(env["out"] / "2026-11-13")["users"]["esha"]["thread_id"]
    assert set(VOLATILE_FIELDS) <= set(m["volatile_fields"])
    assert broken["status"] == "failed" and "model server" in broken["error"]
    index = (day / "index.html").read_text()
    assert 'href="esha/portfolio_review.html"' in index and 'href="broken/portfolio_review.html"' in index
    assert "1 ok, 1 failed" in index and "SYNTHETIC DATA" in index


def test_report_html_hides_code_and_shows_the_sections(env):
    html = (env["out"] / "2026-11-20" / "esha" / "portfolio_review.html").read_text()
    assert "run_review(" not in html and "user_id = " not in html  # code and parameters hidden
    for text in ("Weekly portfolio review: esha", "SYNTHETIC DATA", "Holdings (", "Sector weights vs NIFTY 50",
                 "Score, risk level and risk metrics", "Recommendations", "Insights",
                 "Compared with the review as of 2026-11-13", "Audit trail: tool calls", "not investment advice"):
        assert text in html, text
    assert html.count('src="data:image/png;base64,') == 6  # allocation, sectors, equity, 3 indicator panels
    nb = nbformat.read(env["out"] / "2026-11-20" / "esha" / "portfolio_review.ipynb", as_version=4)
    result, volatile = review_result(nb)
    assert result["user_id"] == "esha" and result["status"] == "ok" and volatile["thread_id"].startswith("thread_")
    assert nb.metadata.papermill.parameters["user_id"] == "esha"


def test_failed_user_notebook_is_written_with_the_error(env):
    day = env["out"] / "2026-11-20" / "broken"
    nb = nbformat.read(day / "portfolio_review.ipynb", as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors and errors[0]["ename"] == "BackendError"
    assert "BackendError" in (day / "portfolio_review.html").read_text()


def test_no_secret_in_any_generated_file(env):
    files = [p for p in env["root"].rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files) and any(p.suffix == ".html" for p in files)
    for path in files:
        data = path.read_bytes()
        for name, secret in PLANTED.items():
            assert secret.encode() not in data, f"{name} leaked into {path}"


def test_rerun_skips_unchanged_users_and_reruns_failed_ones(env):
    day = env["out"] / "2026-11-20"
    before = (day / "esha" / "portfolio_review.html").stat().st_mtime_ns
    result = run_batch("2026-11-20", config=str(env["config"]), workers=2, output_dir=env["out"], progress=False)
    assert result.skipped == ["esha"] and result.ran == ["broken"] and result.failed == ["broken"]
    assert (day / "esha" / "portfolio_review.html").stat().st_mtime_ns == before
    assert "FAILED broken" in result.summary()
    assert not list(day.rglob("*.tmp"))  # atomic writes leave no temp files


def test_two_runs_identical_apart_from_declared_volatile_values(env):
    """A forced re-run on the Dask executor (LocalCluster, in-process) gives the same report."""
    out2 = env["root"] / "reports-dask"
    result = run_batch("2026-11-20", users=["esha"], config=str(env["config"]), workers=1, executor="dask",
                       force=True, output_dir=out2, progress=False)
    assert result.ok and result.ran == ["esha"]
    a, b = env["out"] / "2026-11-20", out2 / "2026-11-20"
    nb_a = json.loads((a / "esha" / "portfolio_review.ipynb").read_text())
    nb_b = json.loads((b / "esha" / "portfolio_review.ipynb").read_text())
    assert _manifest(a)["users"]["esha"]["thread_id"] != _manifest(b)["users"]["esha"]["thread_id"]
    assert mask_volatile_notebook(nb_a) == mask_volatile_notebook(nb_b)
    html_a = (a / "esha" / "portfolio_review.html").read_text()
    html_b = (b / "esha" / "portfolio_review.html").read_text()
    assert html_a != html_b and mask_volatile_html(html_a) == mask_volatile_html(html_b)

    def stable(entry):
        return {k: v for k, v in entry.items() if k not in VOLATILE_FIELDS and k != "executor"}

    assert stable(_manifest(a)["users"]["esha"]) == stable(_manifest(b)["users"]["esha"])
    row = re.compile(r"<tr><td>esha</td>.*?</tr>", re.S)
    idx_a, idx_b = (mask_volatile_html((d / "index.html").read_text()) for d in (a, b))
    assert row.search(idx_a).group(0) == row.search(idx_b).group(0)


def test_inputs_hash_tracks_parameters_notebook_and_portfolio_file(tmp_path):
    pf = tmp_path / "p.csv"
    pf.write_text("symbol,quantity,average_price\nTCS,1,100\n")
    params = {"user_id": "a", "portfolio": str(pf)}
    h = inputs_hash(params, "nb")
    assert h == inputs_hash(dict(params), "nb")
    assert h != inputs_hash({**params, "user_id": "b"}, "nb") and h != inputs_hash(params, "nb2")
    pf.write_text("symbol,quantity,average_price\nTCS,2,100\n")
    assert h != inputs_hash(params, "nb")


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "x" / "f.html"
    atomic_write(target, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write(target, "new")
    assert target.read_text() == "old" and [p.name for p in target.parent.iterdir()] == ["f.html"]


def test_kernels_use_ipc_with_unique_socket_paths(tmp_path):
    a = kernel_manager("python3", str(tmp_path / "a"))
    b = kernel_manager("python3", str(tmp_path / "b"))
    assert a.transport == b.transport == "ipc" and a.ip != b.ip
    assert a.ip.startswith(str(tmp_path / "a"))
    assert REVIEW_MIME == "application/vnd.qlwork.review+json"
