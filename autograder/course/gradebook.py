"""Scores into nbgrader's gradebook, through nbgrader's own API, as ``nbgrader autograde``
would have written them.

nbgrader's autograde creates the submission (``Gradebook.update_or_create_submission``
mirrors the assignment: a ``SubmittedNotebook`` per notebook, a ``Grade`` per grade cell and a
``Comment`` per solution cell), then sets ``Grade.auto_score`` for each grade cell and flags
the grades a person must look at (``needs_manual_grade``). We do the same with our parts'
points: a part's id is its grade cell's id. The database is SQLite by default; any
SQLAlchemy URL works (``--db``), as for nbgrader itself.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.utils import compute_checksum
from sqlalchemy.exc import SAWarning

from autograder.course.cycle import record_assignment
from autograder.course.layout import Course
from autograder.notebook import NotebookError, read_notebook
from autograder.result import GradeResult
from autograder.spec import Assignment

NO_RESPONSE = "No response."


def unchanged_solution_cells(path: Path) -> set[str]:
    """grade ids of the solution cells left as released (nbgrader says "No response.")."""
    try:
        nb = read_notebook(path)
    except NotebookError:
        return set()
    unchanged = set()
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
        if meta.get("solution") and meta.get("checksum"):
            try:
                if compute_checksum(cell) == meta["checksum"]:
                    unchanged.add(meta.get("grade_id"))
            except Exception:  # noqa: BLE001 - a malformed cell is simply a changed one
                continue
    return unchanged


def read_timestamp(submitted_dir: Path) -> str | None:
    """nbgrader's submission time (``timestamp.txt`` written by ``submit``), if any."""
    path = submitted_dir / "timestamp.txt"
    if path.is_file() and not path.is_symlink():
        text = path.read_text(errors="replace").strip()
        return text or None
    return None


class GradebookWriter:
    """Writes one assignment's results into the course's gradebook."""

    def __init__(self, course: Course, assignment: Assignment, record_if_missing: bool = True):
        self.course = course
        self.assignment = assignment
        self.notebook_id = Path(assignment.notebook).stem
        self.warnings: list[str] = []
        self.gradebook = Gradebook(course.db_url, course.course_id)
        if not self._knows_assignment():
            self.gradebook.close()
            if not record_if_missing:
                raise MissingEntry(f"the gradebook has no assignment {assignment.id!r}")
            record_assignment(course, assignment.id)
            self.gradebook = Gradebook(course.db_url, course.course_id)
        notebook = self.gradebook.find_notebook(self.notebook_id, assignment.id)
        cells = {cell.name for cell in notebook.grade_cells}
        unknown = [p.id for p in assignment.parts if p.id not in cells]
        if unknown:
            self.warnings.append(
                f"the gradebook's {assignment.id}/{self.notebook_id} has no grade cell for "
                f"parts {unknown}: their points are not recorded (regenerate the assignment)"
            )

    def _knows_assignment(self) -> bool:
        try:
            self.gradebook.find_notebook(self.notebook_id, self.assignment.id)
        except MissingEntry:
            return False
        return True

    def write(
        self,
        student: str,
        result: GradeResult,
        timestamp: str | None = None,
        unchanged: set[str] | None = None,
    ) -> None:
        """Record ``result`` for ``student`` (idempotent: a rerun updates the same rows)."""
        gb = self.gradebook
        gb.update_or_create_student(student)
        extra = {"timestamp": timestamp} if timestamp else {}
        with warnings.catch_warnings():  # nbgrader's own add_submission trips SQLAlchemy's
            warnings.simplefilter("ignore", SAWarning)  # autoflush warnings; they are benign
            gb.update_or_create_submission(self.assignment.id, student, **extra)
        notebook = gb.find_submission_notebook(self.notebook_id, self.assignment.id, student)
        points = {p.id: p.points for p in result.parts}
        ours = {p.id for p in self.assignment.parts}
        graded = result.status == "graded"
        for grade in notebook.grades:
            if not graded and grade.name in ours:
                grade.auto_score = 0.0
            elif graded and grade.name in points:
                grade.auto_score = float(points[grade.name])
            elif grade.name in ours:
                continue  # a part this run left out (--parts): keep what was recorded
            grade.needs_manual_grade = (
                not graded or grade.manual_score is not None or grade.auto_score is None
            )
        for comment in notebook.comments:
            comment.auto_comment = NO_RESPONSE if comment.name in (unchanged or set()) else None
        notebook.flagged = not graded  # the formgrader lists it for a person to look at
        gb.db.commit()

    def close(self) -> None:
        self.gradebook.close()

    def __enter__(self) -> GradebookWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
