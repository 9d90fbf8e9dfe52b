"""Issue 13 partial items: user ids are one safe path segment everywhere they become paths, and the
audit trail shows a thread's owner (the API key's user), never what a client wrote in its metadata.

The attacks: ``user_id = "../../x"`` in users.toml (before the fix the report was written outside the
output folder); ``..`` as a server user (its preferences file landed in $QLWORK_HOME itself); API user
"mallory" labelling her thread ``metadata.user_id = "alice"`` (``qlwork threads list`` showed alice).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from qlwork.assistant.preferences import AIPreferences, save_preferences
from qlwork.cli import main
from qlwork.config import check_user_id
from qlwork.errors import InputError
from qlwork.reports.batch import UserConfig, load_users

BAD_IDS = ["../../x", "..", ".", ".hidden", "a/b", "/etc", "a\\b", "", "x" * 129, "a\x00b"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_unsafe_user_ids_are_refused_everywhere(bad, tmp_path):
    with pytest.raises(InputError) as caught:
        check_user_id(bad)
    assert caught.value.details["field"] == "user_id"
    with pytest.raises(InputError):
        UserConfig(user_id=bad, portfolio="sample:diversified")
    with pytest.raises(InputError):
        save_preferences(bad, AIPreferences(), root=tmp_path)
    assert list(tmp_path.rglob("*.json")) == []
    for good in ("alice", "first.last", "a@b.com", "user_1-2"):
        assert check_user_id(good) == good


def test_report_user_id_cannot_escape_the_output_folder(tmp_path, capsys):
    config = tmp_path / "cfg" / "users.toml"
    config.parent.mkdir()
    config.write_text('[[users]]\nuser_id = "ok_user"\nportfolio = "sample:diversified"\n\n'
                      '[[users]]\nuser_id = "../../x"\nportfolio = "sample:diversified"\n')
    with pytest.raises(InputError) as caught:
        load_users(config)
    assert "user #2 user_id" in caught.value.details["field"] and "../../x" in caught.value.message
    out = tmp_path / "out" / "reports"
    code = main(["reports", "run", "--as-of", "2026-11-20", "--config", str(config), "--output-dir", str(out)])
    assert code != 0 and "user_id" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["cfg", "users.toml"]  # nothing written anywhere


def test_server_keys_refuse_unsafe_user_ids(served):
    env = {**os.environ, "QLWORK_HOME": str(served.home)}
    for bad in ("..", "../x", ".hidden"):
        done = subprocess.run([sys.executable, "-m", "qlwork.cli", "serve", "keys", "create", "--user", bad],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "user_id" in done.stderr + done.stdout, done


def test_threads_list_shows_the_owner_not_client_metadata(served):
    mallory = served.client("mallory")
    thread = mallory.beta.threads.create(metadata={"user_id": "alice", "portfolio_id": "sample:diversified"})
    env = {**os.environ, "QLWORK_HOME": str(served.home)}
    listed = subprocess.run([sys.executable, "-m", "qlwork.cli", "threads", "list", "--limit", "50"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if thread.id in line]
    cells = re.split(r"\s{2,}", row.strip())
    assert cells[1] == "mallory" and cells[2] == "alice"  # owner in User; the label only in its own column
    header = listed.stdout.splitlines()[0]
    assert "metadata user_id (client-set)" in header
    exported = subprocess.run([sys.executable, "-m", "qlwork.cli", "threads", "export", thread.id, "--format",
                               "md"], env=env, capture_output=True, text=True, timeout=60)
    assert "- user: mallory" in exported.stdout and "- user: alice" not in exported.stdout
    assert "set by the client, not verified): alice" in exported.stdout
