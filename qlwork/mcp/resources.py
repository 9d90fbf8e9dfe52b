"""Resources a user can read over MCP: portfolios, the latest weekly report, research notes.

URIs (``qlwork://``):

- ``portfolios/sample/<name>``        a sample portfolio shipped with qlwork (JSON holdings)
- ``portfolios/file/<file_id>``       one of the user's uploaded CSV/JSON holdings files (JSON holdings)
- ``portfolios/kite``                 the user's Kite holdings (listed when the user is logged in to Kite)
- ``reports/latest/portfolio_review.html``  the user's latest weekly report (HTML, code hidden)
- ``reports/latest/review.json``      that report's review summary (the notebook's review output)
- ``reports/latest/manifest.json``    the batch manifest's entry for this user only
- ``research/<filename>``             qlwork's research notes (Markdown; PDFs as extracted text)

Reports are read from ``<reports_dir>/<as_of>/<user>/`` and ``<reports_dir>/<as_of>/manifest.json``; the
latest is the newest ``as_of`` folder that has a report for the user. Another user's file id, report or
manifest entry answers "not found", exactly as a missing one does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError

from ..errors import QlworkError
from ..portfolio import load_portfolio
from ..portfolio.loaders import sample_portfolios
from ..tools.holdings_files import MAX_HOLDINGS_BYTES, holdings_format, load_holdings_file
from ..tools.file_search import RESEARCH_DIR
from .scope import PORTFOLIO_KINDS, UserScope

SCHEME = "qlwork://"
RESOURCE_NOT_FOUND = -32002  # the MCP specification's code for an unknown resource
REPORT_HTML = "portfolio_review.html"
REPORT_NOTEBOOK = "portfolio_review.ipynb"
REVIEW_JSON = "review.json"
AS_OF = re.compile(r"^\d{4}-\d{2}-\d{2}$")
RESEARCH_KINDS = {".md": "text/markdown", ".txt": "text/plain", ".pdf": "text/plain"}
JSON_MIME = "application/json"


def _resource(uri: str, name: str, description: str, mime: str, title: str | None = None) -> types.Resource:
    return types.Resource(uri=SCHEME + uri, name=name, title=title or name, description=description, mime_type=mime)


def list_resources(scope: UserScope) -> list[types.Resource]:
    """Every resource ``scope``'s user may read, portfolios first."""
    out = [_resource(f"portfolios/sample/{n}", f"sample:{n}", f"Sample portfolio {n!r} shipped with qlwork "
                     "(synthetic demo holdings).", JSON_MIME) for n in sample_portfolios()]
    files = scope.host.files
    for fid in scope.file_ids():
        obj = files.get(fid)
        if obj.kind in PORTFOLIO_KINDS and _holds_portfolio(files, obj):
            out.append(_resource(f"portfolios/file/{fid}", fid, f"Your uploaded holdings file {obj.filename}.",
                                 JSON_MIME, title=obj.filename))
    if scope.kite_logged_in():
        out.append(_resource("portfolios/kite", "kite", "Your Kite holdings (read-only, live from Zerodha).",
                             JSON_MIME))
    report = latest_report(scope.host.reports_dir, scope.user)
    if report is not None:
        as_of, folder, entry = report
        if (folder / REPORT_HTML).exists():
            out.append(_resource(f"reports/latest/{REPORT_HTML}", "latest weekly report",
                                 f"Your weekly portfolio review as of {as_of} (HTML).", "text/html"))
        if (folder / REVIEW_JSON).exists() or (folder / REPORT_NOTEBOOK).exists():
            out.append(_resource(f"reports/latest/{REVIEW_JSON}", "latest review summary",
                                 f"The review summary of your {as_of} report (scores, risk, recommendations).",
                                 JSON_MIME))
        if entry is not None:
            out.append(_resource("reports/latest/manifest.json", "latest report manifest entry",
                                 f"Your entry in the {as_of} batch manifest (status, inputs, headline figures).",
                                 JSON_MIME))
    for path in _research_files():
        out.append(_resource(f"research/{path.name}", path.name, "qlwork sample research note (synthetic)"
                             + (", text extracted from the PDF" if path.suffix == ".pdf" else "") + ".",
                             RESEARCH_KINDS[path.suffix]))
    return out


def resource_templates() -> list[types.ResourceTemplate]:
    """The parameterised URIs of :func:`list_resources` (a client may build them from ids it knows)."""
    return [types.ResourceTemplate(uri_template=SCHEME + "portfolios/sample/{name}", name="sample portfolio",
                                   description="A sample portfolio shipped with qlwork, by name (synthetic demo "
                                   "holdings).", mime_type=JSON_MIME),
            types.ResourceTemplate(uri_template=SCHEME + "portfolios/file/{file_id}", name="uploaded holdings file",
                                   description="One of your uploaded CSV/JSON holdings files, by file id.",
                                   mime_type=JSON_MIME),
            types.ResourceTemplate(uri_template=SCHEME + "research/{filename}", name="research note",
                                   description="A qlwork research note, by file name.", mime_type="text/markdown")]


def read_resource(scope: UserScope, uri: str) -> types.ReadResourceResult:
    """The contents of ``uri`` for ``scope``'s user; MCPError (-32002) when it is not theirs or not there."""
    if not uri.startswith(SCHEME):
        raise _not_found(uri)
    parts = uri[len(SCHEME):].split("/")
    try:
        mime, text = _read(scope, parts)
    except QlworkError as exc:
        if exc.details.get("code") == "not_found":
            raise _not_found(uri) from None
        raise MCPError(types.INVALID_PARAMS, hide_paths(str(exc)), data=json.loads(hide_paths(
            json.dumps(exc.to_dict(), default=str)))) from None
    if text is None:
        raise _not_found(uri)
    return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type=mime, text=text)])


def _read(scope: UserScope, parts: list[str]) -> tuple[str, str | None]:
    match parts:
        case ["portfolios", "sample", name] if name in sample_portfolios():
            return JSON_MIME, _portfolio_json(load_portfolio(f"sample:{name}"), f"sample:{name}")
        case ["portfolios", "file", file_id]:
            obj = scope.file(file_id)
            pf = load_holdings_file(scope.host.files, obj.id)  # errors name the upload, never its server path
            return (JSON_MIME, _portfolio_json(pf, file_id)) if pf is not None else ("", None)
        case ["portfolios", "kite"] if scope.kite_logged_in():
            return JSON_MIME, _portfolio_json(_kite_holdings(scope), "kite")
        case ["reports", "latest", leaf]:
            return _report_part(scope, leaf)
        case ["research", name]:
            return _research(name)
    return "", None


def _holds_portfolio(files: Any, obj: Any) -> bool:
    """Whether an uploaded CSV/JSON file's content is holdings (a price table or notes is not)."""
    if obj.bytes > MAX_HOLDINGS_BYTES:
        return False
    try:
        return holdings_format(obj.kind, files.content(obj.id)) is not None
    except (OSError, QlworkError):
        return False


def _portfolio_json(pf: Any, portfolio_id: str) -> str:
    data = pf.model_dump(mode="json", exclude_none=True)
    data.pop("metadata", None)
    data["source"] = portfolio_id  # the id to pass as a tool's portfolio argument (never a server path)
    return json.dumps({"portfolio_id": portfolio_id, **data}, indent=2)


def _kite_holdings(scope: UserScope) -> Any:
    """The user's Kite holdings through a provider reading that user's own token."""
    market = scope.market() if scope.host.provider == "kite" else None
    if market is None:
        from ..market import get_provider

        market = get_provider("kite", user_id=scope.user)
    return market.portfolio(name="kite")


def latest_report(root: Path, user: str) -> tuple[str, Path, dict | None] | None:
    """``(as_of, <root>/<as_of>/<user>, manifest entry or None)`` of the newest report of ``user``."""
    if not user or user.startswith(".") or not root.is_dir():
        return None
    for day in sorted((d for d in root.iterdir() if d.is_dir() and AS_OF.match(d.name)), reverse=True):
        folder = day / user
        entry = _manifest(day).get("users", {}).get(user)
        if (folder / REPORT_HTML).exists() or (folder / REPORT_NOTEBOOK).exists() or isinstance(entry, dict):
            return day.name, folder, entry if isinstance(entry, dict) else None
    return None


def _manifest(day: Path) -> dict:
    try:
        data = json.loads((day / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _report_part(scope: UserScope, leaf: str) -> tuple[str, str | None]:
    report = latest_report(scope.host.reports_dir, scope.user)
    if report is None:
        return "", None
    as_of, folder, entry = report
    if leaf == REPORT_HTML:
        path = folder / REPORT_HTML
        return "text/html", path.read_text(encoding="utf-8") if path.exists() else None
    if leaf == "manifest.json" and entry is not None:
        manifest = _manifest(folder.parent)
        keep = {k: manifest.get(k) for k in ("as_of", "qlwork_version", "generated_at")}
        return JSON_MIME, json.dumps({**keep, "user_id": scope.user, "entry": entry}, indent=2, default=str)
    if leaf == REVIEW_JSON:
        review = _review(folder)
        if review is None:
            return "", None
        return JSON_MIME, json.dumps({"as_of": as_of, "user_id": scope.user, "review": review}, indent=2, default=str)
    return "", None


def _review(folder: Path) -> dict | None:
    """The review summary: ``review.json`` beside the report if the batch wrote one, else the review
    output read back from the executed notebook."""
    try:
        return json.loads((folder / REVIEW_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    from ..reports.job import review_result

    try:
        notebook = json.loads((folder / REPORT_NOTEBOOK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return review_result(notebook)[0]


def _research_files() -> list[Path]:
    return [p for p in sorted(RESEARCH_DIR.iterdir()) if p.suffix in RESEARCH_KINDS and p.is_file()]


def _research(name: str) -> tuple[str, str | None]:
    path = next((p for p in _research_files() if p.name == name), None)
    if path is None:
        return "", None
    if path.suffix == ".pdf":
        from ..tools.file_parsing import parse_pdf

        pages = parse_pdf(path.read_bytes(), path.name).get("pages") or []
        return "text/plain", "\n\n".join(f"[{path.name} p.{i}]\n{text}" for i, text in enumerate(pages, start=1))
    return RESEARCH_KINDS[path.suffix], path.read_text(encoding="utf-8")


def hide_paths(text: str, keep: tuple[str, ...] = ()) -> str:
    """``text`` with the server's storage and install folders replaced by ``<server>`` (an error's text
    goes to remote clients, who must not learn where files live); the strings in ``keep`` (what the client
    sent itself) stay as they are."""
    from ..config import home

    kept = {f"\x00{i}\x00": json.dumps(k)[1:-1] for i, k in enumerate(k for k in keep if k)}
    for mark, value in kept.items():
        text = text.replace(value, mark)
    for root in sorted({str(home().resolve()), str(home()), str(Path(__file__).resolve().parents[2])},
                       key=len, reverse=True):
        text = text.replace(json.dumps(root)[1:-1], "<server>").replace(root, "<server>")
    for mark, value in kept.items():
        text = text.replace(mark, value)
    return text


def _not_found(uri: str) -> MCPError:
    return MCPError(RESOURCE_NOT_FOUND, f"Resource not found: {uri}. List resources to see yours.", data={"uri": uri})
