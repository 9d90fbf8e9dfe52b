"""Report jobs on a shared database: a job carries the database's redacted URL instead of the
client's QLWORK_HOME, runs on a worker with another home and writes its thread to PostgreSQL; a
worker not configured for that database fails the user with the fix."""

import nbformat

from qlwork.assistant.store import Store
from qlwork.reports.job import REVIEW_MIME, SHARED_DATABASE, job_env, run_user_job

NOTEBOOK = nbformat.v4.new_notebook(
    metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
    cells=[nbformat.v4.new_code_cell('user_id = "x"', metadata={"tags": ["parameters"]}),
           nbformat.v4.new_code_cell("from qlwork.assistant.store import Store\n"
                                     "store = Store()\n"
                                     "thread = store.create_thread({'week': '2026-W47'}, user_id=user_id)\n"
                                     "assert store.dialect == 'postgresql', store.dialect\n"
                                     "from IPython.display import display\n"
                                     f"display({{{REVIEW_MIME!r}: {{'status': 'ok', 'user_id': user_id, "
                                     "'thread_id': thread.id}, 'text/plain': 'ok'}, raw=True)")])


def _job(env):
    return {"user_id": "esha", "notebook": nbformat.writes(NOTEBOOK), "parameters": {"user_id": "esha"},
            "env": env, "title": "t", "execution_timeout": 60}


def test_a_job_on_a_worker_with_another_home_writes_to_the_shared_store(pg_cluster, tmp_path, monkeypatch):
    url = pg_cluster.new_database().replace("postgres@", "postgres:secret-pw@")  # trust auth ignores it
    monkeypatch.setenv("QLWORK_DATABASE_URL", url)
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "client"))
    env = job_env(str(tmp_path / "client"))
    assert "QLWORK_HOME" not in env and "secret-pw" not in str(env) and env[SHARED_DATABASE].endswith(url.rsplit("/", 1)[1])

    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "worker"))  # the worker: another home, same database
    out = run_user_job(_job(env))
    assert out["status"] == "ok", out["error"]
    [thread] = Store(url).list_threads("esha")
    assert thread.metadata["week"] == "2026-W47"
    assert not (tmp_path / "worker" / "qlwork.db").exists() and not (tmp_path / "client").exists()

    monkeypatch.delenv("QLWORK_DATABASE_URL")  # a worker without the database: the user fails clearly
    out = run_user_job(_job(env))
    assert out["status"] == "failed" and "no QLWORK_DATABASE_URL" in out["error"]
    assert len(Store(url).list_threads("esha")) == 1
