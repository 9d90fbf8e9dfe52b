"""One user's report job: execute the review notebook with papermill and render it to HTML.

:func:`run_user_job` is a plain top-level function over a plain dict, so it runs the same in a local
thread pool and on a Dask worker (``client.submit``). It needs no shared filesystem: the notebook text
goes in with the job, and the executed notebook and its HTML come back in the result for the caller to
write atomically.

Kernels started in parallel must not race for TCP ports (papermill issue 511), and IPC sockets named by
default (``kernel-ipc-N`` in the working directory) collide too. Each job therefore starts its kernel
with ``transport="ipc"`` and an ``ip`` path unique to the job inside a private temporary directory,
removed afterwards.

The job's ``QLWORK_HOME`` (the client's absolute path: the assistant store and saved preferences)
must already exist where the job runs. On a Dask worker on another machine that means the same
path on a shared filesystem; if it is missing the user fails with an error saying so, rather than
the review silently starting an empty store there.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
import shutil
import tempfile
import threading
import time

from .kernels import kernel_manager, register_engine, shutdown_kernel

from ..db import database_url, redact

REVIEW_MIME = "application/vnd.qlwork.review+json"
VOLATILE_SPAN = re.compile(r'(<span class="qlwork-volatile" data-field="[^"]*">)[^<]*(</span>)')
PAPERMILL_CLOCK = ("start_time", "end_time", "duration")
__all__ = ["kernel_manager", "run_user_job", "failed_outcome", "review_result"]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


_LOCAL = threading.local()


_REMOTE_SCRIPT = re.compile(r'<script\b[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>\s*', re.IGNORECASE)
_MATHJAX_CONFIG = re.compile(r'<script type="text/x-mathjax-config">.*?</script>\s*', re.IGNORECASE | re.DOTALL)


def offline_html(html: str) -> str:
    """The report loads nothing from the network: nbconvert's template adds require.js and MathJax from a
    CDN (reports have no widgets and no LaTeX), so those script tags and MathJax's config go."""
    return _MATHJAX_CONFIG.sub("", _REMOTE_SCRIPT.sub("", html))


def render_html(nb, title: str) -> str:
    """The notebook as a self-contained HTML report (code hidden, no network requests) with the print
    stylesheet of the PDF (A4 pages, sections on new pages, rows and figures kept whole, table headers
    repeated), so a browser's print looks like the PDF."""
    from .pdf import print_html

    html, _ = html_exporter().from_notebook_node(nb, resources={"metadata": {"name": title}})
    return print_html(offline_html(html))


def html_exporter():
    """nbconvert HTML exporter with code (and prompts) hidden; figures embed as base64. One per
    thread (building one loads the templates)."""
    exporter = getattr(_LOCAL, "exporter", None)
    if exporter is None:
        from nbconvert import HTMLExporter

        exporter = _LOCAL.exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                                                  exclude_output_prompt=True)
    return exporter


def _warm_up_renderers(job: dict):
    """Build this thread's HTML exporter (and, for PDF, its browser) while a new kernel boots."""
    def warm() -> None:
        html_exporter()
        if "pdf" in (job.get("formats") or ()):
            from .pdf import chromium_path, warm_browser

            if chromium_path():
                warm_browser()
    return warm


def review_result(nb) -> tuple[dict | None, dict]:
    """The review summary emitted as :data:`REVIEW_MIME` and its output metadata (ids, clock)."""
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            data = out.get("data") or {}
            if REVIEW_MIME in data:
                payload = data[REVIEW_MIME]
                payload = json.loads(payload) if isinstance(payload, str) else dict(payload)
                return payload, dict((out.get("metadata") or {}).get(REVIEW_MIME) or {})
    return None, {}


def _error_text(exc: BaseException) -> str:
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}".strip()
    return f"{type(exc).__name__}: {exc}".strip()


def _failed_notebook(source, error: str):
    """The input notebook with an error cell at the top (for failures before any cell ran)."""
    import nbformat

    nb = copy.deepcopy(source)
    cell = nbformat.v4.new_markdown_cell(f"**This report failed before it could run:** `{error}`")
    cell.metadata["tags"] = ["qlwork-error"]
    nb.cells.insert(0, cell)
    return nb


def _placeholder_html(nb, title: str, error: str) -> str:
    from html import escape

    try:
        return render_html(nb, title)
    except Exception:  # noqa: BLE001 - the placeholder must not fail
        return (f"<html><head><meta charset=\"utf-8\"><title>{escape(title)}</title></head><body>"
                f"<h1>Report failed</h1><pre>{escape(error)}</pre></body></html>")


def failed_outcome(job: dict, error: str, started: str | None = None, duration_s: float = 0.0) -> dict:
    """A failed job outcome (same keys as :func:`run_user_job`'s) for a user whose job could not run
    or crashed (e.g. a lost Dask worker): the input notebook with an error cell, and its HTML."""
    import nbformat

    try:
        source = nbformat.reads(job["notebook"], as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable notebook still gets a placeholder
        source = nbformat.v4.new_notebook()
    nb = _failed_notebook(source, error)
    meta = nb.metadata.setdefault("papermill", {})
    meta["parameters"] = job.get("parameters") or {}
    meta["input_path"], meta["output_path"] = job.get("input_path"), job.get("output_path")
    title = job.get("title", "report")
    return {"user_id": job["user_id"], "status": "failed", "error": error, "result": None, "volatile": {},
            "notebook": nbformat.writes(nb), "html": _placeholder_html(nb, title, error),
            "started_at": started or _now(), "finished_at": _now(), "duration_s": round(duration_s, 3),
            "timings": {"execute_s": 0.0, "render_s": 0.0}}


SHARED_DATABASE = "QLWORK_SHARED_DATABASE"
"""Job env key naming (without credentials) the database a batch on a shared store writes to."""


def job_env(qlwork_home: str) -> dict[str, str]:
    """What a job carries to its worker: with ``QLWORK_DATABASE_URL`` set, the store and preferences
    are in that database, so only its redacted URL (the worker must have the same database in its own
    environment; the URL may hold a password and never travels with a job); else the client's home."""
    url = database_url()
    return {SHARED_DATABASE: redact(url)} if url else {"QLWORK_HOME": qlwork_home}


def missing_home_error(job: dict) -> str | None:
    """Why ``job`` cannot run here: its QLWORK_HOME does not exist on this machine, or the batch
    writes to a shared database this worker is not configured for (None if it can run)."""
    shared = (job.get("env") or {}).get(SHARED_DATABASE)
    if shared:
        import socket

        mine = database_url()
        if mine and redact(mine) == shared:
            return None
        return (f"The batch writes to the shared database {shared}, but worker {socket.gethostname()} has "
                f"{'QLWORK_DATABASE_URL=' + redact(mine) if mine else 'no QLWORK_DATABASE_URL'}: set it in the "
                "worker's environment (docs/store.md).")
    path = (job.get("env") or {}).get("QLWORK_HOME")
    if not path or os.path.isdir(path):
        return None
    import socket

    return (f"QLWORK_HOME {path} does not exist on worker {socket.gethostname()}. Dask workers on other machines "
            "need the client's QLWORK_HOME and portfolio files at the same paths on a shared filesystem (e.g. an "
            "NFS mount): mount it there, or run with --executor local.")


def run_user_job(job: dict, kernel=None) -> dict:
    """Execute one user's review notebook; a failed run is returned as data (status "failed"), and the
    batch turns anything that still escapes (a crashed worker) into a failed outcome too. ``job`` keys:
    ``user_id``, ``notebook`` (notebook JSON text), ``parameters``, ``kernel_name``, ``start_timeout``,
    ``execution_timeout``, ``input_path`` / ``output_path`` (recorded in the notebook metadata), ``env``
    (extra env vars for the kernel, e.g. QLWORK_HOME; never secrets), ``title`` and optionally
    ``runtime_dir`` (where the job's private kernel folder goes; default: the system temp folder).

    ``kernel``: a :class:`qlwork.reports.kernels.WarmKernel` to run in (reset before the job, see
    that module); None starts a fresh kernel for this job and shuts it down afterwards (Dask).

    Returns ``{user_id, status ("ok"|"failed"), error, result, volatile, notebook (JSON text), html,
    started_at, finished_at, duration_s, timings{execute_s, render_s}, kernel_pid}``.
    """
    import nbformat
    import papermill

    started, t0 = _now(), time.perf_counter()
    missing = missing_home_error(job)
    if missing:  # never let the review create an empty store on a worker that lacks the shared home
        return failed_outcome(job, missing, started, time.perf_counter() - t0)
    source = nbformat.reads(job["notebook"], as_version=4)
    tmp = tempfile.mkdtemp(prefix="qlwork-kernel-", dir=job.get("runtime_dir"))
    status, error = "ok", None
    env = {**os.environ, **(job.get("env") or {})}
    name = job.get("kernel_name", "python3")
    held: dict = {}  # the executed notebook, in memory (also when a cell failed): no file round trip
    run = dict(parameters=job.get("parameters") or {}, kernel_name=name, progress_bar=False,
               request_save_on_cell_execute=False, start_timeout=job.get("start_timeout", 60),
               execution_timeout=job.get("execution_timeout", 600), engine_name=register_engine(), holder=held)
    pid, km = None, None
    try:
        if kernel is None:
            km = kernel_manager(name, tmp, env)
            papermill.execute_notebook(source, None, km=km, warm_client=None, **run)
        else:
            kernel.prepare(job.get("start_timeout", 60), while_starting=_warm_up_renderers(job))
            pid = kernel.pid
            papermill.execute_notebook(source, None, km=kernel.km, warm_client=kernel.kc, **run)
            kernel.uses += 1
    except Exception as exc:  # noqa: BLE001 - one user's failure is data, not a crash
        status, error = "failed", _error_text(exc)
    finally:
        if km is not None:  # papermill does not shut down a kernel it was handed: this job's own kernel ends here
            shutdown_kernel(km)
        shutil.rmtree(tmp, ignore_errors=True)  # IPC socket files
    nb = held.get("nb")
    t1 = time.perf_counter()
    if nb is None:
        nb = _failed_notebook(source, error or "unknown error")
    for cell in nb.cells:  # papermill gives the injected cell a random id: make it stable
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell["id"] = "injected-parameters"
    renumber(nb)
    meta = nb.metadata.setdefault("papermill", {})
    meta["input_path"], meta["output_path"] = job.get("input_path"), job.get("output_path")
    result, volatile = review_result(nb)
    if status == "ok" and result is None:
        status, error = "failed", "The notebook finished without a review result."
    if result is not None and result.get("status") not in (None, "ok") and status == "ok":
        status, error = "failed", str(result.get("error") or "review reported failure")
    try:
        html = render_html(nb, job.get("title", "report"))
    except Exception as exc:  # noqa: BLE001
        html = f"<html><body><h1>Report rendering failed</h1><pre>{_error_text(exc)}</pre></body></html>"
        status, error = "failed", error or f"render: {_error_text(exc)}"
    t2 = time.perf_counter()
    pdf = None
    if "pdf" in (job.get("formats") or ()):
        params = job.get("parameters") or {}
        running = {"user_id": job["user_id"], "as_of": params.get("as_of"), "synthetic": bool((result or {}).get("synthetic"))}
        pdf, pdf_error = _pdf(html, close=kernel is None, running=running)
        if pdf_error and status == "ok":
            status, error = "failed", pdf_error
    xlsx = None
    if "xlsx" in (job.get("formats") or ()) and result is not None and status == "ok":
        from .xlsx import workbook_bytes

        xlsx = workbook_bytes(result)
    t3 = time.perf_counter()
    return {"user_id": job["user_id"], "status": status, "xlsx": xlsx, "error": error, "result": result, "volatile": volatile,
            "notebook": nbformat.writes(nb), "html": html, "pdf": pdf, "started_at": started, "finished_at": _now(),
            "duration_s": round(t3 - t0, 3), "kernel_pid": pid,
            "timings": {"execute_s": round(t1 - t0, 3), "render_s": round(t2 - t1, 3), "pdf_s": round(t3 - t2, 3)}}


def _pdf(html: str, close: bool, running: dict | None = None) -> tuple[bytes | None, str | None]:
    """The report printed to PDF, or the reason it could not be (the HTML report is still written)."""
    from .pdf import close_browser, html_to_pdf

    try:
        return html_to_pdf(html, running=running), None
    except Exception as exc:  # noqa: BLE001 - no PDF is this user's failure, not the batch's
        return None, f"pdf: {_error_text(exc)}"
    finally:
        if close:  # a one-off job (Dask): no browser kept for a next report on this thread
            close_browser()


def renumber(nb) -> None:
    """Execution counts 1, 2, ... in cell order, as a fresh kernel gives: a warm kernel's counter
    carries on from earlier users, and the report must not depend on which kernel ran it."""
    count = 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code" or cell.get("execution_count") is None:
            continue
        count += 1
        cell["execution_count"] = count
        for out in cell.get("outputs", []):
            if out.get("output_type") == "execute_result":
                out["execution_count"] = count


# -- declared non-determinism ----------------------------------------------------------------------

def mask_volatile_html(text: str) -> str:
    """HTML with the declared run-specific values (``qlwork-volatile`` spans) masked."""
    return VOLATILE_SPAN.sub(r"\1*\2", text)


def mask_volatile_notebook(nb: dict) -> dict:
    """A copy of an executed notebook with its declared run-specific parts masked: papermill's
    clock fields, cell execution timestamps, the review output's metadata and volatile spans."""
    nb = copy.deepcopy(nb)
    pm = nb.get("metadata", {}).get("papermill", {})
    for key in PAPERMILL_CLOCK:
        pm.pop(key, None)
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
        for out in cell.get("outputs", []) or []:
            out.get("metadata", {}).pop(REVIEW_MIME, None)
            for mime, value in (out.get("data") or {}).items():
                if mime == "text/html":
                    out["data"][mime] = mask_volatile_html("".join(value) if isinstance(value, list) else value)
    return nb
