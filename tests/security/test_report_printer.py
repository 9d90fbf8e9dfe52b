"""Issue 32 item 5: the report printer (headless Chromium) cannot be turned against the host.

The attack: report HTML carrying a script, a ``file:///etc/passwd`` iframe and other ``file://``
subresources. Before, Chromium ran as root with ``--no-sandbox``, ran the script and printed the iframe
(``/etc/passwd``, another user's report) into the PDF. Now the printed PDF holds the report's own text
only, and the browser runs with its own sandbox on, as an unprivileged uid when the host is root.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from qlwork.reports import pdf

pypdf = pytest.importorskip("pypdf")
ATTACK = ("<html><head><title>t</title><link rel='stylesheet' href='file:///etc/passwd'></head><body>"
          "<h1>REPORT-BODY-OK</h1>"
          "<script>document.body.insertAdjacentHTML('beforeend', '<p>JS-RAN-MARKER</p>')</script>"
          "<iframe src='file:///etc/passwd' width=600 height=400></iframe>"
          "<iframe src='file:///etc/os-release' width=600 height=400></iframe>"
          "<object data='file:///etc/passwd' width=600 height=400></object>"
          "<img src='file:///etc/hostname'></body></html>")


def _descendants(pid: int) -> list[int]:
    parents = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError):
            continue
    found, frontier = [], {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier and p not in found}
        found += sorted(frontier)
    return found


def _proc(pid: int):
    """("chrom", pid, argv, uid) of a Chromium process, (other, ...) of another, or None when it has exited
    meanwhile (Chromium's helper processes come and go)."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        uid = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("Uid:"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    return ("chrom" if "chrom" in comm else comm.strip(), pid, cmdline, uid)


def test_printer_runs_no_script_and_loads_no_other_file():
    if pdf.chromium_path() is None:
        pytest.skip("no Chromium (make chromium)")
    try:
        data = pdf.html_to_pdf(ATTACK)
        text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)
        assert "REPORT-BODY-OK" in text
        assert "JS-RAN-MARKER" not in text
        assert "root:" not in text and "/bin/" not in text and "PRETTY_NAME" not in text
        browsers = [b for b in (_proc(p) for p in _descendants(os.getpid())) if b and b[0] == "chrom"]
        assert browsers, "the browser should be running while this thread keeps it"
        for _, p, cmdline, uid in browsers:
            assert b"--no-sandbox" not in cmdline
            assert uid != 0 or os.getuid() != 0, (p, cmdline[:2])
    finally:
        pdf.close_browser()
