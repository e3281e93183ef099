"""Course fixtures: a temporary course directory (never the repository) with generated students."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder.assignments import get
from autograder.course.cycle import record_assignment
from autograder.course.layout import Course
from autograder.course.worker import close_all
from tests.course.students import submission, write_submission

ROOT = Path(__file__).resolve().parents[2]
TIMESTAMP = "2026-11-20 10:00:00.000000 UTC"


def quick_parts(assignment_id: str) -> tuple[str, ...]:
    """The parts graded in seconds: training parts (minutes of CPU, and a time limit to
    match) are graded in tests/test_<assignment>.py; here the course machinery matters."""
    return tuple(p.id for p in get(assignment_id).parts if p.limits.cpu <= 30)


def make_course(root: Path, assignment_ids: list[str]) -> Course:
    """A course directory at ``root``: the course's nbgrader config, sources and releases."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    for assignment_id in assignment_ids:
        for folder in ("solutions", "exercises"):  # exercises/ may be ungenerated yet
            if (ROOT / folder / assignment_id).is_dir():
                shutil.copytree(ROOT / folder / assignment_id, root / folder / assignment_id)
    return Course.open(root)


def add_student(
    course: Course, student: str, assignment_id: str, kind: str, seed: int = 0, hang=None
) -> Path:
    """Put a generated submission where ``nbgrader collect`` would have."""
    folder = course.submitted(student, assignment_id)
    content = submission(assignment_id, kind, seed=seed, hang=hang)
    path = write_submission(folder, get(assignment_id).notebook, content)
    (folder / "timestamp.txt").write_text(TIMESTAMP)
    return path


@pytest.fixture(scope="session", autouse=True)
def _stop_warm_graders():
    """The tests' in-process pools keep their graders warm; stop them at the end."""
    yield
    close_all()


@pytest.fixture(scope="session")
def course_template(tmp_path_factory) -> Path:
    """A collab course whose gradebook knows the assignment (made once: nbgrader takes
    seconds to generate it)."""
    course = make_course(tmp_path_factory.mktemp("template") / "course", ["collab"])
    record_assignment(course, "collab", in_process=True)
    return course.root


@pytest.fixture
def course(course_template, tmp_path) -> Course:
    """A fresh copy of the collab course, with no students yet."""
    shutil.copytree(course_template, tmp_path / "course")
    return Course.open(tmp_path / "course")
