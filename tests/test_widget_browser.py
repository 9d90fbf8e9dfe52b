"""End-to-end: the assistant widget in JupyterLab, driven in headless Chromium by Playwright.

Starts JupyterLab on 127.0.0.1 (free port, random token, QLWORK_HOME and all Jupyter state in a tmp
dir), opens a copy of notebooks/assistant_workbench.ipynb, runs its cells, asks "Analyze my
portfolio" through the widget's input and Send button, and checks the answer (score, risk,
recommendations) and the expandable steps. Then it adds a cell with a model-backed chat (the real
``openai`` client against tests/servers/fake_model.py, streaming slowly) and checks, from every state
the browser showed while the answer arrived, that no raw JSON was ever visible and that tool progress
lines appeared; the answer shows the score breakdown. Screenshots at 1280 px and 800 px, light and
JupyterLab Dark (and the widget squeezed to 368 px) go to tests/artifacts/.

Skips, loudly, only when Chromium or Playwright is missing (``make test`` installs Chromium with
apt-get when it can).
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fake_model import FakeModel, rule_model

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "assistant_workbench.ipynb"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = os.environ.get("QLWORK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
SKIP_PREFIX = "BROWSER TEST SKIPPED (the widget was NOT checked in a real browser): "


def _require_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(SKIP_PREFIX + f"no Chromium at {CHROMIUM}. Install it with "
                    "`apt-get update && apt-get install -y chromium` (make test does this as root).")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip(SKIP_PREFIX + "playwright is not installed; run `pip install -e '.[dev]'`.")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def lab(tmp_path):
    """A JupyterLab server on a copy of the workbench notebook; yields (base_url, token, log_path)."""
    _require_browser()
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    port, token = _free_port(), secrets.token_hex(16)
    news = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}')  # no "official Jupyter news?" toast over the widget
    # render every cell fully: with windowing, off-screen cells have no editor DOM to click
    tracker = tmp_path / "lab-settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text('{"windowingMode": "none"}')
    env = {**os.environ, "QLWORK_HOME": str(tmp_path / "home"), "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrun"), "JUPYTER_DATA_DIR": str(tmp_path / "jdata"), "IPYTHONDIR": str(tmp_path / "ipython"),
           "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.open_browser=False",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", "--ServerApp.allow_root=True", f"--ServerApp.root_dir={work}",
           f"--LabApp.user_settings_dir={tmp_path / 'lab-settings'}",
           f"--LabApp.workspaces_dir={tmp_path / 'lab-workspaces'}",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log_path = tmp_path / "jupyterlab.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 45
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within 45 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base, token, log_path
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server and its kernels (its own process group, started above)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(5)


def _start_kernel(base: str, token: str, path: str, runtime_dir: Path) -> None:
    """Start the notebook's kernel through the REST API and wait until it answers, so the page attaches
    to a running kernel (on a loaded machine JupyterLab's own start can time out and start another
    kernel mid-run, losing the state of the cells already run). The server reports a kernel "starting"
    until a client talks to it, so this asks the kernel itself (kernel_info over its connection file)."""
    from jupyter_client import BlockingKernelClient

    body = json.dumps({"path": path, "type": "notebook", "name": path, "kernel": {"name": "python3"}}).encode()
    request = urllib.request.Request(f"{base}/api/sessions?token={token}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as r:
        kernel = json.load(r)["kernel"]["id"]
    client = BlockingKernelClient(connection_file=str(runtime_dir / f"kernel-{kernel}.json"))
    client.load_connection_file()
    client.start_channels(hb=False)  # heartbeats miss on a loaded machine; the reply is what counts
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            msg_id = client.kernel_info()
            try:
                while client.get_shell_msg(timeout=5)["parent_header"].get("msg_id") != msg_id:
                    pass
                return
            except queue.Empty:
                continue
        pytest.fail("The notebook's kernel did not answer kernel_info within 300 s.")
    finally:
        client.stop_channels()

def _execute(page, cell) -> None:
    """Run one cell, retrying while JupyterLab drops it (before the kernel connection is up the
    notebook reports "idle" but silently ignores execution requests)."""
    prompt = cell.locator(".jp-InputPrompt")
    for _ in range(8):
        kernel_dialog = page.locator(".jp-Dialog").filter(has_text="Select Kernel")
        if kernel_dialog.count():  # JupyterLab sometimes asks before the saved kernel spec resolves
            kernel_dialog.locator("button.jp-mod-accept").click()
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            if re.search(r"\[[*0-9]+\]", prompt.inner_text()):
                return
            time.sleep(0.2)
    pytest.fail("JupyterLab never started executing the widget cell (kernel not connected?).")


def _code_cells() -> list[str]:
    """Sources of the workbench notebook's code cells (read from the .ipynb file: the browser's
    editor text is not reliable before CodeMirror has rendered it)."""
    return ["".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]


def _run_all_cells(page) -> None:
    """Run every code cell in order, as a reader would (Shift+Enter on each)."""
    sources = _code_cells()
    assert any("AssistantChat(" in src for src in sources), "No cell in the workbench notebook creates AssistantChat(...)."
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    page.locator(".jp-Notebook-ExecutionIndicator").first.wait_for(timeout=45_000)
    cells.nth(len(sources) - 1).wait_for(timeout=45_000)
    assert cells.count() == len(sources)
    for i in range(len(sources)):
        _execute(page, cells.nth(i))
    # every cell finished without an error output
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt")
    deadline = time.monotonic() + 120
    while any("*" in prompts.nth(i).inner_text() for i in range(len(sources))):
        if time.monotonic() > deadline:
            pytest.fail("Notebook cells were still running after 120 s.")
        time.sleep(0.5)
    errors = page.locator(".jp-Notebook .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    tracebacks = [t for t in (errors.nth(i).inner_text() for i in range(errors.count())) if "Traceback" in t]
    assert not tracebacks, tracebacks


def test_chat_in_jupyterlab(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    base, token, log_path = lab
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "assistant_widget.png"
    console: list[str] = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chrome-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1300, "height": 2600})
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        try:
            _start_kernel(base, token, NOTEBOOK.name, tmp_path / "jrun")
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", timeout=45_000)
            _run_all_cells(page)
            chat = page.locator(".qlwork-chat")
            chat.wait_for(state="visible", timeout=60_000)
            chat.locator(".qlwork-header").filter(has_text="analyst").wait_for(timeout=10_000)

            box = chat.locator(".qlwork-input input")
            box.click()
            box.fill("Analyze my portfolio")
            chat.locator("button.qlwork-send").click()

            answer = chat.locator(".qlwork-answer").last
            answer.locator(".qlwork-score").wait_for(timeout=60_000)
            text = answer.inner_text()
            assert "Score" in text and "/10" in text, text
            assert "Risk" in text, text
            assert answer.locator("tr.qlwork-rec").count() >= 1, text
            assert "Recommendations" in text and "Insights" in text, text
            assert chat.locator(".qlwork-user-text").last.inner_text().endswith("Analyze my portfolio")
            # the busy indicator is gone and Send is usable again
            chat.locator("button.qlwork-send:not([disabled])").wait_for(timeout=10_000)

            # Enter in the input box sends too (a second exchange on the same thread)
            box.fill("What is my risk?")
            box.press("Enter")
            chat.locator(".qlwork-answer").nth(1).wait_for(timeout=60_000)
            assert chat.locator(".qlwork-user-text").count() == 2

            steps = chat.locator(".qlwork-steps").first
            header = steps.locator(".jupyter-widget-Collapse-header").first
            assert "How this answer was made" in header.inner_text()
            assert not steps.locator(".qlwork-step").first.is_visible()
            header.click()
            steps.locator(".qlwork-step").first.wait_for(state="visible", timeout=10_000)
            steps_text = steps.inner_text()
            assert "analyze_portfolio" in steps_text and "ms" in steps_text, steps_text
            page.locator(".jp-Notebook").first.evaluate("n => { n.scrollTop = 0; }")
            page.screenshot(path=str(shot))
            _model_backed_answer(page, cells_before=len(_code_cells()))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "assistant_widget_failure.png"), full_page=True)
            print("--- browser console ---\n" + "\n".join(console[-40:]))
            print("--- jupyterlab log ---\n" + log_path.read_text()[-4000:])
            raise
        finally:
            context.close()
    assert shot.stat().st_size > 10_000


MODEL_CELL = """from qlwork.widget import AssistantChat
model_chat = AssistantChat(user_id="modeller", backend="openai-chat", portfolio="sample:concentrated",
                           backend_options={{"base_url": "{base_url}", "model": "fake-model"}}, height="460px")
model_chat"""

# records what every pending card and answer showed, on each change, until the answer is in
WATCH_JS = """root => {
  window.__qlworkSeen = [];
  const note = () => root.querySelectorAll('.qlwork-pending, .qlwork-answer-body').forEach(
      e => window.__qlworkSeen.push(e.innerText));
  window.__qlworkObserver = new MutationObserver(note);
  window.__qlworkObserver.observe(root, {subtree: true, childList: true, characterData: true});
}"""


def _paced(body: dict, path: str):
    reply = rule_model(body, path)
    reply.pace, reply.pieces = 0.25, 8  # the answer arrives in 8 slow pieces: the browser sees each state
    return reply


def _model_backed_answer(page, cells_before: int) -> None:
    """A model-backed chat in a new cell: live progress without raw JSON, the score breakdown, screenshots."""
    from qlwork.assistant.defaults import default_tools

    default_tools()  # the rule model answers with the tools registered in this process
    with FakeModel(policy=_paced) as model:
        cells = page.locator(".jp-Notebook .jp-CodeCell")
        cells.nth(cells_before - 1).locator(".jp-InputArea-editor").click()
        page.keyboard.press("Escape")
        page.keyboard.press("b")  # a new cell below, as a reader would add one
        new = page.locator(".jp-Notebook .jp-CodeCell").nth(cells_before)
        new.wait_for(timeout=10_000)
        new.locator(".cm-content").fill(MODEL_CELL.format(base_url=model.base_url))
        _execute(page, new)
        chat = new.locator(".qlwork-chat")
        chat.wait_for(state="visible", timeout=60_000)
        assert "synthetic demo data" in chat.locator(".qlwork-header").inner_text()
        chat.evaluate(WATCH_JS)
        box = chat.locator(".qlwork-input input")
        box.fill("Analyze my portfolio")
        chat.locator("button.qlwork-send").click()
        breakdown = chat.locator(".qlwork-answer .qlwork-score-breakdown")
        try:
            breakdown.wait_for(timeout=90_000)
        except Exception:
            print("model requests:", [(r.path, len((r.body or {}).get("tools") or [])) for r in model.requests])
            raise
        seen = page.evaluate("() => { window.__qlworkObserver.disconnect(); return window.__qlworkSeen; }")
        assert model.requests and all(b.get("stream") for b in model.bodies())
    pending = [t for t in seen if "Drafting" in t or "analyze_portfolio" in t or "Working" in t]
    assert any(re.search(r"analyze_portfolio done in|Running analyze_portfolio", t) for t in seen), seen
    assert len(pending) >= 2, seen
    raw = [t for t in seen if re.search(r'[{\[]\s*"|"analysis_type"|analysis_type|":\s', t)]
    assert not raw, raw[:3]  # no state the browser showed ever held raw JSON
    text = breakdown.inner_text()
    assert "Diversification" in text and "Trend" in text and "Weight" in text, text
    header = chat.locator(".qlwork-header").inner_text()
    assert "synthetic demo data" in header and "openai-chat" in header, header
    _screenshots(page, chat)


def _screenshots(page, chat) -> None:
    """The model-backed widget at 1280 px and 800 px, light and JupyterLab Dark, and at 368 px."""
    # the notebook gets the whole width, as an analyst working at 800 px would have it (with the file
    # browser open the widget is already squeezed to ~368 px there)
    current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if current.count():
        current.first.click()
        page.wait_for_timeout(300)
    widths = {}
    for theme in ("light", "dark"):
        if theme == "dark":
            page.locator(".lm-MenuBar-itemLabel", has_text="Settings").click()
            page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
            page.locator(".lm-Menu-itemLabel").get_by_text("JupyterLab Dark", exact=True).click()
            page.locator("body[data-jp-theme-light='false']").wait_for(state="attached", timeout=20_000)
            page.wait_for_timeout(500)
        for width in (1280, 800):
            page.set_viewport_size({"width": width, "height": 1400})
            chat.scroll_into_view_if_needed()
            _show_score(chat)
            page.wait_for_timeout(300)
            chat.screenshot(path=str(ARTIFACTS / f"assistant_widget_{width}_{theme}.png"))
            widths[width] = chat.evaluate("e => e.getBoundingClientRect().width")
    assert widths[1280] > widths[800] > 600, widths  # three distinct layouts, not one squeezed widget
    chat.evaluate("e => { e.style.width = '368px'; }")
    _show_score(chat)
    page.wait_for_timeout(300)
    chat.screenshot(path=str(ARTIFACTS / "assistant_widget_368_dark.png"))
    # usable at 368 px: the card fits the panel; the score breakdown, recommendations (reasons under the
    # symbol) and metrics wrap to fit it, only the wide holdings table scrolls sideways inside the card
    widths = chat.locator(".qlwork-answer-body").last.evaluate(
        "card => Object.fromEntries([['card', card], ['breakdown', card.querySelector('.qlwork-score-breakdown table')],"
        " ['recommendations', card.querySelector('.qlwork-recommendations')],"
        " ['metrics', card.querySelector('.qlwork-metrics')]].map(([k, e]) => [k, e && e.getBoundingClientRect().width]))")
    assert widths["card"] <= 368 and widths["breakdown"] and widths["recommendations"], widths
    # header items wrap between themselves, never inside one (the thread id stays on one line, whole in its title)
    items = chat.locator(".qlwork-header-item").evaluate_all(
        "els => els.map(e => [e.textContent, e.getClientRects().length, e.getBoundingClientRect().height])")
    assert len(items) >= 5 and all(rects == 1 for _, rects, _ in items), items
    assert max(h for *_, h in items) < 2 * min(h for *_, h in items), items
    assert all(w is None or w <= widths["card"] - 18 for k, w in widths.items() if k != "card"), widths
    for name in ("1280_light", "800_light", "1280_dark", "800_dark", "368_dark"):
        assert (ARTIFACTS / f"assistant_widget_{name}.png").stat().st_size > 10_000


def _show_score(chat) -> None:
    """Scroll the conversation box so the answer's title, score and breakdown are in the screenshot."""
    chat.locator(".qlwork-answer-body").last.evaluate(
        "e => { const box = e.closest('.qlwork-scroll'); box.scrollTop += e.getBoundingClientRect().top"
        " - box.getBoundingClientRect().top - 4; }")
