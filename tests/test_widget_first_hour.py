"""Widget comforts of issue 33 (kernel side): a saved notebook shows a sentence and a static copy instead of
the widget tree's repr, the header names the rule engine before any answer, the conversation box does not
reserve empty space, and the thread picker has distinct entries and never reopens an empty thread."""

from __future__ import annotations

from qlwork.assistant.store import Store
from qlwork.widget import AssistantChat


def test_saved_notebook_shows_a_sentence_and_a_static_copy(tmp_path):
    chat = AssistantChat(user_id="analyst", portfolio="sample:diversified", store=Store(tmp_path / "q.db"))
    chat.send("Analyze my portfolio")
    text = repr(chat)
    assert text == (f"qlwork assistant chat: user analyst, thread {chat.session.thread_id} (run the notebook in "
                    "Jupyter to use it)")
    assert "children=" not in text and "HTML(" not in text
    bundle = chat._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # the live widget where a kernel runs
    assert bundle["text/plain"] == text[:110] + ("…" if len(text) > 110 else "")
    assert "qlwork assistant" in bundle["text/html"] and "Portfolio health" in bundle["text/html"]
    assert "You:" in bundle["text/html"] and "Analyze my portfolio" in bundle["text/html"]


def test_header_names_the_rule_engine_and_the_box_grows_with_the_conversation(tmp_path):
    chat = AssistantChat(user_id="analyst", store=Store(tmp_path / "q.db"), new_thread=True)
    assert "Model:</span> offline rule engine" in chat.header.value
    assert "known after the first answer" not in chat.header.value.split("Data:")[0]
    assert chat.scroller.layout.height is None and chat.scroller.layout.max_height == "520px"


def test_thread_picker_entries_are_distinct_and_empty_starts_are_not_latest(tmp_path):
    store = Store(tmp_path / "q.db")
    first = AssistantChat(user_id="asha", portfolio="sample:diversified", store=store, new_thread=True)
    first.send("Analyze my portfolio")
    second = AssistantChat(user_id="asha", portfolio="sample:diversified", store=store, new_thread=True)
    second.send("Analyze my portfolio")  # the same question within the same minute
    with store.transaction() as conn:  # the same minute, as two quick starts have
        conn.execute("UPDATE threads SET created_at = (SELECT created_at FROM threads WHERE id = ?) WHERE id = ?",
                     (first.session.thread_id, second.session.thread_id))
    failed_start = store.create_thread({"portfolio_id": "sample:diversified"}, user_id="asha")  # nothing asked
    reopened = AssistantChat(user_id="asha", store=store)  # after a kernel restart
    assert reopened.session.thread_id == second.session.thread_id
    options = reopened.thread_picker.options
    labels = [label for label, _ in options]
    ids = [tid for _, tid in options]
    assert failed_start.id not in ids
    assert set(ids) == {first.session.thread_id, second.session.thread_id}
    assert len(set(labels)) == len(labels) == 2
    assert all(label.startswith("Analyze my portfolio · ") for label in labels)
    assert {label[-6:] for label in labels} == {first.session.thread_id[-6:], second.session.thread_id[-6:]}
