"""The dispatcher, with a stand-in for the worker pool: a worker that dies costs a retry,
not a result; three failures mark the submission failed; the pool is rebuilt."""

from __future__ import annotations

import concurrent.futures
import json
import time
from concurrent.futures.process import BrokenProcessPool

import pytest

from autograder.service import dispatch
from autograder.service.db import Store, migrate, now

pytestmark = [pytest.mark.task("service"), pytest.mark.xdist_group("service")]


class FlakyPool:
    """Fails the first ``failures[name]`` tasks of each filename as a dead worker would."""

    made = 0

    def __init__(self, failures: dict[str, int]):
        FlakyPool.made += 1
        self.slots, self.failures = 2, failures

    def start(self) -> None:
        pass

    def submit(self, task):
        future: concurrent.futures.Future = concurrent.futures.Future()
        if self.failures.get(task.filename, 0) > 0:
            self.failures[task.filename] -= 1
            future.set_exception(BrokenProcessPool("a worker died"))
        else:
            future.set_result({"status": "graded", "parts": [], "submission": task.filename})
        return future

    @staticmethod
    def result(future):
        return future.result()

    def close(self) -> None:
        pass


def test_a_dead_worker_costs_a_retry_and_three_failures_mark_it_failed(tmp_path, monkeypatch):
    failures = {"once.ipynb": 1, "always.ipynb": 99}
    monkeypatch.setattr(dispatch, "make_pool", lambda *args: FlakyPool(failures))
    FlakyPool.made = 0
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(store.engine)
    ids = {
        name: store.add(
            assignment="collab", filename=name, notebook=b"{}", sha256="0" * 64, size=2,
            client="ip:x", student=None, received_at=now(),
        ).id
        for name in ("fine.ipynb", "once.ipynb", "always.ipynb")
    }  # fmt: skip
    dispatcher = dispatch.Dispatcher(store, dispatch.DispatchSettings(retention=None))
    finished: list[str] = []
    dispatcher.listeners.append(finished.append)
    dispatcher.start()
    try:
        deadline = time.monotonic() + 30
        while len(finished) < 3 and time.monotonic() < deadline:
            dispatcher.wake()
            time.sleep(0.05)
    finally:
        dispatcher.stop()
        store.close()
    rows = {name: store.get(i) for name, i in ids.items()}
    assert rows["fine.ipynb"].state == "graded" and rows["fine.ipynb"].attempts == 1
    assert rows["once.ipynb"].state == "graded" and rows["once.ipynb"].attempts == 2
    assert json.loads(rows["once.ipynb"].result)["submission"] == "once.ipynb"
    assert rows["always.ipynb"].state == "failed" and rows["always.ipynb"].attempts == 3
    assert "a worker died" in rows["always.ipynb"].error
    assert sorted(finished) == sorted(ids.values())
    assert 2 <= FlakyPool.made <= 1 + 4  # rebuilt after a dead worker, at most once per death
