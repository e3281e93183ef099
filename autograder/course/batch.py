"""Grade a whole class: every collected submission of an assignment, in parallel, resumably.

``submitted/<student>/<assignment>/<notebook>`` is graded by warm workers (a local process
pool, or Dask: :mod:`autograder.course.cluster`). Each result is written atomically to
``autograded-results/<assignment>/<student>.json`` together with the SHA-256 of the notebook
it graded, so a batch killed at any point (even ``kill -9``) resumes where it stopped: a
submission whose result matches its current bytes is not graded again, and a changed
submission is. Then the result goes into nbgrader's gradebook and the autograded notebook
is written (in that order: an autograded notebook newer than its result means both are
done). A submission that cannot be graded is reported with its reason; the batch goes on.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from autograder import assignments
from autograder.course.layout import Course
from autograder.course.progress import Progress
from autograder.course.results import ResultStore
from autograder.course.worker import GraderSettings, GradeTask
from autograder.notebook import MAX_NOTEBOOK_BYTES
from autograder.result import GradeResult


@dataclass
class Submission:
    """One student's collected submission (its bytes are read when it is sent to grade)."""

    student: str
    path: Path
    sha256: str
    problem: str | None = None  # why it can't even be sent to a worker

    def read(self) -> bytes:
        """The bytes to grade; ``sha256`` is updated to match them (the file may have
        changed since it was planned)."""
        data = self.path.read_bytes()
        self.sha256 = hashlib.sha256(data).hexdigest()
        return data


@dataclass
class BatchReport:
    """What a batch did: counts, and the submissions it could not grade, with reasons."""

    assignment: str
    graded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    ungradable: dict[str, str] = field(default_factory=dict)  # student -> reason
    failed: dict[str, str] = field(default_factory=dict)  # machinery failures: not recorded
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.ungradable and not self.failed

    def summary(self) -> str:
        total = len(self.graded) + len(self.unchanged) + len(self.failed)
        lines = [
            f"{self.assignment}: {total} submissions; {len(self.graded)} graded now, "
            f"{len(self.unchanged)} unchanged since they were graded, "
            f"{len(self.ungradable)} could not be graded, {len(self.failed)} failed "
            f"({self.seconds:.1f} s)"
        ]
        lines += [f"  {w}" for w in self.warnings if w.startswith("WARNING")]  # weak isolation
        lines += [f"  could not grade {s}: {why}" for s, why in sorted(self.ungradable.items())]
        lines += [f"  FAILED {s} (rerun to retry): {why}" for s, why in sorted(self.failed.items())]
        lines += [f"  warning: {w}" for w in self.warnings if not w.startswith("WARNING")]
        return "\n".join(lines)


def load_submission(course: Course, student: str, assignment_id: str, notebook: str):
    """Find a submission and hash it (a missing or huge file is a ``problem``)."""
    folder = course.submitted(student, assignment_id)
    path = folder / notebook
    if path.is_symlink() or not path.is_file():
        others = sorted(p.name for p in folder.glob("*.ipynb"))
        hint = f" (found: {', '.join(others)}; the notebook must keep its name)" if others else ""
        return Submission(student, path, "", f"no {notebook} was submitted{hint}")
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        size = path.stat().st_size
        problem = f"{notebook} is {size} bytes, more than the {MAX_NOTEBOOK_BYTES} allowed"
        return Submission(student, path, "", problem)
    with open(path, "rb") as fh:
        return Submission(student, path, hashlib.file_digest(fh, "sha256").hexdigest())


class ClassGrader:
    """Grades one assignment for a class; ``run`` does the whole batch."""

    def __init__(
        self,
        course: Course,
        settings: GraderSettings,
        gradebook: bool = True,
        stream: TextIO | None = None,
    ):
        self.course = course
        self.settings = settings
        self.assignment = assignments.get(settings.assignment)
        self.use_gradebook = gradebook
        self.stream = stream
        self.writer = None  # a GradebookWriter while a batch runs
        self.store = ResultStore(course, self.assignment.id)

    # ----------------------------------------------------------- one result
    def finish(self, submission: Submission, result: GradeResult, report: BatchReport) -> None:
        """Gradebook first, then the autograded notebook (whose presence means: done)."""
        from autograder.course.feedback import write_autograded  # nbformat: slow to import

        if self.writer is not None:
            from autograder.course.gradebook import read_timestamp, unchanged_solution_cells

            folder = self.course.submitted(submission.student, self.assignment.id)
            self.writer.write(
                submission.student,
                result,
                timestamp=read_timestamp(folder),
                unchanged=unchanged_solution_cells(submission.path),
            )
        release = self.course.release(self.assignment.id) / self.assignment.notebook
        write_autograded(
            self.course.submitted(submission.student, self.assignment.id),
            self.course.autograded(submission.student, self.assignment.id),
            self.assignment.notebook,
            release if release.is_file() else self.assignment.release_path,
            result,
        )
        if result.status != "graded":
            report.ungradable[submission.student] = str(result.error)

    def _synced(self, student: str) -> bool:
        notebook = self.course.autograded(student, self.assignment.id) / self.assignment.notebook
        record = self.store.path(student)
        return notebook.is_file() and notebook.stat().st_mtime >= record.stat().st_mtime

    # ----------------------------------------------------------------- batch
    def plan(self, students: Iterable[str], force: bool, report: BatchReport):
        """Split the class into submissions to grade and results to reuse."""
        todo, reuse = [], []
        for student in students:
            submission = load_submission(
                self.course, student, self.assignment.id, self.assignment.notebook
            )
            stored = self.store.result(student, submission.sha256)
            if (
                not force
                and stored is not None
                and submission.problem is None
                and (stored.status != "graded" or self._wanted() <= {p.id for p in stored.parts})
            ):
                reuse.append((submission, stored))
            else:
                todo.append(submission)
        return todo, reuse

    def _wanted(self) -> set[str]:
        """The parts this run grades (``--parts``, or all)."""
        if self.settings.parts is not None:
            return set(self.settings.parts)
        return {p.id for p in self.assignment.parts}

    def _merged(self, submission: Submission, result: GradeResult) -> GradeResult:
        """With ``--parts``, keep the other parts' stored results for the same notebook."""
        if self.settings.parts is None or result.status != "graded":
            return result
        previous = self.store.result(submission.student, submission.sha256)
        if previous is None or previous.status != "graded":
            return result
        fresh = {p.id for p in result.parts}
        order = {p.id: i for i, p in enumerate(self.assignment.parts)}
        parts = [p for p in previous.parts if p.id not in fresh] + result.parts
        result.parts = sorted(parts, key=lambda p: order.get(p.id, len(order)))
        return result

    def run(
        self,
        pool,
        students: list[str] | None = None,
        force: bool = False,
        resync: bool = False,
    ) -> BatchReport:
        """Grade ``students`` (default: everyone who submitted) with ``pool`` (see
        :class:`autograder.course.cluster.LocalPool`)."""
        started = time.monotonic()
        report = BatchReport(self.assignment.id)
        everyone = self.course.students(self.assignment.id)
        for name in self.course.students(self.assignment.id, safe=False):
            report.failed[name] = "not a valid student id (letters, digits and ._@- only)"
        if students:
            missing = [s for s in students if s not in everyone]
            for student in missing:
                report.failed[student] = "no collected submission (run nbgrader collect)"
            students = [s for s in students if s in everyone]
        else:
            students = everyone
        if self.settings.isolation == "rlimits":
            from autograder.sandbox.isolation import WEAK_WARNING

            report.warnings.append(WEAK_WARNING)
        todo, reuse = self.plan(students, force, report)
        if todo:
            pool.start()  # workers warm up while nbgrader's gradebook is opened here
        if self.use_gradebook:
            from autograder.course.gradebook import GradebookWriter  # imports nbgrader: slow

            self.writer = GradebookWriter(self.course, self.assignment)
            report.warnings.extend(self.writer.warnings)
        progress = Progress(len(todo) + len(reuse), f"grade {self.assignment.id}", self.stream)
        try:
            for submission, result in reuse:
                if resync or not self._synced(submission.student):
                    self.finish(submission, result, report)
                elif result.status != "graded":
                    report.ungradable[submission.student] = str(result.error)
                report.unchanged.append(submission.student)
                progress.skip()
            self._grade_all(pool, todo, report, progress)
        finally:
            progress.close()
            if self.writer is not None:
                self.writer.close()
                self.writer = None
        report.seconds = time.monotonic() - started
        return report

    def _record(self, submission: Submission, result: GradeResult, report: BatchReport) -> None:
        result = self._merged(submission, result)
        self.store.write(submission.student, submission.path.name, submission.sha256, result)
        self.finish(submission, result, report)
        report.graded.append(submission.student)

    def _grade_all(self, pool, todo, report, progress) -> None:
        queue = []
        for submission in todo:
            if submission.problem is not None:  # nothing to send: record the reason now
                result = GradeResult(
                    self.assignment.id, str(submission.path), "ungradable", error=submission.problem
                )
                self._record(submission, result, report)
                progress.advance(failed=True)
            else:
                queue.append(submission)
        window = max(1, 2 * pool.slots)
        in_flight: dict = {}
        queue.reverse()
        while queue or in_flight:
            while queue and len(in_flight) < window:
                submission = queue.pop()
                try:
                    data = submission.read()
                except OSError as err:  # removed or unreadable since it was planned
                    report.failed[submission.student] = f"could not read it: {err}"
                    progress.advance(failed=True)
                    continue
                label = str(submission.path.relative_to(self.course.root))
                task = GradeTask(
                    self.settings, submission.student, submission.path.name, data, label
                )
                in_flight[pool.submit(task)] = submission
            for future in pool.wait_first(list(in_flight)):
                submission = in_flight.pop(future)
                try:
                    result = GradeResult.from_dict(pool.result(future))
                except Exception as err:  # noqa: BLE001 - a worker died or the sandbox failed
                    report.failed[submission.student] = f"{type(err).__name__}: {err}"[:500]
                    progress.advance(failed=True)
                    continue
                self._record(submission, result, report)
                progress.advance(failed=result.status != "graded")
