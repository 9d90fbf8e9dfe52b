"""qlwork.reports: the weekly batch (papermill per user, local and Dask executors, index, manifest)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from pathlib import Path

import fake_model
import nbformat
import pytest

import qlwork.reports.batch as reports_mod
from qlwork.assistant.preferences import AIPreferences, save_preferences
from qlwork.cli import main as cli_main
from qlwork.portfolio import sample_portfolios
from qlwork.fileio import atomic_write
from qlwork.reports.batch import DEFAULT_USERS, VOLATILE_FIELDS, UserConfig, inputs_hash, load_users, run_batch
from qlwork.reports.job import (REVIEW_MIME, kernel_manager, mask_volatile_html, mask_volatile_notebook, review_result,
                                run_user_job)
from qlwork.errors import InputError

# Secrets the batch really reads: "broken" builds its client from QLWORK_TEST_MODEL_KEY (server
# unreachable) and "farah" sends OPENAI_API_KEY to the fake model server with every request. (No
# Kite user runs in this batch, so no Kite token is planted: a planted value nothing reads proves nothing.)
PLANTED = {
    "QLWORK_TEST_MODEL_KEY": "sk-planted-f4k3-model-key-0123456789abcdef",
    "OPENAI_API_KEY": "sk-planted-f4k3-openai-key-9876543210",
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

[[users]]
user_id = "farah"
portfolio = "sample:it_heavy"
preferred_ai_provider = "openai-chat"
model = "rules-over-the-wire"
base_url = "{model_url}"
api_key_env = "OPENAI_API_KEY"
timeout = 42
max_retries = 1
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    saved = {k: os.environ.get(k) for k in [*PLANTED, "QLWORK_HOME"]}
    os.environ.update(PLANTED)
    os.environ["QLWORK_HOME"] = str(root / "home")
    server = fake_model.FakeModel(policy=fake_model.rule_model)  # farah's model: plays the offline rules
    config = root / "users.toml"
    config.write_text(CONFIG.replace("{model_url}", server.base_url), encoding="utf-8")
    out = root / "reports"
    (root / "logs").mkdir()
    log = logging.FileHandler(root / "logs" / "batch.log", encoding="utf-8")  # in-process logs, scanned too
    logging.getLogger().addHandler(log)
    old_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.INFO)
    # last week's report for esha, so this week's links to it
    week46 = run_batch("2026-11-13", users=["esha"], workers=1, config=str(config), output_dir=out, progress=False)
    # this week through the CLI: esha and farah succeed, broken fails (model server unreachable) -> exit code 1
    with open(root / "logs" / "cli.log", "w", encoding="utf-8") as fh, \
            contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        code = cli_main(["reports", "run", "--as-of", "2026-11-20", "--config", str(config), "--workers", "2",
                         "--output-dir", str(out)])
    yield {"root": root, "config": config, "out": out, "code": code, "week46": week46, "server": server}
    logging.getLogger().removeHandler(log)
    logging.getLogger().setLevel(old_level)
    log.close()
    server.close()
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
    for user in ("esha", "broken", "farah"):
        assert (day / user / "portfolio_review.ipynb").is_file() and (day / user / "portfolio_review.html").is_file()
    m = _manifest(day)
    assert list(m["users"]) == ["esha", "broken", "farah"] and m["summary"] == {"total": 3, "ok": 2, "failed": 1}
    esha, broken = m["users"]["esha"], m["users"]["broken"]
    assert esha["status"] == "ok" and esha["error"] is None and len(esha["inputs_hash"]) == 64
    assert esha["overall_score"] is not None and esha["risk_level"] and esha["duration_s"] > 0
    assert esha["parameters"]["portfolio"] == "sample:near_cash" and esha["timings"]["execute_s"] > 0
    assert esha["previous_thread_id"] == _manifest(env["out"] / "2026-11-13")["users"]["esha"]["thread_id"]
    assert set(VOLATILE_FIELDS) <= set(m["volatile_fields"])
    assert broken["status"] == "failed" and "model server" in broken["error"]
    index = (day / "index.html").read_text()
    assert 'href="esha/portfolio_review.html"' in index and 'href="broken/portfolio_review.html"' in index
    assert "2 ok, 1 failed" in index and "SYNTHETIC DATA" in index
    # triage columns: score change vs last week, human risk label, 1W return; amounts under "Value (INR)"
    headers = re.findall(r"<th>(.*?)</th>", index)
    assert headers[:7] == ["User", "Status", "Health score", "Score change", "Risk level", "1W return", "Value (INR)"]
    cells = _index_row(index, "esha")
    week46 = _manifest(env["out"] / "2026-11-13")["users"]["esha"]
    assert cells[2] == f"{esha['overall_score']:.1f}"
    assert cells[3] == f"{esha['overall_score'] - week46['overall_score']:+.1f}" == f"{esha['score_change']:+.1f}"
    assert cells[4] == esha["risk_level"].replace("_", " ").capitalize() and "_" not in cells[4]
    esha_nb = nbformat.read(day / "esha" / "portfolio_review.ipynb", as_version=4)
    week = review_result(esha_nb)[0]["returns"]["1W"]["portfolio"]
    assert esha["return_1w"] == week and cells[5] == f"{week * 100:+.2f}%"
    assert float(cells[6].replace(",", "")) == pytest.approx(esha["total_value"], abs=0.005)
    assert _index_row(index, "broken")[2:7] == ["", "", "", "", ""]  # a failed user has no figures
    # times in India time (the manifest keeps ISO 8601 for machines)
    shown = re.search(r'data-field="generated_at">([^<]*)<', index).group(1)
    assert re.fullmatch(r"\d\d [A-Z][a-z]{2} \d{4}, \d\d:\d\d:\d\d IST", shown), shown
    assert "+00:00" not in index and "@page { size: A4" in index
    assert "FAILED broken" in (env["root"] / "logs" / "cli.log").read_text()  # the summary


def _index_row(index: str, user: str) -> list[str]:
    row = re.search(rf"<tr><td data-label='User'>{user}</td>(.*?)</tr>", index, re.S).group(0)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_model_backed_user_gets_its_key_and_per_user_settings(env):
    """farah's review ran on the fake model server through the real openai client: the planted key
    was sent (so the secret scan below is meaningful) and the per-user timeout reached the backend."""
    farah = _manifest(env["out"] / "2026-11-20")["users"]["farah"]
    assert farah["status"] == "ok" and farah["parameters"]["backend"] == "openai-chat", farah["error"]
    assert farah["parameters"]["timeout"] == 42 and farah["parameters"]["max_retries"] == 1
    sent = [r.headers for r in env["server"].requests if r.path.endswith("/chat/completions")]
    assert sent and all(h["authorization"] == f"Bearer {PLANTED['OPENAI_API_KEY']}" for h in sent)
    assert {h.get("x-stainless-read-timeout") for h in sent} == {"42.0"}
    html = (env["out"] / "2026-11-20" / "farah" / "portfolio_review.html").read_text()
    assert "rules-over-the-wire" in html and "Audit trail: tool calls" in html


def test_report_html_hides_code_and_shows_the_sections(env):
    html = (env["out"] / "2026-11-20" / "esha" / "portfolio_review.html").read_text()
    assert "run_review(" not in html and "user_id = " not in html  # code and parameters hidden
    # top-down: title and executive summary, the details, then the appendix; the disclaimer closes
    order = ("Weekly portfolio review: esha", "SYNTHETIC DATA", "Executive summary", "1W return",
             "what it is made of", "Holdings (", "Sector weights vs NIFTY 50", "Score, risk level and risk metrics",
             "Tearsheet", "<h3>Recommendations", "<h3>Insights", "Compared with the review as of 2026-11-13",
             "Appendix: run details and audit trail", "Audit trail: tool calls", "not investment advice")
    at = [html.find(text) for text in order]
    assert -1 not in at and at == sorted(at), dict(zip(order, at))
    appendix = html[html.index("Appendix: run details"):]
    thread = _manifest(env["out"] / "2026-11-20")["users"]["esha"]["thread_id"]
    assert thread.startswith("thread_") and "THREAD_ID" not in html
    assert html.index(thread) > html.index("Appendix: run details")  # run details live in the appendix only
    assert f'qlwork threads show <span class="qlwork-volatile" data-field="thread_id">{thread}</span>' in appendix
    assert re.search(r'data-field="generated_at">\d\d [A-Z][a-z]{2} \d{4}, \d\d:\d\d:\d\d IST<', appendix)
    # the change table is filled (last week's and this week's figures in every row)
    change = html[html.index("Compared with the review as of"):html.index("Appendix: run details")]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", change.split("</table>")[0])
    assert len(cells) >= 4 * 6 and all(c.strip() for c in cells)
    # print like the PDF: A4 pages, rows, tables and figures kept whole, table headers repeated
    from qlwork.reports.pdf import PRINT_CSS

    assert html.count(PRINT_CSS) == 1 and html.index(PRINT_CSS) < html.index("</head>")
    for rule in ("@page { size: A4", ".qlwork-report tr, img, svg, figure", "break-inside: avoid",
                 "thead { display: table-header-group", "h4 { break-after: avoid"):
        assert rule in PRINT_CSS, rule
    # allocation, sectors, equity, 3 indicator panels as SVG (vector: cheaper to draw, sharp in PDF)
    assert html.count('src="data:image/svg+xml;base64,') == 10  # + the tearsheet's 4 figures
    assert "Tearsheet" in html and "portfolio_tearsheet" in html
    assert "qlwork review esha 2026-11-20:" not in html  # the batch's summary line stays out of the report
    # self-contained: nothing is fetched when the report is opened (no CDN require.js or MathJax)
    assert not re.search(r'\b(src|href)="(https?:)?//', html), re.findall(r'\b(?:src|href)="(?:https?:)?//[^"]*', html)
    assert "src=\"data:image/png;base64," not in html
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


def test_rerun_skips_unchanged_users_and_reruns_failed_ones(env):
    day = env["out"] / "2026-11-20"
    before = (day / "esha" / "portfolio_review.html").stat().st_mtime_ns
    result = run_batch("2026-11-20", config=str(env["config"]), workers=2, output_dir=env["out"], progress=False)
    assert result.skipped == ["esha", "farah"] and result.ran == ["broken"] and result.failed == ["broken"]
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
    # one thread per user per week: the forced re-run appended a run to esha's thread for 2026-W47
    assert _manifest(a)["users"]["esha"]["thread_id"] == _manifest(b)["users"]["esha"]["thread_id"]
    assert _manifest(a)["users"]["esha"]["run_id"] != _manifest(b)["users"]["esha"]["run_id"]
    assert mask_volatile_notebook(nb_a) == mask_volatile_notebook(nb_b)
    html_a = (a / "esha" / "portfolio_review.html").read_text()
    html_b = (b / "esha" / "portfolio_review.html").read_text()
    assert html_a != html_b and mask_volatile_html(html_a) == mask_volatile_html(html_b)

    def stable(entry):
        return {k: v for k, v in entry.items() if k not in VOLATILE_FIELDS and k != "executor"}

    assert stable(_manifest(a)["users"]["esha"]) == stable(_manifest(b)["users"]["esha"])
    row = re.compile(r"<tr><td data-label='User'>esha</td>.*?</tr>", re.S)
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


def test_changed_ai_preference_reruns_the_user(env):
    """A saved preference the review merges in (here the context window) changes the inputs hash."""
    day = env["out"] / "2026-11-20"
    before = _manifest(day)["users"]["farah"]["inputs_hash"]
    save_preferences("farah", AIPreferences(context_window=16_000))
    result = run_batch("2026-11-20", users=["esha", "farah"], config=str(env["config"]), workers=2,
                       output_dir=env["out"], progress=False)
    assert result.skipped == ["esha"] and result.ran == ["farah"] and result.ok, result.summary()
    assert _manifest(day)["users"]["farah"]["inputs_hash"] != before


def test_preferences_in_the_hash_are_names_not_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GITA_KEY", "sk-gita-secret-value-123456")
    user = UserConfig("gita", "sample:diversified", preferred_ai_provider="openai-chat", model="m",
                      base_url="http://127.0.0.1:9/v1", timeout=5)
    prefs = user.preferences()
    assert prefs["timeout"] == 5 and prefs["model"] == "m" and "thread_id" not in prefs
    h = inputs_hash(user.parameters("2026-11-20"), "nb", prefs)
    save_preferences("gita", AIPreferences(api_key_env="GITA_KEY"))  # only the NAME changes the hash
    assert user.preferences()["api_key_env"] == "GITA_KEY" and "sk-gita" not in json.dumps(user.preferences())
    assert inputs_hash(user.parameters("2026-11-20"), "nb", user.preferences()) != h
    assert UserConfig("hari", "sample:diversified").preferences() is None  # the offline engine ignores them
    cfg = tmp_path / "u.toml"
    cfg.write_text('[[users]]\nuser_id = "a"\nportfolio = "sample:diversified"\ntimeout = 30\nmax_retries = 0\n')
    (a,) = load_users(cfg)
    assert (a.timeout, a.max_retries) == (30, 0) and a.parameters("2026-11-20")["max_retries"] == 0


TINY_NOTEBOOK = nbformat.v4.new_notebook(
    metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
    cells=[nbformat.v4.new_code_cell('user_id = "x"\nas_of = "2026-11-20"', metadata={"tags": ["parameters"]}),
           nbformat.v4.new_code_cell(
               "from IPython.display import display\n"
               f"display({{{REVIEW_MIME!r}: {{'status': 'ok', 'user_id': user_id, 'overall_score': 5.0, "
               "'risk_level': 'low'}, 'text/plain': 'ok'}, raw=True)")])


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_a_crashed_job_fails_only_its_user(executor, tmp_path, monkeypatch):
    """A job that raises instead of returning (a crash outside run_user_job's guard, a lost worker)
    becomes that user's failure; the other user's report, the manifest and the summary are written."""
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "home"))
    real = reports_mod.run_user_job

    def crashing(job, kernel=None):
        if job["user_id"] == "crash":
            raise RuntimeError("worker process died")
        return real(job, kernel)

    monkeypatch.setattr(reports_mod, "run_user_job", crashing)
    nb = tmp_path / "tiny.ipynb"
    nbformat.write(TINY_NOTEBOOK, nb)
    cfg = tmp_path / "u.toml"
    cfg.write_text('[[users]]\nuser_id = "crash"\nportfolio = "sample:diversified"\n\n'
                   '[[users]]\nuser_id = "fine"\nportfolio = "sample:near_cash"\n')
    result = run_batch("2026-11-20", config=str(cfg), workers=2, executor=executor, notebook=nb,
                       output_dir=tmp_path / "out", progress=False)
    assert sorted(result.ran) == ["crash", "fine"] and result.failed == ["crash"] and not result.ok
    crash, fine = result.entries["crash"], result.entries["fine"]
    assert fine["status"] == "ok" and fine["overall_score"] == 5.0
    assert crash["status"] == "failed" and "RuntimeError: worker process died" in crash["error"]
    assert executor in crash["error"] and "FAILED crash" in result.summary()
    day = tmp_path / "out" / "2026-11-20"
    assert _manifest(day)["summary"] == {"total": 2, "ok": 1, "failed": 1}
    placeholder = nbformat.read(day / "crash" / "portfolio_review.ipynb", as_version=4)
    assert "worker process died" in placeholder.cells[0].source
    assert placeholder.metadata.papermill.parameters["user_id"] == "crash"
    assert "worker process died" in (day / "crash" / "portfolio_review.html").read_text()


def test_an_unreadable_notebook_fails_every_user_without_crashing_the_batch(tmp_path, monkeypatch):
    """nbformat.reads runs before run_user_job's guard: the batch still ends with a manifest."""
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "home"))
    nb = tmp_path / "broken.ipynb"
    nb.write_text("{not json")
    result = run_batch("2026-11-20", users=["asha", "bharat"], workers=2, notebook=nb, output_dir=tmp_path / "out",
                       progress=False)
    assert sorted(result.failed) == ["asha", "bharat"]
    assert all("crashed" in e["error"] for e in result.entries.values())
    day = tmp_path / "out" / "2026-11-20"
    assert _manifest(day)["summary"]["failed"] == 2 and (day / "asha" / "portfolio_review.html").is_file()
    nbformat.read(day / "asha" / "portfolio_review.ipynb", as_version=4)  # a valid placeholder notebook


def test_a_worker_without_the_shared_home_fails_the_user_clearly(tmp_path):
    missing = tmp_path / "not-mounted" / "home"
    job = {"user_id": "u", "notebook": nbformat.writes(TINY_NOTEBOOK), "parameters": {"user_id": "u"},
           "env": {"QLWORK_HOME": str(missing)}, "title": "t"}
    out = run_user_job(job)
    assert out["status"] == "failed" and str(missing) in out["error"] and "shared filesystem" in out["error"]
    assert not missing.exists()  # no empty store created on the worker
    assert "shared filesystem" in out["html"] and nbformat.reads(out["notebook"], as_version=4).cells


def test_no_secret_in_any_generated_file(env):
    """Last in the module: every file the batches above wrote (notebooks, HTML, manifests, indexes,
    the SQLite store, logs), with keys that were really read and sent (see farah)."""
    files = [p for p in env["root"].rglob("*") if p.is_file()]
    for kind in (".db", ".html", ".ipynb", ".log"):
        assert any(p.suffix == kind for p in files), kind
    assert any(p.name == "manifest.json" for p in files) and any(p.name == "index.html" for p in files)
    assert (env["root"] / "home" / "users" / "farah" / "ai_preferences.json").is_file()
    for path in files:
        data = path.read_bytes()
        for name, secret in PLANTED.items():
            assert secret.encode() not in data, f"{name} leaked into {path}"


# -- warm kernels, overlapping batches, runtime folders ------------------------------------------------

PROBE_NOTEBOOK = nbformat.v4.new_notebook(
    metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
    cells=[nbformat.v4.new_code_cell('user_id = "x"\nas_of = "2026-11-20"', metadata={"tags": ["parameters"]}),
           nbformat.v4.new_code_cell(
               "import gc, json, os, tempfile\n"
               "from IPython.display import display\n"
               "from qlwork.assistant.store import Store\n"
               "seen = {'pid': os.getpid(), 'tmp': tempfile.gettempdir(),\n"
               "        'names': sorted(k for k in globals() if k.startswith('planted')),\n"
               "        'env': os.environ.get('QLWORK_PLANTED'), 'cwd': os.getcwd(),\n"
               "        'open_stores': sum(1 for o in gc.get_objects() if isinstance(o, Store) and o._local.__dict__.get('conn')),\n"
               "        'tmp_files': sorted(os.listdir(tempfile.gettempdir()))}\n"
               "if user_id == 'first':  # leave everything a careless notebook could leave behind\n"
               "    planted_secret = 'first-user-secret'\n"
               "    planted_store = Store(); planted_store.list_threads(user_id='first')\n"
               "    planted_file = open(os.path.join(tempfile.gettempdir(), 'first.txt'), 'w'); planted_file.write('x')\n"
               "    os.environ['QLWORK_PLANTED'] = 'first'\n"
               "    os.chdir(tempfile.gettempdir())\n"
               f"display({{{REVIEW_MIME!r}: {{'status': 'ok', 'user_id': user_id, 'seen': seen}}, 'text/plain': 'ok'}}, raw=True)")])


def _seen(result, day, user):
    nb = nbformat.read(day / user / "portfolio_review.ipynb", as_version=4)
    return review_result(nb)[0]["seen"]


def test_warm_kernel_second_user_sees_nothing_of_the_first(tmp_path, monkeypatch):
    """Two users in one worker run in the same kernel process, and the second sees none of the first's
    variables, files, environment, working directory or open store handles."""
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "home"))
    nb = tmp_path / "probe.ipynb"
    nbformat.write(PROBE_NOTEBOOK, nb)
    cfg = tmp_path / "u.toml"
    cfg.write_text('[[users]]\nuser_id = "first"\nportfolio = "sample:diversified"\n\n'
                   '[[users]]\nuser_id = "second"\nportfolio = "sample:near_cash"\n')
    result = run_batch("2026-11-20", config=str(cfg), workers=1, notebook=nb, output_dir=tmp_path / "out",
                       progress=False)
    assert result.ok, result.summary()
    day = tmp_path / "out" / "2026-11-20"
    first, second = _seen(result, day, "first"), _seen(result, day, "second")
    assert first["pid"] == second["pid"]  # the kernel really was reused
    assert second["names"] == [] and second["env"] is None and second["open_stores"] == 0
    assert second["cwd"] == first["cwd"] and second["tmp"] != first["tmp"]
    assert second["tmp_files"] == [] and not os.path.exists(first["tmp"])  # the first's scratch is gone
    # the same notebook in a fresh kernel (the Dask path) gives the same report apart from volatile parts
    fresh = run_batch("2026-11-20", config=str(cfg), users=["second"], workers=1, executor="dask", notebook=nb,
                      output_dir=tmp_path / "fresh", progress=False)
    assert fresh.ok
    a = nbformat.read(day / "second" / "portfolio_review.ipynb", as_version=4)
    b = nbformat.read(tmp_path / "fresh" / "2026-11-20" / "second" / "portfolio_review.ipynb", as_version=4)
    assert [c.get("execution_count") for c in a.cells] == [c.get("execution_count") for c in b.cells] == [1, 2, 3]


def test_overlapping_batches_on_one_day_keep_every_user(tmp_path, monkeypatch):
    """Two batches for different users on the same dated folder, running at the same time: manifest
    and index end with every user of both."""
    import threading

    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "home"))
    nb = tmp_path / "tiny.ipynb"
    nbformat.write(TINY_NOTEBOOK, nb)
    cfg = tmp_path / "u.toml"
    names = ["a1", "a2", "a3", "b1", "b2", "b3"]
    cfg.write_text("".join(f'[[users]]\nuser_id = "{u}"\nportfolio = "sample:diversified"\n\n' for u in names))
    started = threading.Barrier(2)
    results = {}

    def batch(key, users):
        started.wait(timeout=30)
        results[key] = run_batch("2026-11-20", config=str(cfg), users=users, workers=1, notebook=nb,
                                 output_dir=tmp_path / "out", progress=False)

    threads = [threading.Thread(target=batch, args=("a", names[:3])), threading.Thread(target=batch, args=("b", names[3:]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert results["a"].ok and results["b"].ok
    day = tmp_path / "out" / "2026-11-20"
    manifest = _manifest(day)
    assert sorted(manifest["users"]) == names and manifest["summary"] == {"total": 6, "ok": 6, "failed": 0}
    index = (day / "index.html").read_text()
    assert all(f"<tr><td data-label='User'>{u}</td>" in index for u in names)


def test_runtime_folder_is_removed_and_stale_ones_are_swept():
    import tempfile

    from qlwork.reports.kernels import BATCH_PREFIX, BatchRuntime, sweep_stale

    tmp_path = Path(tempfile.mkdtemp(prefix="q17-"))  # short: kernel socket paths live under it

    stale = tmp_path / f"{BATCH_PREFIX}99999-dead"  # a killed batch's folder: lock file, nobody holds it
    (stale / "kernel-1-x").mkdir(parents=True)
    (stale / ".lock").write_text("")
    with BatchRuntime(root=tmp_path) as live:
        assert not stale.exists()  # swept when the next batch starts
        assert live.path.exists() and live.path.name.startswith(f"{BATCH_PREFIX}{os.getpid()}-")
        assert sweep_stale(tmp_path) == [] and live.path.exists()  # a running batch's folder is kept
        kernel_dir = Path(live.folder("kernel"))
        assert kernel_dir.parent == live.path and kernel_dir.name == "k1"
    assert not live.path.exists() and not kernel_dir.exists()
    tmp_path.rmdir()


def test_a_sweep_between_creating_and_locking_keeps_the_new_folder(monkeypatch):
    """Two batches starting together: the other one's sweep runs in the gap after this batch creates
    its lock file and before it holds the lock. The folder must survive (CI saw every user of one
    overlapping batch fail with FileNotFoundError on its deleted kernel folder)."""
    import fcntl
    import tempfile

    from qlwork.reports import kernels
    from qlwork.reports.kernels import BatchRuntime, sweep_stale

    tmp_path = Path(tempfile.mkdtemp(prefix="q17-"))
    real_flock, swept = fcntl.flock, []

    def flock_after_a_sweep(fd, op):
        if not swept:  # the other batch's sweep gets in first
            swept.append(sweep_stale(tmp_path))
        return real_flock(fd, op)

    monkeypatch.setattr(kernels.fcntl, "flock", flock_after_a_sweep)
    with BatchRuntime(root=tmp_path) as live:
        monkeypatch.setattr(kernels.fcntl, "flock", real_flock)
        assert swept == [[]] and live.path.exists()
        assert Path(live.folder("kernel")).is_dir()
        assert sweep_stale(tmp_path) == [] and live.path.exists()
    assert not live.path.exists()
    tmp_path.rmdir()


def test_a_batch_leaves_no_runtime_folders(tmp_path, monkeypatch):
    import tempfile

    from qlwork.reports.kernels import BATCH_PREFIX

    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "home"))
    short = Path(tempfile.mkdtemp(prefix="q17-"))  # a private temp root short enough for IPC socket paths
    monkeypatch.setattr(tempfile, "tempdir", str(short))
    nb = tmp_path / "tiny.ipynb"
    nbformat.write(TINY_NOTEBOOK, nb)
    seen = []
    result = run_batch("2026-11-20", users=["asha"], workers=1, notebook=nb, output_dir=tmp_path / "out",
                       progress=False, on_result=lambda e: seen.extend(short.glob(BATCH_PREFIX + "*")))
    assert result.ok and len(seen) == 1  # the batch's runtime folder existed while it ran ...
    assert list(short.iterdir()) == []  # ... and nothing is left
    short.rmdir()


def _pdf_pages(path: Path) -> list[str]:
    """The text of each page of a PDF, by poppler's pdftotext (layout kept, so table rows stay lines)."""
    import shutil
    import subprocess

    if shutil.which("pdftotext") is None:
        pytest.skip("SKIPPED LOUDLY: no pdftotext (apt-get install poppler-utils): the PDF layout is untested here")
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout
    return text.split("\f")[:-1]


def test_pdf_report_reads_like_a_document(tmp_path, monkeypatch, capsys, readable_copy):
    """`qlwork reports run --format html,pdf` for an 18-holding portfolio: about 8 A4 pages with sections
    flowing, the running header/footer (user, date, page x of y, SYNTHETIC DATA) on every page, the
    widest tables' last columns on the page, no heading stranded at a page foot, no code."""
    from qlwork.reports.pdf import chromium_path

    if chromium_path() is None:
        pytest.skip("SKIPPED LOUDLY: no Chromium at /usr/bin/chromium (run `make chromium` or apt-get install "
                    "chromium): the PDF report is untested here")
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "home"))
    code = cli_main(["reports", "run", "--as-of", "2026-11-20", "--users", "bharat", "--workers", "1",
                     "--format", "html,pdf", "--output-dir", str(tmp_path / "out"), "--no-progress"])
    assert code == 0, capsys.readouterr()
    day = tmp_path / "out" / "2026-11-20"
    pdf = day / "bharat" / "portfolio_review.pdf"
    pages = _pdf_pages(pdf)
    assert 6 <= len(pages) <= 10, len(pages)  # was 18 pages, a section per page
    for i, page in enumerate(pages, 1):
        lines = [ln.strip() for ln in page.splitlines() if ln.strip()]
        assert lines[0].startswith("qlwork weekly review · bharat · as of 2026-11-20") and "SYNTHETIC DATA" in lines[0], i
        assert lines[-1].endswith(f"Page {i} of {len(pages)}") and "SYNTHETIC DATA" in lines[-1], i
        body = lines[1:-1]
        # a heading never ends a page: what it introduces follows it on the same page
        for heading in ("Holdings (18)", "Sector weights vs NIFTY 50", "Returns", "Top actions", "Tearsheet",
                        "Key metrics vs NIFTY 50", "Worst 10 drawdowns of the portfolio", "Recommendations", "Insights",
                        "Change since last week", "Run details", "Audit trail: tool calls"):
            assert not body or body[-1] != heading, (i, heading)
    text = "\n".join(pages)
    assert text.index("Weekly portfolio review: bharat") < text.index("Executive summary") < text.index("Holdings (18)")
    # the widest tables fit: the holdings' last columns (P&L, P&L %) and each holding's P&L % on its row
    review = json.loads((day / "manifest.json").read_text())["users"]["bharat"]
    assert review["status"] == "ok"
    holdings_header = next(ln for ln in text.splitlines() if ln.strip().startswith("Symbol") and "Sector" in ln)
    assert holdings_header.rstrip().endswith("P&L %") and "P&L (INR)" in holdings_header
    rows = [ln for ln in text.splitlines() if re.match(r"^\s*(HDFCBANK|RELIANCE|INFY|TITAN)\s", ln)]
    assert len(rows) >= 4 and all(re.search(r"[+-][\d,]+\.\d\d%\s*$", r) for r in rows[:4]), rows[:4]
    audit = next(ln for ln in text.splitlines() if ln.strip().startswith("#") and "Call id" in ln)
    assert audit.rstrip().endswith("Output fields")  # the audit table's last column is on the page
    assert "run_review(" not in text and "user_id = " not in text  # code and parameters hidden
    # reproducible: the same report prints to the same bytes apart from the PDF's declared dates
    from qlwork.reports.pdf import close_browser, html_to_pdf, mask_volatile_pdf

    running = {"user_id": "bharat", "as_of": "2026-11-20", "synthetic": True}
    try:
        again = html_to_pdf((day / "bharat" / "portfolio_review.html").read_text(encoding="utf-8"), running=running)
        _screenshots_of_report(readable_copy(day / "bharat" / "portfolio_review.html"))
        _index_fits(readable_copy(day / "index.html"))  # the browser may run as the sandbox uid
    finally:
        close_browser()
    first = pdf.read_bytes()
    assert mask_volatile_pdf(again) == mask_volatile_pdf(first) and b"/CreationDate (D:*)" in mask_volatile_pdf(first)
    assert _manifest(day)["users"]["bharat"]["pdf"] == "bharat/portfolio_review.pdf"
    assert '<a href="bharat/portfolio_review.pdf">PDF</a>' in (day / "index.html").read_text()


def _index_fits(html: Path) -> None:
    """The index page (``html``, a copy the browser can read) at 800 px and on a 368 px phone: no sideways
    scrolling, every user's figures shown."""
    from qlwork.reports.pdf import _browser

    context = _browser().new_context(offline=True)
    try:
        page = context.new_page()
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                   else route.abort())
        page.goto(f"file://{html}", wait_until="load")
        for width in (1280, 800, 368):
            page.set_viewport_size({"width": width, "height": 800})
            page.wait_for_timeout(100)
            look = page.evaluate("""() => ({scroll: document.documentElement.scrollWidth, view: window.innerWidth,
                cells: [...document.querySelectorAll('tbody td')].filter(td => td.getBoundingClientRect().width > 0
                                                                          && td.textContent.trim()).length})""")
            assert look["scroll"] <= look["view"], (width, look)
            assert look["cells"] >= 10, (width, look)
            page.screenshot(path=str(Path(__file__).resolve().parent / "artifacts" / f"index_{width}.png"))
    finally:
        context.close()


def _screenshots_of_report(html: Path) -> None:
    """The report (``html``, a copy the browser can read) as a reader's browser shows it at 1280 px and 800 px
    (screenshots in tests/artifacts/):
    nothing wider than the page, every chart scaled into it, the tearsheet's four figures drawn."""
    from qlwork.reports.pdf import _browser

    artifacts = Path(__file__).resolve().parent / "artifacts"
    artifacts.mkdir(exist_ok=True)
    context = _browser().new_context(offline=True)
    try:
        page = context.new_page()
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                   else route.abort())
        page.goto(f"file://{html}", wait_until="load")
        for width in (1280, 800):
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(200)
            look = page.evaluate("""() => {
                const imgs = [...document.images];
                const heads = [...document.querySelectorAll('h1,h2,h3')];
                const tear = heads.find(h => h.textContent.trim() === 'Tearsheet');
                const after = tear ? imgs.filter(i => tear.compareDocumentPosition(i) & Node.DOCUMENT_POSITION_FOLLOWING) : [];
                return {scroll: document.documentElement.scrollWidth, view: window.innerWidth,
                        images: imgs.length, broken: imgs.filter(i => !i.complete || !i.naturalWidth).length,
                        widest: Math.max(...imgs.map(i => i.getBoundingClientRect().right)),
                        tearsheet: after.length};
            }""")
            assert look["scroll"] <= look["view"], look  # no sideways scrolling
            assert look["images"] >= 8 and look["broken"] == 0 and look["widest"] <= look["view"], look
            assert look["tearsheet"] >= 4, look
            shot = artifacts / f"report_{width}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 50_000
    finally:
        context.close()

