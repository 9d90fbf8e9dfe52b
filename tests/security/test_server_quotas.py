"""Issue 32 item 4: one API user cannot fill the server's disk (no per-user storage quota before).

A real ``qlwork serve`` with a quota of 3 files and 3000 bytes per user: the fourth upload and an upload
past the byte total answer 429 ``quota_exceeded`` naming the setting; another user is unaffected;
deleting a file frees the quota.
"""

from __future__ import annotations

import io

import openai
import pytest


def _upload(client, name: str, size: int):
    return client.files.create(file=(name, io.BytesIO(b"x" * (size - 1) + b"\n")), purpose="assistants")


def test_storage_and_file_count_quotas(start_server):
    served = start_server({"QLWORK_USER_MAX_FILES": "3", "QLWORK_USER_MAX_BYTES": "3000"})
    hog, other = served.client("hog"), served.client("other")
    kept = [_upload(hog, f"n{i}.txt", 900) for i in range(3)]
    with pytest.raises(openai.RateLimitError) as err:
        _upload(hog, "n3.txt", 10)
    body = err.value.body
    assert body["code"] == "quota_exceeded" and "QLWORK_USER_MAX_FILES" in body["message"]
    assert _upload(other, "theirs.txt", 900).id  # another user's quota is their own
    hog.files.delete(kept[0].id)
    with pytest.raises(openai.RateLimitError) as err:
        _upload(hog, "big.txt", 1201)  # 1800 kept + 1201 > 3000
    assert "QLWORK_USER_MAX_BYTES" in err.value.body["message"]
    assert _upload(hog, "fits.txt", 1200).id
    ids = {f.id for f in hog.files.list()}
    assert len(ids) == 3 and kept[0].id not in ids
