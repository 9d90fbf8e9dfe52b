"""Issue 32 item 1: client-set metadata never grants access to another user's files.

The attack (over real `qlwork serve` and `qlwork mcp --http` subprocesses on one QLWORK_HOME): user A
uploads a private note and a holdings CSV through the Assistants API. User B, with B's own key, labels
B's threads with the paths of A's files under ``$QLWORK_HOME/files`` (``metadata.portfolio_id``; any
client may set it) and then, over MCP, lists and reads portfolio resources, searches files, names A's
file as a portfolio and copies it into a kernel with ``code_interpreter(file_ids=[...])``. Every read
must fail exactly like an unknown id; A, asking the same things, sees her own files (so the test
would see a leak if the rule came back).
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import anyio
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mcp"))
from mcp_harness import World, http_client, http_server, payload  # noqa: E402

mcp = pytest.importorskip("mcp")
NOTE = b"A-PRIVATE-NOTE quokkaledger: sell the quokkaledger basket before the results."
HOLDINGS = b"tradingsymbol,quantity,average_price\nTCS,7,1234.5\nINFY,3,1500\n"


def _mcp_view(url: str, key: str, note_id: str, csv_id: str) -> dict:
    """Everything a user learns about A's two files over MCP."""
    async def main():
        seen: dict = {}
        async with http_client(url, key) as c:
            seen["resources"] = [str(r.uri) for r in (await c.list_resources()).resources]
            seen["reads"] = {}
            for fid in (note_id, csv_id):
                try:
                    contents = (await c.read_resource(f"qlwork://portfolios/file/{fid}")).contents
                    seen["reads"][fid] = "\n".join(getattr(x, "text", "") for x in contents)
                except mcp.MCPError as exc:
                    seen["reads"][fid] = f"ERROR {exc}"
            search = payload(await c.call_tool("file_search", {"query": "quokkaledger basket results"}))
            seen["search"] = json.dumps({k: v for k, v in search.items() if k != "query"})
            seen["portfolio"] = payload(await c.call_tool("analyze_portfolio", {"portfolio": csv_id}))
            code = ("import os\nprint(sorted(os.listdir('.')))\n"
                    "print([open(f, errors='replace').read() for f in os.listdir('.') if os.path.isfile(f)])")
            seen["code"] = payload(await c.call_tool("code_interpreter", {"code": code, "file_ids": [note_id]}))
        return seen

    return anyio.run(main)


def test_thread_metadata_naming_another_users_file_grants_nothing(start_server, tmp_path):
    served = start_server()
    alice, bob = served.client("alice"), served.client("bob")
    note = alice.files.create(file=("alice_note.md", io.BytesIO(NOTE)), purpose="assistants")
    csv = alice.files.create(file=("alice_holdings.csv", io.BytesIO(HOLDINGS)), purpose="assistants")
    note_path = served.home / "files" / note.id / "alice_note.md"
    csv_path = served.home / "files" / csv.id / "alice_holdings.csv"
    assert note_path.is_file() and csv_path.is_file()  # the labels point at real files

    # B labels B's own threads with A's paths: the server stores client metadata as sent
    for path in (note_path, csv_path):
        thread = bob.beta.threads.create(metadata={"portfolio_id": str(path)})
        assert thread.metadata["portfolio_id"] == str(path)
    # and cannot attach A's file to a message or name it in tool_resources (the REST API's rule)
    import openai

    with pytest.raises(openai.NotFoundError):
        bob.beta.threads.create(messages=[{"role": "user", "content": "x",
                                            "attachments": [{"file_id": note.id, "tools": [{"type": "file_search"}]}]}])
    with pytest.raises(openai.NotFoundError):
        bob.files.retrieve(note.id)

    world = World(home=served.home, reports=tmp_path / "reports")
    with http_server(world, "--allow-code") as url:
        as_bob = _mcp_view(url, served.key("bob"), note.id, csv.id)
        as_alice = _mcp_view(url, served.key("alice"), note.id, csv.id)

    # A sees her own files: the probes are able to see a file when the rule allows it
    assert f"qlwork://portfolios/file/{csv.id}" in as_alice["resources"]
    assert "1234.5" in as_alice["reads"][csv.id]
    assert "A-PRIVATE-NOTE" in as_alice["search"]
    assert "A-PRIVATE-NOTE" in json.dumps(as_alice["code"])
    # B learns nothing: not listed, not readable, not searchable, not a portfolio, not copied into a kernel
    leaked = json.dumps(as_bob)
    for marker in ("A-PRIVATE-NOTE", "1234.5", "alice_note", "alice_holdings"):
        assert marker not in leaked, marker
    assert not any(note.id in r or csv.id in r for r in as_bob["resources"])
    for fid in (note.id, csv.id):
        assert as_bob["reads"][fid].startswith("ERROR") and "not found" in as_bob["reads"][fid]
    assert as_bob["portfolio"]["error"]["field"] == "portfolio"
    assert "error" in as_bob["code"] and as_bob["code"]["error"].get("code") == "not_found"
