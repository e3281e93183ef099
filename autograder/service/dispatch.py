"""The dispatcher: a thread that feeds the queue in the database to the warm worker pool.

It claims the oldest queued submission whenever a worker slot is free, sends it to the
course batch's pool (:func:`autograder.course.cluster.make_pool`: local warm processes, or a
Dask cluster) as a :class:`~autograder.course.worker.GradeTask`, and records the
:class:`~autograder.result.GradeResult` the worker returns, the same dict ``grade`` writes
as JSON. A submission made with a course token is also written into the course's nbgrader
gradebook (:class:`~autograder.course.gradebook.GradebookWriter`), as ``grade-class`` does.

If the machinery fails (a worker process died), the pool is rebuilt and the submission
goes back to the queue; after three failures it is marked ``failed``.
"""

from __future__ import annotations

import json
import logging
import queue
import statistics
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import timedelta

from autograder import assignments
from autograder.course.cluster import make_pool
from autograder.course.worker import GraderSettings, GradeTask
from autograder.result import GradeResult
from autograder.service.db import Store, Submission

log = logging.getLogger("autograder.service")
PREFETCH = 2  # submissions sent ahead per worker slot
DEFAULT_SECONDS = 5.0  # expected grading time before any submission was graded


def quick_parts(assignment_id: str) -> tuple[str, ...]:
    """The parts graded in seconds: all but the training parts (more than 30 CPU s)."""
    return tuple(p.id for p in assignments.get(assignment_id).parts if p.limits.cpu <= 30)


@dataclass
class DispatchSettings:
    device: str = "auto"
    workers: int = 2
    scheduler: str = "local"  # or "local-cluster" or a Dask scheduler's address
    warm: str = "collab"  # what the workers warm up for: "<assignment>" or "<assignment>:quick"
    retention: timedelta | None = timedelta(days=30)  # notebooks kept this long after grading
    course: str | None = None  # an nbgrader course folder: token submissions go to its gradebook
    course_db: str | None = None


@dataclass
class Dispatcher:
    store: Store
    settings: DispatchSettings
    inflight: dict = field(default_factory=dict)  # future -> submission id

    def __post_init__(self):
        self.events: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        self.pool = None
        self.thread = threading.Thread(target=self._run, name="dispatcher", daemon=True)
        self.last_purge = 0.0
        self.writers: dict = {}
        self._expected = (-10.0, DEFAULT_SECONDS)
        self.listeners: list = []  # called with a submission's id when it is finished
        self.gradebook_queue: queue.Queue = queue.Queue()

    # --------------------------------------------------------------- lifecycle
    def grader_settings(self, assignment: str, parts: str) -> GraderSettings:
        """The workers' warm grader for ``parts`` ("all" or "quick") of ``assignment``."""
        only = quick_parts(assignment) if parts == "quick" else None
        return GraderSettings(assignment, self.settings.device, "bwrap", None, only)

    def _make_pool(self):
        assignment, _, parts = self.settings.warm.partition(":")
        warm = self.grader_settings(assignment, parts or "all")
        pool = make_pool(warm, self.settings.scheduler, self.settings.workers)
        pool.start()
        return pool

    def start(self) -> None:
        """Start the workers (they warm up) and the dispatching thread; requeue what a
        previous run left running."""
        requeued = self.store.requeue_interrupted()
        if requeued:
            log.warning("requeued %d submissions left running by the last run", requeued)
        self.pool = self._make_pool()
        self.thread.start()
        if self.settings.course is not None:
            threading.Thread(target=self._gradebook_loop, name="gradebook", daemon=True).start()

    @property
    def slots(self) -> int:
        return self.pool.slots if self.pool is not None else max(1, self.settings.workers)

    def wake(self) -> None:
        """A new submission is in the queue."""
        self.events.put(None)

    def stop(self) -> None:
        self.stopping.set()
        self.events.put(None)
        if self.thread.is_alive():
            self.thread.join(timeout=30)
        if self.pool is not None:
            self.pool.close()
        for writer in self.writers.values():
            writer.close()

    # --------------------------------------------------------------- estimates
    def expected_seconds(self) -> float:
        """Median grading time of the recent submissions (recomputed at most every second)."""
        moment, value = self._expected
        if time.monotonic() - moment > 1.0:
            recent = self.store.recent_seconds()
            value = statistics.median(recent) if recent else DEFAULT_SECONDS
            self._expected = (time.monotonic(), value)
        return value

    def expected_wait(self, ahead: int) -> float:
        """Seconds until a submission with ``ahead`` queued before it is graded."""
        rounds = ahead // self.slots + 1
        return round(rounds * self.expected_seconds(), 1)

    # --------------------------------------------------------------- the loop
    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._fill()
                try:
                    item = self.events.get(timeout=5.0)
                except queue.Empty:
                    item = None
                while item is not None:
                    self._record(*item)
                    item = self.events.get_nowait() if not self.events.empty() else None
                self._purge()
            except Exception:  # noqa: BLE001 - the loop must go on; the row stays queued
                log.exception("dispatcher error")
                time.sleep(1.0)

    def _fill(self) -> None:
        """Keep every worker busy: up to PREFETCH submissions per worker slot are sent ahead
        (so a worker takes its next one without waiting for this thread), the rest wait in
        the database. A sent submission is ``running`` from the moment it is sent."""
        while len(self.inflight) < self.slots * PREFETCH and not self.stopping.is_set():
            row = self.store.claim_next()
            if row is None:
                return
            self._send(row)

    def _send(self, row: Submission) -> None:
        settings = self.grader_settings(row.assignment, row.parts)
        task = GradeTask(
            settings, row.student or "reader", row.filename, row.notebook, row.filename
        )
        try:
            future = self.pool.submit(task)
        except (BrokenProcessPool, RuntimeError) as err:
            self._machinery_failed(row.id, err)
            return
        self.inflight[future] = row.id
        future.add_done_callback(lambda f, i=row.id: self.events.put((f, i)))

    def _record(self, future, submission_id: str) -> None:
        if self.inflight.pop(future, None) is None:
            return  # already dealt with: its pool was replaced and the submission requeued
        try:
            data = self.pool.result(future)
        except Exception as err:  # noqa: BLE001 - a dead worker, a lost Dask task
            self._machinery_failed(submission_id, err)
            return
        state = "graded" if data.get("status") == "graded" else "ungradable"
        if self.store.finish(submission_id, state, json.dumps(data)):
            self._announce(submission_id)
            if self.settings.course is not None:  # its own thread: nbgrader can take seconds
                self.gradebook_queue.put((submission_id, data))

    def _announce(self, submission_id: str) -> None:
        for listener in self.listeners:
            listener(submission_id)

    def _machinery_failed(self, submission_id: str, err: Exception) -> None:
        state = self.store.fail(submission_id, f"{type(err).__name__}: {err}")
        if state == "failed":
            self._announce(submission_id)
        log.error("grading %s failed (%s): now %s", submission_id, err, state)
        if isinstance(err, BrokenProcessPool):  # a worker died: every future of it is lost
            old, self.pool = self.pool, self._make_pool()
            for other in list(self.inflight):
                self.store.fail(self.inflight.pop(other), "the worker pool was restarted")
            old.close()

    def _purge(self) -> None:
        if self.settings.retention is None or time.monotonic() - self.last_purge < 60:
            return
        self.last_purge = time.monotonic()
        purged = self.store.purge_notebooks(self.settings.retention)
        if purged:
            log.info("retention: deleted %d notebooks", purged)

    def _gradebook_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                item = self.gradebook_queue.get(timeout=1.0)
            except queue.Empty:
                continue
            self._to_gradebook(*item)

    def _to_gradebook(self, submission_id: str, data: dict) -> None:
        """Token submissions go into the course's gradebook (as grade-class writes them)."""
        if self.settings.course is None:
            return
        row = self.store.get(submission_id)
        if row is None or row.student is None:
            return
        from autograder.course.gradebook import GradebookWriter
        from autograder.course.layout import Course

        try:
            if row.assignment not in self.writers:
                course = Course.open(self.settings.course, db_url=self.settings.course_db)
                self.writers[row.assignment] = GradebookWriter(
                    course, assignments.get(row.assignment)
                )
            stamp = row.queued_at.strftime("%Y-%m-%d %H:%M:%S.%f UTC")
            self.writers[row.assignment].write(
                row.student, GradeResult.from_dict(data), timestamp=stamp
            )
        except Exception:  # noqa: BLE001 - the result is recorded; the gradebook is extra
            log.exception("could not write %s into the gradebook", submission_id)
