"""Stream events keep the Assistants order when the run moves on between two reads of the store.

The watcher reads the run, then its steps. A run that starts (and, with one-write completion, may even
finish) between those two reads used to have its step announced before ``thread.run.in_progress``;
the SDK's stream helper then saw a step of a run that had not started (seen in CI under load)."""

from __future__ import annotations

import re
from types import SimpleNamespace

from qlwork.assistant.defaults import ensure_default_assistant
from qlwork.assistant.runner import Runner
from qlwork.assistant.store import Store
from qlwork.server.streaming import run_events


class LaggingStore:
    """A real store whose first ``reads`` run reads answer the run as it was when it was queued: the
    watcher looks just before the worker starts it, then reads steps the worker wrote meanwhile."""

    def __init__(self, store: Store, queued_run, reads: int) -> None:
        self._store, self._queued, self._reads = store, queued_run, reads

    def get_run(self, run_id):
        if self._reads > 0:
            self._reads -= 1
            return self._queued
        return self._store.get_run(run_id)

    def __getattr__(self, name):
        return getattr(self._store, name)


class IdleEngine:
    """The engine as the watcher sees it once the worker is done: no live text, nothing running."""

    def text_deltas(self, run_id, start=0):
        return None, []

    def running(self, run_id):
        return False

    def wait(self, run_id, timeout):
        pass


def test_steps_are_never_announced_before_the_run_starts(tmp_path):
    store = Store(tmp_path / "qlwork.db")
    try:
        assistant = ensure_default_assistant(store)
        thread = store.create_thread({"portfolio_id": "sample:diversified"}, user_id="u")
        store.add_message(thread.id, "user", "Signals for TCS")
        runner = Runner(store)
        run = runner.create_run(thread.id, assistant.id)
        queued = store.get_run(run.id)
        assert queued.status == "queued"
        assert runner.execute(run.id).status == "completed"
        assert len(store.list_steps(run.id, limit=100)) >= 2  # a tool step and the answer's step

        for reads in (1, 2):  # stale at the first read only, and at the two first (run.created + loop)
            st = SimpleNamespace(store=LaggingStore(store, queued, reads), engine=IdleEngine())
            events = [re.match(r"event: (\S+)", chunk).group(1) for chunk in run_events(st, run.id, interval=0)]
            assert events[0] == "thread.run.created" and events[-1] == "done", events
            start = events.index("thread.run.in_progress")
            first_step = events.index("thread.run.step.created")
            assert start < first_step < events.index("thread.message.created") < events.index("thread.run.completed")
            assert events.count("thread.run.in_progress") == 1, events
    finally:
        store.close()
