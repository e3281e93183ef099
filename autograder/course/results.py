"""A course's grading results: one record per student and assignment, read and written here.

``autograded-results/<assignment>/<student>.json`` (see :class:`~autograder.course.layout.Course`)
holds a :class:`~autograder.result.GradeResult` together with the notebook it graded and that
notebook's SHA-256, so that a batch resumes where it stopped and regrades only what changed.
``grade-class`` writes the records; ``grade-class`` (to resume or merge ``--parts``),
``class-report`` and the benchmarks read them, all through :class:`ResultStore`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from autograder.course.layout import Course
from autograder.drivers.files import write_json
from autograder.result import GradeResult

RECORD_FORMAT = 1


class ResultStore:
    """The stored results of one assignment in one course."""

    def __init__(self, course: Course, assignment_id: str):
        self.course = course
        self.assignment_id = assignment_id

    @property
    def folder(self) -> Path:
        return self.course.results(self.assignment_id)

    def path(self, student: str) -> Path:
        return self.course.result_path(student, self.assignment_id)

    def read(self, student: str) -> dict | None:
        """``student``'s record (``student``, ``notebook``, ``sha256``, ``graded_at``,
        ``result``: a GradeResult's dict), or None if there is none or it can't be read (then:
        regrade)."""
        return _read(self.path(student))

    def result(self, student: str, sha256: str | None = None) -> GradeResult | None:
        """``student``'s stored result (only if it graded the notebook ``sha256``, if given)."""
        record = self.read(student)
        if record is None or (sha256 is not None and record.get("sha256") != sha256):
            return None
        return GradeResult.from_dict(record["result"])

    def write(self, student: str, notebook: str, sha256: str, result: GradeResult) -> Path:
        """Record ``result`` for ``student``'s ``notebook`` (of hash ``sha256``), atomically
        and durably: a batch killed at any point finds the old record or the new one."""
        record = {
            "format": RECORD_FORMAT,
            "assignment": self.assignment_id,
            "student": student,
            "notebook": notebook,
            "sha256": sha256,
            "graded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "result": result.to_dict(),
        }
        path = self.path(student)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, record, indent=1, durable=True)
        return path

    def all(self) -> dict[str, GradeResult]:
        """Every stored result, by student."""
        found = {}
        for path in sorted(self.folder.glob("*.json")):
            record = _read(path)
            if record is not None:
                found[record["student"]] = GradeResult.from_dict(record["result"])
        return found


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        return None
    return record
