"""The service's database: migrations make exactly the models' schema; each state change
happens once; retention forgets old notebooks, not results."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from autograder.service.db import Base, Store, migrate, now

pytestmark = [pytest.mark.task("service"), pytest.mark.xdist_group("service")]


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(store.engine)
    yield store
    store.close()


def add(store: Store, n: int = 1) -> list[str]:
    fields = dict(assignment="collab", filename="collab.ipynb", notebook=b"{}", sha256="0" * 64)
    return [
        store.add(**fields, size=2, client="ip:x", student=None, received_at=now()).id
        for _ in range(n)
    ]


def test_migrations_make_the_models_schema(store):
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    migrate(store.engine)  # a second upgrade is a no-op


def test_each_submission_is_claimed_once_in_order(store):
    ids = add(store, 20)
    claimed: list[str] = []

    def claim():
        while (row := store.claim_next()) is not None:
            claimed.append(row.id)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids) and len(claimed) == len(set(claimed))
    assert store.finish(ids[0], "graded", "{}") is True
    assert store.finish(ids[0], "graded", "{}") is False  # recorded once


def test_interrupted_submissions_go_back_to_the_queue_and_failures_stop(store):
    first, second = add(store, 2)
    store.claim_next()
    assert store.requeue_interrupted() == 1
    assert store.get(first).state == "queued" and store.position(store.get(second)) == 1
    for _ in range(2):  # attempts 2 and 3 (the first was interrupted)
        assert store.claim_next().id == first
        state = store.fail(first, "worker died")
    assert state == "failed" and store.get(first).attempts == 3


def test_retention_forgets_notebooks_but_keeps_results(store):
    old, fresh, waiting = add(store, 3)
    for submission_id in (old, fresh):
        store.claim_next()
        store.finish(submission_id, "graded", '{"score": 1}')
    assert store.purge_notebooks(timedelta(days=1)) == 0
    with store.session() as session:
        session.get(type(store.get(old)), store.get(old).seq).finished_at = now() - timedelta(2)
    assert store.purge_notebooks(timedelta(days=1)) == 1
    assert store.get(old).notebook is None and store.get(old).result == '{"score": 1}'
    assert store.get(fresh).notebook == b"{}" and store.get(waiting).notebook == b"{}"
