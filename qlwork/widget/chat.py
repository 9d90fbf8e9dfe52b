"""AssistantChat: a JupyterLab chat view of an assistant :class:`~qlwork.assistant.session.Session`.

Plain ipywidgets (no front-end build). The widget is a thin view: questions go to ``Session.ask``,
threads come from the session's store, and answers are drawn by :mod:`qlwork.widget.render`.
``chat.send(text)`` is the code path of the Send button and of Enter in the input box; the buttons
run it in a worker thread (``wait=False``) so the kernel stays free for Cancel, while tests and
scripts call it with the default ``wait=True`` and get the :class:`Answer` back.

    from qlwork.widget import AssistantChat
    chat = AssistantChat(user_id="analyst", portfolio="sample:diversified")
    chat
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import ipywidgets as widgets
import traitlets

from ..assistant.attachments import (
    attachment_name,
    is_portfolio_file,
    message_attachment,
    save_upload,
    thread_portfolio,
    use_as_portfolio,
)
from ..assistant.progress import RunWatcher, draft_lines
from ..charts.style import DARK_CHART_CSS
from ..errors import InputError, QlworkError
from . import parts as P
from . import render as R

__all__ = ["AssistantChat"]

_ENDED = ("failed", "cancelled", "expired", "incomplete")


class AssistantChat(widgets.VBox):
    """Chat with the qlwork assistant in a notebook.

    ``AssistantChat(user_id="analyst", backend="offline", thread_id=None, portfolio=None)`` opens a
    session (continuing the user's latest thread unless ``thread_id`` or ``new_thread=True``);
    ``session=`` wraps an existing one instead. Extra keywords go to :class:`Session`. The conversation
    grows up to ``height`` (CSS, default 520px) and then scrolls so the input stays visible; ``reports_dir`` is where
    the header looks for the user's latest weekly report (default ``QLWORK_REPORTS_DIR`` or ``reports``).
    """

    busy = traitlets.Bool(False, help="True while a run is in progress (Python side only).")

    def __init__(self, user_id: str | None = None, backend: Any = "offline", thread_id: str | None = None, *,
                 portfolio: Any = None, provider: Any = None, session: Any = None, new_thread: bool = False,
                 store: Any = None, charts: bool = True, height: str = "520px", reports_dir: Any = None,
                 **session_options: Any) -> None:
        super().__init__()
        if session is None:
            if not user_id:
                raise InputError("AssistantChat needs a user_id (or an existing session).",
                                 fix='AssistantChat(user_id="analyst")', code="invalid_argument")
            from .. import open_session

            session = open_session(user_id, backend=backend, thread_id=thread_id, portfolio=portfolio,
                                   provider=provider, new_thread=new_thread, store=store, on_delta=self._on_delta,
                                   **session_options)
        else:
            P.wire_delta(session, self._on_delta)
            if thread_id:
                session.switch(thread_id)
        self.session = session
        self.charts = charts
        self.reports_dir = reports_dir
        self._markdown = ""
        self.last_answer: Any = None
        self._last_run: Any = None
        self._data_source: str | None = None  # the provider's label, never a model's data_source
        self._pending_files: list[dict] = []
        self._pending: widgets.VBox | None = None
        self._stream = ""
        self._tool_lines: list[str] = []
        self._watcher: RunWatcher | None = None
        self._pending_html = widgets.HTML()
        self._worker: threading.Thread | None = None
        self._syncing = False
        self._build(height)
        self._render_history()
        self.refresh()

    # -- layout --------------------------------------------------------------------------------
    def _build(self, height: str) -> None:
        self.add_class("qlwork-chat")
        self.layout = widgets.Layout(width="100%", max_width="1100px")
        self.header = P.css(widgets.HTML(), "qlwork-header")
        self.thread_picker = P.css(widgets.Dropdown(description="Thread", layout=widgets.Layout(width="70%")),
                                  "qlwork-threads")
        self.new_button = P.css(widgets.Button(description="New thread", icon="plus"), "qlwork-new-thread")
        # column-reverse keeps the scroll pinned to the newest turn; the auto bottom margin keeps a short
        # conversation at the top of the box
        self.conversation = P.css(widgets.VBox(layout=widgets.Layout(width="100%", flex="0 0 auto",
                                                                     margin="0 0 auto 0")), "qlwork-conversation")
        self.scroller = P.css(widgets.Box([self.conversation], layout=widgets.Layout(
            width="100%", max_height=height, overflow="auto", flex_flow="column-reverse")), "qlwork-scroll")
        self.status = P.css(widgets.HTML(), "qlwork-status")
        self.input = P.css(widgets.Text(placeholder="Ask the assistant, e.g. Analyze my portfolio (Enter sends)",
                                       layout=widgets.Layout(flex="1 1 12em", width="auto", min_width="0")),
                           "qlwork-input")  # shrinks (and the buttons wrap) so Stop stays in a narrow panel
        self.send_button = P.css(widgets.Button(description="Send", button_style="primary", icon="paper-plane"),
                                "qlwork-send")
        self.cancel_button = P.css(widgets.Button(description="Stop", icon="stop", disabled=True,
                                                  tooltip="Stop the answer (and any code cell it is running)"),
                                  "qlwork-cancel")
        self.upload = P.css(widgets.FileUpload(accept=".csv,.json,.txt,.md,.pdf,.png,.jpg,.jpeg,.xlsx,.docx", multiple=False,
                                              description="Attach file"), "qlwork-upload")
        self.attachment_label = P.css(widgets.HTML(), "qlwork-attachment")
        self.remove_button = widgets.Button(description="Remove", layout=widgets.Layout(display="none"))
        wrap = widgets.Layout(flex_flow="row wrap", width="100%")
        self.children = [self.header, widgets.HBox([self.thread_picker, self.new_button], layout=wrap), self.scroller,
                         self.status, widgets.HBox([self.input, self.send_button, self.cancel_button], layout=wrap),
                         widgets.HBox([self.upload, self.attachment_label, self.remove_button], layout=wrap)]
        self.send_button.on_click(lambda _: self._submit())
        with warnings.catch_warnings():  # on_submit is the only Enter-only event in ipywidgets 8
            warnings.simplefilter("ignore")
            self.input.on_submit(lambda _: self._submit())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.new_button.on_click(lambda _: self.new_thread())
        self.remove_button.on_click(lambda _: self.clear_attachments())
        self.thread_picker.observe(self._picked, "value")
        self.upload.observe(self._uploaded, "value")

    # -- asking --------------------------------------------------------------------------------
    def _submit(self) -> None:
        self.send(self.input.value, wait=False)

    def send(self, text: str, wait: bool = True) -> Any:
        """Ask ``text`` on the current thread (with any attached files) and show the exchange.

        With ``wait=True`` returns the Answer (None when the run failed: the error is shown in the
        conversation). With ``wait=False`` the run goes on in a worker thread; :meth:`wait` joins it.
        """
        if self.busy:
            self._set_status("A question is still being answered: wait for it or press Cancel.")
            return None
        text = (text or "").strip()
        if not text:
            self._set_status("Type a question first.")
            return None
        self.busy = True
        try:
            files = self._take_attachments()
        except Exception as exc:  # noqa: BLE001 - shown in the conversation, the widget stays usable
            self._append(P.html(R.error_html(*R.describe_error(exc)), "qlwork-turn"))
            self.busy = False
            return None
        self.input.value = ""
        self._append(P.html(R.user_html(text, [f["name"] for f in files]), "qlwork-turn", "qlwork-user"))
        self._stream, self._tool_lines = "", []
        self._pending_html = widgets.HTML(R.pending_html())
        self._pending = P.css(widgets.VBox([self._pending_html]), "qlwork-turn", "qlwork-assistant")
        self._append(self._pending)
        self._watcher = RunWatcher(self.session.store, self.session.thread_id, self._on_progress).start()
        attachments = [message_attachment(f, as_portfolio=f["portfolio"]) for f in files] or None
        if wait:
            return self._exchange(text, attachments, self._pending)
        self._worker = threading.Thread(target=self._exchange, args=(text, attachments, self._pending),
                                        name="qlwork-chat", daemon=True)
        self._worker.start()
        return None

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for a background :meth:`send` to finish; returns the last Answer."""
        if self._worker is not None:
            self._worker.join(timeout)
        return self.last_answer

    def _exchange(self, text: str, attachments: list | None, box: widgets.VBox) -> Any:
        answer = None
        try:
            answer = self.session.ask(text, attachments=attachments)
            self.last_answer = answer
            self._last_run = answer.run
            calls = P.calls_of(answer.steps)
            if answer.response is not None:
                body = P.answer_card(answer.response, answer.text, calls)
            else:
                body = R.answer_html(None, answer.text) if answer.message else R.cancelled_html(answer.run)
            self._markdown = P.answer_markdown(answer.response, answer.text, calls) if answer.message else ""
            box.children = P.answer_parts(body, calls, answer.run, self.charts, self._markdown, text, self._ask)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a readable message
            if not isinstance(exc, QlworkError):
                P.log.info("assistant widget: unexpected error", exc_info=True)
            box.children = self._error_parts(exc)
        finally:
            if self._watcher is not None:
                self._watcher.stop()
            self._pending = None
            self.busy = False
            self.refresh()
        return answer

    def _error_parts(self, exc: BaseException) -> list:
        parts: list = [P.html(R.error_html(*R.describe_error(exc)), "qlwork-error-turn")]
        run_id = (getattr(exc, "details", None) or {}).get("run_id")
        if run_id:
            try:
                run = self.session.store.get_run(run_id)
                self._last_run = run
                parts.append(P.steps_accordion(P.calls_of(self.session.store.list_steps(run_id)), run))
            except Exception:  # noqa: BLE001 - the error card alone is enough
                P.log.info("could not load the steps of run %s", run_id, exc_info=True)
        return parts

    def _on_delta(self, fragment: str) -> None:
        """Streaming backends call this with text fragments: the completed text fields show."""
        if self._pending is None or not fragment:
            return
        self._stream += str(fragment)
        self._show_pending("Receiving the answer…")

    def _on_progress(self, lines: list[str]) -> None:
        """The run watcher's tool lines (which tool runs, for how long)."""
        self._tool_lines = list(lines)
        self._show_pending("Receiving the answer…" if self._stream else "Working…")

    def _show_pending(self, status: str) -> None:
        # only the pending card's own widget: once the answer replaces it, late updates land nowhere visible
        self._pending_html.value = R.pending_html(self._tool_lines, draft_lines(self._stream), status)

    def _ask(self, text: str) -> None:
        """A "Did you mean ...?" click: ask the corrected question (in the background, like Send)."""
        self.send(text, wait=False)

    def __repr__(self) -> str:  # what a saved notebook shows where the live widget cannot be drawn
        return (f"qlwork assistant chat: user {self.session.user_id}, thread {self.session.thread_id} "
                "(run the notebook in Jupyter to use it)")

    def _repr_mimebundle_(self, **kwargs):
        """The widget view plus a static HTML copy of the header and conversation (for saved notebooks)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/html"] = "".join(P.walk_html(self.header) + P.walk_html(self.scroller))
        return bundle

    def answer_markdown(self) -> str:
        """The latest answer as Markdown (what the Copy as Markdown button copies); empty before one."""
        return self._markdown

    def cancel(self) -> Any:
        """Stop the run in progress (the Stop button), interrupting a running code_interpreter cell too;
        returns the run or None."""
        if not self.busy:
            self._set_status("Nothing to cancel.")
            return None
        try:
            run = self.session.cancel()
        except QlworkError as exc:
            self._set_status(R.describe_error(exc)[1])
            return None
        self._set_status("Cancelling…" if run else "The run has not started yet; try again in a moment.")
        if run is not None:
            P.interrupt_code(self.session.thread_id)
        return run

    @traitlets.observe("busy")
    def _busy_changed(self, change: dict) -> None:
        busy = change["new"]
        self.send_button.disabled = self.new_button.disabled = self.thread_picker.disabled = busy
        self.cancel_button.disabled = not busy
        self._set_status("Working on your question…" if busy else "", busy=busy)

    def _set_status(self, text: str, busy: bool = False) -> None:
        cls = "qlwork-busy" if busy else "qlwork-status-text"
        spinner = R.SPINNER + " " if busy else ""
        self.status.value = f'<span class="{cls}">{spinner}{R.esc(text)}</span>' if text else ""

    # -- threads and history -------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw the header and the thread list from the session."""
        run = self._last_run
        backend, model = (run.backend, run.model) if run is not None else P.configured_backend(self.session)
        self._data_source = self._data_source or P.market_source(self.session)
        self.header.value = R.header_html(self.session.user_id, self.session.thread_id, backend, model,
                                          self._data_source,
                                          P.portfolio_label(self.session.portfolio)) + P.report_link(
                                              self.session.user_id, self.reports_dir) + DARK_CHART_CSS
        threads = self.session.threads(limit=50)
        if self.session.thread_id not in [t.id for t in threads]:
            threads.insert(0, self.session.thread)
        self._syncing = True
        try:
            self.thread_picker.options = P.thread_options(self.session.store, threads, self.session.thread_id)
            self.thread_picker.value = self.session.thread_id
        finally:
            self._syncing = False

    def _picked(self, change: dict) -> None:
        new = change.get("new")
        if self._syncing or not new or new == self.session.thread_id:
            return
        if self.busy:
            self.refresh()
            self._set_status("Wait for the current answer before switching threads.", busy=True)
            return
        self.switch_thread(new)

    def switch_thread(self, thread_id: str) -> None:
        """Show another of the user's threads (its history is restored from the store)."""
        try:
            thread = self.session.switch(thread_id)
        except QlworkError as exc:
            self._append(P.html(R.error_html(*R.describe_error(exc)), "qlwork-turn"))
            return
        portfolio = thread_portfolio(thread)
        if portfolio:
            self.session.portfolio = portfolio
        self._render_history()
        self.refresh()

    def new_thread(self) -> None:
        """Start a fresh thread and show it (the New thread button)."""
        self.session.new_thread()
        self._render_history()
        self.refresh()

    def _render_history(self) -> None:
        store = self.session.store
        self._last_run, self._markdown, question = None, "", None
        ended = [r for r in store.list_runs(self.session.thread_id, limit=100, order="asc") if r.status in _ENDED]
        turns: list = []
        seen_user = False
        for msg in self.session.history(limit=200):
            if msg.role == "user":
                if seen_user:
                    while ended and ended[0].created_at < msg.created_at:
                        turns.append(self._ended_turn(ended.pop(0)))
                seen_user = True
                names = [attachment_name(a.file_id) for a in msg.attachments]
                question = msg.text
                turns.append(P.html(R.user_html(msg.text, names), "qlwork-turn", "qlwork-user"))
                continue
            run = store.get_run(msg.run_id) if msg.run_id else None
            calls = P.calls_of(store.list_steps(msg.run_id)) if msg.run_id else []
            self._last_run = run or self._last_run
            self._markdown = P.answer_markdown(msg.data, msg.text, calls)
            turns.append(P.css(widgets.VBox(P.answer_parts(P.answer_card(msg.data, msg.text, calls), calls, run,
                                                           self.charts, self._markdown, question, self._ask)),
                              "qlwork-turn", "qlwork-assistant"))
        turns += [self._ended_turn(r) for r in ended]
        if not turns:
            turns = [P.html(R.notice_html("New conversation. Ask about your portfolio, a sector, a strategy or "
                                         "risk, e.g. \"Analyze my portfolio\"."), "qlwork-turn", "qlwork-placeholder")]
        self.conversation.children = turns

    def _ended_turn(self, run: Any) -> widgets.VBox:
        if run.status == "failed" and run.last_error:
            body = R.error_html("The assistant could not answer", run.last_error.message)
        else:
            body = R.cancelled_html(run)
        parts = [P.html(body), P.steps_accordion(P.calls_of(self.session.store.list_steps(run.id)), run)]
        return P.css(widgets.VBox(parts), "qlwork-turn", "qlwork-assistant")

    def _append(self, widget: widgets.Widget) -> None:
        turns = [t for t in self.conversation.children if "qlwork-placeholder" not in t._dom_classes]
        self.conversation.children = (*turns, widget)

    # -- attachments ---------------------------------------------------------------------------
    def attach(self, name: str, content: bytes) -> dict | None:
        """Attach a file to the next message (the upload button calls this)."""
        try:
            saved = save_upload(name, content, self.session.store, self.session.user_id)
        except QlworkError as exc:
            self._set_status(" ".join(x for x in R.describe_error(exc)[1:] if x))
            return None
        saved["portfolio"] = is_portfolio_file(saved["name"])
        self._pending_files.append(saved)
        self._show_attachments()
        return saved

    def clear_attachments(self) -> None:
        self._pending_files = []
        self._show_attachments()

    def _show_attachments(self) -> None:
        files = self._pending_files
        text = ", ".join(f"{f['name']} ({f['size']:,} bytes{', as portfolio' if f['portfolio'] else ''})"
                         for f in files)
        self.attachment_label.value = f"📎 Attached to your next message: {R.esc(text)}" if files else ""
        self.remove_button.layout.display = None if files else "none"

    def _uploaded(self, change: dict) -> None:
        items = change.get("new") or ()
        if not items:
            return
        for item in items:
            self.attach(item["name"], item["content"])
        self.upload.value = ()  # let the same file be chosen again

    def _take_attachments(self) -> list[dict]:
        files, self._pending_files = self._pending_files, []
        self._show_attachments()
        for f in files:
            if f["portfolio"]:
                try:
                    use_as_portfolio(self.session, f)
                except InputError as exc:
                    raise InputError(f"The attached file {f['name']} is not a usable portfolio: {exc.message}",
                                     fix=exc.fix or "Fix the CSV and attach it again.", code="bad_portfolio") from exc
        return files

    def transcript_html(self) -> str:
        """All HTML currently shown in the conversation (including collapsed steps), for tests."""
        return "\n".join(P.walk_html(self.conversation))
