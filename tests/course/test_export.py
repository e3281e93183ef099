"""Grade export: Canvas's gradebook CSV layout, from nbgrader's gradebook."""

from __future__ import annotations

import csv

import pytest

from autograder import cli
from autograder.assignments import get
from autograder.course.export import read_roster, write_canvas_csv
from autograder.course.gradebook import GradebookWriter
from autograder.result import GradeResult, PartResult

pytestmark = pytest.mark.task("course")

ASSIGNMENT = get("collab")


def record(course, student: str, points: float) -> None:
    parts = [PartResult(p.id, p.title, 0.0, 1.0, False) for p in ASSIGNMENT.parts]
    parts[0].points, parts[0].passed = points, True
    with GradebookWriter(course, ASSIGNMENT) as writer:
        writer.write(student, GradeResult("collab", "x", "graded", parts))


def rows(path):
    return list(csv.reader(path.open(newline="")))


def test_canvas_csv_without_roster(course, tmp_path):
    record(course, "ada", 1.0)
    out = tmp_path / "canvas.csv"
    assert write_canvas_csv(course, out) == []
    header, points, ada = rows(out)
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "collab"]
    assert points[0] == "Points Possible" and float(points[5]) == 10.0
    assert ada[3] == "ada" and ada[5] == "1"


def test_canvas_csv_with_a_canvas_roster_and_assignment_ids(course, tmp_path):
    record(course, "ada", 1.0)
    record(course, "eve", 0.0)
    roster = tmp_path / "export.csv"
    roster.write_text(
        "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Old (77)\n"
        "    Points Possible,,,,,10\n"
        '"Lovelace, Ada",1001,S-1,ada,Sec A,5\n'
        '"Turing, Alan",1002,S-2,alan,Sec B,6\n'
    )
    assert set(read_roster(roster)) == {"ada", "alan"}
    out = tmp_path / "canvas.csv"
    warnings = write_canvas_csv(course, out, roster, canvas_ids={"collab": "555"}, missing="zero")
    assert warnings == ["eve is in the gradebook but not in the roster"]
    table = {row[3]: row for row in rows(out)[2:]}
    assert rows(out)[0][-1] == "collab (555)"
    assert table["ada"] == ["Lovelace, Ada", "1001", "S-1", "ada", "Sec A", "1"]
    assert table["alan"][-1] == "0"  # no submission, --missing zero
    assert table["eve"][3] == "eve"


def test_export_grades_needs_something_to_do(course, capsys):
    assert cli.main(["export-grades", f"--course={course.root}"]) == 2
    assert "nothing to do" in capsys.readouterr().err
