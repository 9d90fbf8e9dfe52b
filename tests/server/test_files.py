"""Files (multipart upload, retrieve, content, delete), attachments, vector stores, and isolation."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import httpx
import openai
import pytest

import qlwork

PORTFOLIO = (Path(qlwork.__file__).parent / "data" / "portfolios" / "concentrated.csv").read_bytes()
NOTE = (Path(qlwork.__file__).parent / "data" / "research" / "it_sector_outlook.md").read_bytes()


def test_file_lifecycle_and_isolation(alice, bob):
    f = alice.files.create(file=("holdings.csv", io.BytesIO(PORTFOLIO)), purpose="assistants")
    assert f.object == "file" and f.id.startswith("file_") and f.bytes == len(PORTFOLIO)
    assert f.filename == "holdings.csv" and f.purpose == "assistants"
    assert alice.files.retrieve(f.id).id == f.id
    assert alice.files.content(f.id).read() == PORTFOLIO
    assert f.id in [x.id for x in alice.files.list()]

    assert f.id not in [x.id for x in bob.files.list()]
    for attempt in (lambda: bob.files.retrieve(f.id), lambda: bob.files.content(f.id), lambda: bob.files.delete(f.id)):
        with pytest.raises(openai.NotFoundError):
            attempt()
    thread = bob.beta.threads.create()
    with pytest.raises(openai.NotFoundError):
        bob.beta.threads.messages.create(thread.id, role="user", content="read this",
                                         attachments=[{"file_id": f.id, "tools": [{"type": "file_search"}]}])
    with pytest.raises(openai.NotFoundError):
        bob.vector_stores.create(name="steal", file_ids=[f.id])

    assert alice.files.delete(f.id).deleted
    with pytest.raises(openai.NotFoundError):
        alice.files.retrieve(f.id)


def test_bad_uploads_are_4xx(alice):
    with pytest.raises(openai.UnprocessableEntityError):
        alice.files.create(file=("blob.bin", io.BytesIO(b"\x00\x01binary\x00" * 10)), purpose="assistants")
    with pytest.raises(openai.BadRequestError):
        alice.files.create(file=("empty.csv", io.BytesIO(b"")), purpose="assistants")
    with pytest.raises(openai.BadRequestError):
        alice.files.create(file=("x.csv", io.BytesIO(b"a,b\n1,2\n")), purpose="homework")  # OpenAI's all pass


def test_uploaded_portfolio_and_attachment_in_a_run(alice, assistant):
    f = alice.files.create(file=("my_holdings.csv", io.BytesIO(PORTFOLIO)), purpose="assistants")
    thread = alice.beta.threads.create(metadata={"user_id": "u-9", "portfolio_id": f.id})
    message = alice.beta.threads.messages.create(
        thread.id, role="user", content="Review my portfolio",
        attachments=[{"file_id": f.id, "tools": [{"type": "file_search"}]}])
    assert message.attachments[0].file_id == f.id and message.attachments[0].tools[0].type == "file_search"
    run = alice.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    steps = alice.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    calls = [c for s in steps if s.type == "tool_calls" for c in s.step_details.tool_calls]
    assert calls
    outputs = []
    for c in calls:  # built-in tools come back in their Assistants shapes
        if c.type == "function":
            outputs.append(c.function.output)
        elif c.type == "code_interpreter":
            outputs += [o.logs for o in c.code_interpreter.outputs if o.type == "logs"]
    symbols = {line.split(",")[0] for line in PORTFOLIO.decode().splitlines()[1:] if line}
    assert any(sym in out for out in outputs for sym in symbols)  # the uploaded holdings were read


def test_vector_store_and_tool_resources(alice, bob, assistant):
    note = alice.files.create(file=("it_outlook.md", io.BytesIO(NOTE)), purpose="assistants")
    vs = alice.vector_stores.create(name="research", file_ids=[note.id])
    assert vs.object == "vector_store" and vs.file_counts.completed == 1
    assert alice.vector_stores.retrieve(vs.id).id == vs.id
    files = alice.vector_stores.files.list(vector_store_id=vs.id)
    assert [x.id for x in files.data] == [note.id] and files.data[0].status == "completed"
    thread = alice.beta.threads.create(tool_resources={"file_search": {"vector_store_ids": [vs.id]}})
    assert thread.tool_resources.file_search.vector_store_ids == [vs.id]
    with pytest.raises(openai.NotFoundError):
        bob.vector_stores.retrieve(vs.id)
    with pytest.raises(openai.NotFoundError):
        bob.beta.threads.create(tool_resources={"file_search": {"vector_store_ids": [vs.id]}})
    assert alice.vector_stores.delete(vs.id).deleted


def test_code_interpreter_keeps_a_model_to_its_users_files(alice, byoai_user, fm):
    """A model that names another user's file id gets "no such file"; the thread's tool_resources
    files are in the working directory; the figures it makes are the run owner's to download (and
    only theirs), listed as image outputs of the step."""
    secret_row = b"symbol,quantity,avg_price\nSECRETHOLD,1,1\n"
    theirs = alice.files.create(file=("alice_private.csv", io.BytesIO(secret_row)), purpose="assistants")
    client, model = byoai_user
    mine = client.files.create(file=("mine.csv", io.BytesIO(PORTFOLIO)), purpose="assistants")
    assistant = client.beta.assistants.create(model="fake-model", tools=[{"type": "code_interpreter"}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Plot my file"}],
                                        tool_resources={"code_interpreter": {"file_ids": [mine.id]}})
    answer = {"analysis_type": "file_analysis", "overall_score": 5.0, "risk_level": "moderate",
              "recommendations": [], "insights": ["plotted"], "risk_metrics": {}}
    model.add(fm.calls(("code_interpreter", {"code": "print(open('alice_private.csv').read())",
                                             "file_ids": [theirs.id]})),
              fm.calls(("code_interpreter", {"code": "import os\nprint(sorted(os.listdir('.')))\n"
                                                     "plt.plot([1, 2, 3]); plt.show()"})),
              fm.text(answer))
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error

    sent = json.dumps([r.body for r in model.requests])
    assert "SECRETHOLD" not in sent  # the other user's content never reached the model
    assert "No file with id" in sent and "mine.csv" in sent
    calls = [c for s in client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
             if s.step_details.type == "tool_calls" for c in s.step_details.tool_calls]
    assert [c.type for c in calls] == ["code_interpreter", "code_interpreter"]
    refused, plotted = (c.code_interpreter.outputs for c in calls)
    assert refused[0].type == "logs" and "No file with id" in refused[0].logs
    assert plotted[0].type == "logs" and "mine.csv" in plotted[0].logs and "alice_private" not in plotted[0].logs
    (image,) = [o for o in plotted if o.type == "image"]
    png = client.files.content(image.image.file_id).read()
    assert png.startswith(b"\x89PNG")
    assert image.image.file_id in [f.id for f in client.files.list()]
    with pytest.raises(openai.NotFoundError):
        alice.files.content(image.image.file_id)


def _raw_list(call) -> dict:
    return call().http_response.json()


def test_files_purpose_filter_fills_pages(live):
    client = live.client(f"dana{time.monotonic_ns() % 10**9}")
    made = []
    for i, purpose in enumerate(["vision", "assistants", "vision", "assistants", "assistants", "vision", "vision"]):
        made.append((client.files.create(file=(f"f{i}.csv", io.BytesIO(b"a,b\n%d,2\n" % i)), purpose=purpose).id,
                     purpose))
    vision = [fid for fid, p in made if p == "vision"]
    first = _raw_list(lambda: client.files.with_raw_response.list(purpose="vision", limit=2, order="asc"))
    assert [f["id"] for f in first["data"]] == vision[:2] and first["has_more"] is True
    assert (first["first_id"], first["last_id"]) == (vision[0], vision[1])
    second = _raw_list(lambda: client.files.with_raw_response.list(purpose="vision", limit=2, order="asc",
                                                                   after=first["last_id"]))
    assert [f["id"] for f in second["data"]] == vision[2:] and second["has_more"] is False
    back = _raw_list(lambda: client.files.with_raw_response.list(purpose="vision", limit=1, order="asc",
                                                                 extra_query={"before": vision[2]}))
    assert [f["id"] for f in back["data"]] == [vision[1]] and back["has_more"] is True
    assert [f.id for f in client.files.list(purpose="assistants")] == [fid for fid, p in made[::-1] if p == "assistants"]


def test_vector_store_files_paginate(alice):
    notes = [alice.files.create(file=(f"n{i}.md", io.BytesIO(NOTE + b"\n%d" % i)), purpose="assistants")
             for i in range(3)]
    vs = alice.vector_stores.create(name="paged", file_ids=[n.id for n in notes])
    ids = [n.id for n in notes]
    page1 = alice.vector_stores.files.list(vs.id, limit=2, order="asc")
    assert [f.id for f in page1.data] == ids[:2] and page1.has_more
    page2 = alice.vector_stores.files.list(vs.id, limit=2, order="asc", after=ids[1])
    assert [f.id for f in page2.data] == ids[2:] and not page2.has_more
    assert [f.id for f in alice.vector_stores.files.list(vs.id, limit=1, order="asc", before=ids[2]).data] == [ids[1]]
    assert [f.id for f in alice.vector_stores.files.list(vs.id).data] == ids[::-1]  # desc by default
    assert alice.vector_stores.files.list(vs.id, filter="failed").data == []
    assert [f.id for f in alice.vector_stores.files.list(vs.id, filter="completed", limit=100).data] == ids[::-1]
    with pytest.raises(openai.BadRequestError):
        alice.vector_stores.files.list(vs.id, after="file_not_in_this_store")


def test_oversized_upload_is_413_before_it_is_read(live, alice, monkeypatch):
    from qlwork.server.files import UPLOAD_MARGIN
    from qlwork.tools.files import file_store

    file_store()  # the server's cached store keeps its limit; the request cap reads the variable per request
    monkeypatch.setenv("QLWORK_MAX_FILE_BYTES", "1000")
    body = b"symbol,quantity\n" + b"TCS,1\n" * ((1000 + UPLOAD_MARGIN) // 6 + 1)
    with pytest.raises(openai.APIStatusError) as exc:
        alice.files.create(file=("big.csv", io.BytesIO(body)), purpose="assistants")
    assert exc.value.status_code == 413 and exc.value.code == "file_too_large" and exc.value.param == "file"
    assert "1,000" in exc.value.message
    assert alice.files.create(file=("small.csv", io.BytesIO(b"a,b\n1,2\n")), purpose="assistants").bytes == 8

    # a chunked body (no Content-Length) is cut off once it passes the limit
    def chunks():
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n\r\n"
        for _ in range(40):
            yield b"TCS,1\n" * 1000

    response = httpx.post(f"{live.base_url}/files", content=chunks(), timeout=20,
                          headers={"authorization": f"Bearer {alice.api_key}",
                                   "content-type": "multipart/form-data; boundary=b"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "file_too_large"
    assert "limit of 1,000 bytes" in response.json()["error"]["message"]
