"""The whole course cycle, for every assignment, with nbgrader's own verbs and a filesystem
exchange: generate, release, fetch, submit, collect, grade-class, generate_feedback,
release_feedback, fetch_feedback, export; then the formgrader's view of the result."""

from __future__ import annotations

import csv
import json
import re

import pytest
from nbgrader.apps.api import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

from autograder import cli
from autograder.assignments import ASSIGNMENT_IDS, get
from autograder.course.cycle import Cycle
from tests.course.conftest import make_course, quick_parts
from tests.course.students import submission, write_submission

pytestmark = pytest.mark.task("course")

STUDENTS = {"ada": "correct", "bob": "wrong", "cyd": "unanswered"}
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.DOTALL)


def hidden_test_lines(assignment_id: str) -> list[str]:
    """The lines of the source notebook's hidden tests (long enough to be distinctive)."""
    source = json.loads(get(assignment_id).source_path.read_text())
    lines = []
    for cell in source["cells"]:
        for block in HIDDEN.findall("".join(cell["source"])):
            lines += [line.strip() for line in block.splitlines() if len(line.strip()) > 12]
    return lines


def test_course_cycle_end_to_end(tmp_path):
    ids = list(ASSIGNMENT_IDS)
    course = make_course(tmp_path / "course", ids)
    cycle = Cycle(course, tmp_path / "exchange", in_process=True)
    homes = {student: tmp_path / "home" / student for student in STUDENTS}
    for index, assignment_id in enumerate(ids):
        notebook = get(assignment_id).notebook
        cycle.generate(assignment_id)
        cycle.release(assignment_id)
        for seed, (student, kind) in enumerate(STUDENTS.items()):
            cycle.fetch(student, homes[student], assignment_id)
            fetched = homes[student] / assignment_id / notebook
            work = submission(assignment_id, kind, seed=seed, release=fetched)
            write_submission(fetched.parent, notebook, work)
            cycle.submit(student, homes[student], assignment_id)
        cycle.collect(assignment_id)
        for student in STUDENTS:
            assert (course.submitted(student, assignment_id) / "timestamp.txt").is_file()

        workers = "2" if index == 0 else "0"  # one run through the process pool is enough
        parts = ",".join(quick_parts(assignment_id))
        code = cli.main(["grade-class", assignment_id, f"--course={course.root}",
                         f"--workers={workers}", f"--parts={parts}", "--quiet"])  # fmt: skip
        assert code == 0

        cycle.generate_feedback(assignment_id)
        cycle.release_feedback(assignment_id)
        hidden = hidden_test_lines(assignment_id)
        for student in STUDENTS:
            cycle.fetch_feedback(student, homes[student], assignment_id)
            feedback = homes[student] / assignment_id / "feedback"
            received = list(feedback.glob(f"*/{notebook.removesuffix('.ipynb')}.html"))
            assert received, f"{student} got no feedback for {assignment_id}"
            page = received[0].read_text()
            assert "Autograder:" in page and "HIDDEN TESTS" not in page
            autograded = (course.autograded(student, assignment_id) / notebook).read_text()
            own = (course.submitted(student, assignment_id) / notebook).read_text()
            leaked = [line for line in hidden if line in autograded and line not in own]
            assert not leaked, f"hidden tests in {student}'s feedback: {leaked}"

        api = NbGraderAPI(
            coursedir=CourseDirectory(
                root=str(course.root), course_id=course.course_id, db_url=course.db_url
            ),
            config=Config({"Exchange": {"root": str(tmp_path / "exchange")}}),
        )
        assert api.get_autograded_students(assignment_id) == set(STUDENTS)  # formgrader's view

    grades_csv = tmp_path / "grades.csv"
    cycle.export(grades_csv)
    exported = {
        (row["assignment"], row["student_id"]): float(row["score"])
        for row in csv.DictReader(grades_csv.open())
    }
    canvas_csv = tmp_path / "canvas.csv"
    assert cli.main(["export-grades", f"--course={course.root}", f"--canvas={canvas_csv}"]) == 0
    canvas = list(csv.reader(canvas_csv.open()))
    assert canvas[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[1][0] == "Points Possible"
    by_login = {row[3]: row for row in canvas[2:]}
    for column, assignment_id in enumerate(canvas[0][5:], start=5):
        for student, kind in STUDENTS.items():
            record = json.loads(course.result_path(student, assignment_id).read_text())
            ours = record["result"]["score"]
            assert exported[(assignment_id, student)] == ours, (assignment_id, student)
            assert float(by_login[student][column]) == ours
            if kind == "correct":
                assert ours == record["result"]["max_score"] > 0
            else:
                assert ours < record["result"]["max_score"]
