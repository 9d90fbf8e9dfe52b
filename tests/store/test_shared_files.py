"""Uploaded files shared through PostgreSQL: a file uploaded with one QLWORK_HOME is read, parsed and
deleted from another (another host), with no shared filesystem."""

import hashlib

import pytest

from qlwork.errors import InputError
from qlwork.tools.files import FileStore

CSV = b"tradingsymbol,exchange,quantity,average_price\nTCS,NSE,10,3500\nINFY,NSE,5,1500\n"


def test_a_file_uploaded_on_one_host_is_seen_and_deleted_on_another(pg_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("QLWORK_DATABASE_URL", pg_cluster.new_database())
    host_a, host_b = FileStore(tmp_path / "a" / "files"), FileStore(tmp_path / "b" / "files")
    obj = host_a.create(CSV, "holdings.csv")
    assert not (tmp_path / "b" / "files" / obj.id).exists()

    seen = host_b.get(obj.id)  # fetched from the database into host b's cache
    assert seen == obj
    assert host_b.content(obj.id) == CSV and hashlib.sha256(host_b.content(obj.id)).hexdigest() == obj.sha256
    assert host_b.parse(obj.id)["portfolio"]["symbols"] == ["TCS", "INFY"]
    assert [f.id for f in host_b.list()] == [obj.id]

    host_b.delete(obj.id)
    with pytest.raises(InputError, match="No file"):
        host_a.get(obj.id)  # gone for every host, and host a's copy is dropped
    assert not (tmp_path / "a" / "files" / obj.id).exists()
    assert host_a.list() == []


def test_without_a_database_url_files_stay_per_host(tmp_path, monkeypatch):
    monkeypatch.delenv("QLWORK_DATABASE_URL", raising=False)
    host_a, host_b = FileStore(tmp_path / "a"), FileStore(tmp_path / "b")
    obj = host_a.create(CSV, "holdings.csv")
    assert host_a.shared is None and host_a.get(obj.id) == obj
    with pytest.raises(InputError, match="No file"):
        host_b.get(obj.id)
