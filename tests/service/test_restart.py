"""Durability: a service killed with ``kill -9`` while submissions are queued and running
grades every one of them after a restart; none is lost, none is graded twice."""

from __future__ import annotations

import sqlite3
import time

import pytest

from tests.service.conftest import Service, notebook_bytes, require_bwrap
from tests.submissions import release_notebook, source_notebook

pytestmark = [
    pytest.mark.task("service"),
    pytest.mark.slow,
    pytest.mark.xdist_group("service-restart"),
]


def rows(service: Service) -> dict[str, dict]:
    with sqlite3.connect(service.db.removeprefix("sqlite:///")) as db:
        db.row_factory = sqlite3.Row
        return {r["id"]: dict(r) for r in db.execute("SELECT * FROM submissions")}


def test_kill_9_with_a_queue_loses_nothing_and_grades_nothing_twice(tmp_path):
    require_bwrap()
    options = ("--workers", "1", "--warm", "collab:quick", "--rate", "100/minute")
    first = Service(tmp_path, *options).start()
    try:
        notebooks = [source_notebook("collab"), release_notebook("collab")] * 2
        sent = [first.submit("collab", notebook_bytes(nb), "10.1.0.1") for nb in notebooks]
        assert all(s.status_code == 202 for s in sent), [s.text for s in sent]
        ids = [s.json()["id"] for s in sent]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # kill it with some graded, some not yet
            states = [r["state"] for r in rows(first).values()]
            if states.count("graded") >= 1:
                break
            time.sleep(0.05)
        first.kill9()
    finally:
        first.stop()
    before = rows(first)
    graded_before = {i: r for i, r in before.items() if r["state"] == "graded"}
    assert graded_before and len(graded_before) < len(ids), "kill it mid-queue"
    assert len(before) == len(ids)  # every acknowledged submission was on disk

    second = Service(tmp_path, *options, db=first.db).start()
    try:
        results = [second.wait(i) for i in ids]
    finally:
        second.stop()
    after = rows(second)
    assert [r["state"] for r in results] == ["graded"] * len(ids)
    assert [r["result"]["score"] for r in results] == [8, 0] * 2
    for i, row in graded_before.items():  # the ones graded before the kill: untouched
        assert after[i]["finished_at"] == row["finished_at"]
        assert after[i]["attempts"] == row["attempts"] == 1
    for i in set(ids) - set(graded_before):
        assert after[i]["attempts"] in (1, 2)  # 2: it was running when killed
