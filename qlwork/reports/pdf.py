"""``portfolio_review.pdf``: the report's HTML (code hidden) printed to PDF by a headless Chromium.

The browser is the system's Chromium (Debian's ``/usr/bin/chromium``, or ``QLWORK_CHROMIUM``) driven by
Playwright, the engine behind nbconvert's ``webpdf`` exporter; Playwright's own browser download is
never used (nbconvert's exporter cannot be pointed at a browser path, so the few calls are made here).
The page is loaded from a local file with JavaScript disabled, a Content-Security-Policy that allows
only the report's own inline styles and data: images, and every request but the report file itself
refused (no network, no other file:// resource), so nothing a notebook output links can be fetched or
run while printing. Chromium's own sandbox stays on; as root the browser runs as the unprivileged
sandbox uid (``_chromium_as_user.py``, ``QLWORK_SANDBOX_UID``). A print stylesheet lets the
sections flow (only the appendix starts a page), keeps headings with what follows and figures and
table rows whole, fits tables to the page width (smaller type, wrapped headers and code), and prints
the background colours of the notices. Chromium's own header and footer templates put the user, the
date, "page x of y" and SYNTHETIC DATA on every page.

One browser per worker thread is kept for the batch (:func:`close_browser`, called by the thread when it
ends, closes it): launching Chromium costs about a second, printing a report a fraction of that.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from html import escape

from ..errors import InputError

PRINT_CSS = """<style>
@page { size: A4; margin: 16mm 10mm 14mm; }
@media print {
  body { -webkit-print-color-adjust: exact; print-color-adjust: exact; font-size: 9.5pt; }
  .jp-Cell, .jp-Cell-outputWrapper, .jp-OutputArea, .jp-OutputArea-child { padding: 0 !important; margin: 0 !important; }
  .jp-OutputPrompt, .jp-InputPrompt, .jp-Collapser { display: none !important; }
  .jp-RenderedHTMLCommon { padding-right: 0 !important; }
  .qlwork-report h2, .qlwork-report h3, .qlwork-report h4 { break-after: avoid; break-inside: avoid; margin: 0.5em 0 0.25em; }
  .qlwork-report h4 + table, .qlwork-report h3 + table, .qlwork-report h3 + p, .qlwork-report h4 + p { break-before: avoid; }
  .qlwork-report table { width: 100%; font-size: 7.6pt !important; table-layout: auto; break-inside: auto; }
  .qlwork-report th, .qlwork-report td { padding: 1.5px 4px !important; }
  .qlwork-report th { white-space: normal; }
  .qlwork-report tr, img, svg, figure, .jp-RenderedSVG, .jp-RenderedImage { break-inside: avoid; }
  .qlwork-report thead { display: table-header-group; }
  .qlwork-report code { white-space: pre-wrap; word-break: break-all; font-size: 0.95em; }
  .qlwork-report td { overflow-wrap: break-word; }
  .qlwork-report td.num { white-space: nowrap; }
  .qlwork-heatmap td, .qlwork-heatmap th { padding: 1px 2px !important; text-align: center !important; }
  .jp-OutputArea-child { break-inside: auto; }  /* JupyterLab keeps an output on one page: a long one left a blank page */
  img { max-width: 100% !important; max-height: 108mm; width: auto; height: auto; display: block; margin: 0 auto; }
  .jp-OutputArea-output { overflow: visible !important; }
}
</style>"""
RUNNING_STYLE = "font-family:sans-serif;font-size:7.5pt;color:#444;width:100%;margin:0 10mm;display:flex;" \
                "justify-content:space-between"


def running_templates(user_id: str, as_of: str, synthetic: bool) -> tuple[str, str]:
    """Chromium's own header and footer templates for every page (no page script): the user, the
    report's date, SYNTHETIC DATA when the prices are generated, and "page x of y" (Chromium fills the
    ``pageNumber`` / ``totalPages`` spans). The date is the report's as-of date, not the print clock, so
    the same report prints the same bytes."""
    mark = '<b style="color:#8a5a00">SYNTHETIC DATA</b>' if synthetic else ""
    who = f"qlwork weekly review · {escape(user_id)} · as of {escape(as_of)}"
    header = f'<div style="{RUNNING_STYLE}"><span>{who}</span>{mark}</div>'
    footer = (f'<div style="{RUNNING_STYLE}"><span>{who}</span>{mark}<span>Page <span class="pageNumber"></span> of '
              '<span class="totalPages"></span></span></div>')
    return header, footer


BROWSER_ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
_LOCAL = threading.local()
AS_USER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_chromium_as_user.py")
REPORT_CSP = ("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
              "style-src 'unsafe-inline'; img-src data:; font-src data:; script-src 'none'; frame-src 'none'\">")
"""The printed page may use only its own inline styles and data: images and fonts: no script, no frame,
no file:// or network subresource (behind the route filter and JavaScript disabled)."""


PDF_CLOCK = re.compile(rb"/(CreationDate|ModDate) \(D:[^)]*\)")


def mask_volatile_pdf(data: bytes) -> bytes:
    """PDF bytes with the declared run-specific values (creation and modification dates) masked: the
    same report HTML prints to the same bytes otherwise."""
    return PDF_CLOCK.sub(rb"/\1 (D:*)", data)


def chromium_path() -> str | None:
    """The system Chromium to print with, or None."""
    configured = os.environ.get("QLWORK_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.access(name, os.X_OK):
            return name
    return shutil.which("chromium") or shutil.which("chromium-browser")


def print_html(html: str) -> str:
    """The report HTML with the print stylesheet (page breaks between sections) and the printer's CSP
    first in the head; unchanged when it has them."""
    if PRINT_CSS not in html:
        html = html.replace("</head>", PRINT_CSS + "</head>", 1) if "</head>" in html else PRINT_CSS + html
    if REPORT_CSP not in html:
        head = re.search(r"<head[^>]*>", html, re.IGNORECASE)
        html = html[:head.end()] + REPORT_CSP + html[head.end():] if head else REPORT_CSP + html
    return html


def _browser():
    browser = getattr(_LOCAL, "browser", None)
    if browser is not None and browser.is_connected():
        return browser
    exe = chromium_path()
    if exe is None:
        raise InputError("PDF reports need Chromium, and none was found (looked for /usr/bin/chromium).",
                         fix="Install it (apt-get install chromium, or `make chromium`) or set QLWORK_CHROMIUM, "
                             "or run with --format html.")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise InputError("PDF reports need the playwright package.", fix="pip install 'qlwork[pdf]' (playwright; it uses the system Chromium, no browser download).") from exc
    pw = sync_playwright().start()
    # Chromium's own sandbox stays on: as root the browser is started as the unprivileged sandbox uid
    env = {**os.environ, "QLWORK_CHROMIUM_REAL": exe}
    browser = pw.chromium.launch(executable_path=AS_USER if os.getuid() == 0 else exe, args=BROWSER_ARGS,
                                 env=env, chromium_sandbox=True, handle_sigint=False, handle_sigterm=False,
                                 handle_sighup=False)
    _LOCAL.playwright, _LOCAL.browser = pw, browser
    return browser


def warm_browser() -> None:
    """Launch this thread's browser now (a failure is left for :func:`html_to_pdf` to report)."""
    try:
        _browser()
    except Exception:  # noqa: BLE001 - reported, with its fix, when a PDF is printed
        pass


def html_to_pdf(html: str, timeout_s: float = 60, running: dict | None = None) -> bytes:
    """PDF bytes of ``html`` (A4, backgrounds printed, sections flowing; wide tables in smaller type and
    wrapped). ``running`` ``{"user_id", "as_of", "synthetic"}`` adds the running header and footer
    (:func:`running_templates`) to every page."""
    extra = {}
    if running:
        header, footer = running_templates(str(running.get("user_id")), str(running.get("as_of")),
                                           bool(running.get("synthetic")))
        extra = {"display_header_footer": True, "header_template": header, "footer_template": footer}
    browser = _browser()
    folder = tempfile.mkdtemp(prefix="qlwork-pdf-")
    try:
        path = os.path.join(folder, "report.html")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(print_html(html))
        os.chmod(folder, 0o711)  # the browser may run as the sandbox uid: it reads this one file only
        os.chmod(path, 0o644)
        context = browser.new_context(offline=True, java_script_enabled=False)
        try:
            page = context.new_page()
            url = f"file://{path}"  # the report itself is the only resource the page may load
            page.route("**/*", lambda route: route.continue_() if route.request.url == url else route.abort())
            page.goto(url, wait_until="load", timeout=timeout_s * 1000)
            page.emulate_media(media="print")
            return page.pdf(print_background=True, prefer_css_page_size=True, **extra)
        finally:
            context.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def close_browser() -> None:
    """Close this thread's browser (call from the thread that printed)."""
    browser, pw = getattr(_LOCAL, "browser", None), getattr(_LOCAL, "playwright", None)
    _LOCAL.browser = _LOCAL.playwright = None
    for closer in (getattr(browser, "close", None), getattr(pw, "stop", None)):
        try:
            if closer is not None:
                closer()
        except Exception:  # noqa: BLE001 - a browser that is already gone is closed
            pass
