"""The autograded notebook: feedback under each test cell, test cells as released, no hidden
tests, no student outputs, every message escaped."""

from __future__ import annotations

import copy
import json

import nbformat
import pytest

from autograder.assignments import get
from autograder.course.feedback import autograded_notebook, feedback_html, write_autograded
from autograder.result import GradeResult, PartResult
from tests.submissions import cell, source_notebook

pytestmark = pytest.mark.task("course")

ASSIGNMENT = get("collab")


def release():
    return nbformat.read(ASSIGNMENT.release_path, as_version=4)


def result(status="graded", error=None, message="correct", passed=True) -> GradeResult:
    parts = [
        PartResult(p.id, p.title, 1.0 if passed else 0.0, 1.0, passed, [message])
        for p in ASSIGNMENT.parts
    ]
    notes = ["code cell 3 has a syntax error: skipped"]
    kept = parts if status == "graded" else []
    return GradeResult("collab", "x.ipynb", status, kept, error=error, warnings=notes)


def outputs_of(nb, grade_id):
    return cell(nb, grade_id).get("outputs", [])


def test_feedback_goes_under_each_test_cell_and_student_outputs_are_cleared():
    submission = copy.deepcopy(release())
    solution = cell(submission, "sigmoid_range-solution")
    solution.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<b>x</b>"})]
    nb = autograded_notebook(submission, release(), result(message="`sigmoid_range`: correct"))
    assert outputs_of(nb, "sigmoid_range-solution") == []
    for part in ASSIGNMENT.parts:
        (output,) = outputs_of(nb, part.id)
        assert "Autograder: 1 / 1 (passed)" in output["data"]["text/plain"]
        assert "<code>sigmoid_range</code>" in output["data"]["text/html"]
    first = outputs_of(nb, ASSIGNMENT.parts[0].id)[0]["data"]["text/plain"]
    assert "syntax error" in first  # the notes go under the first test cell only
    assert "syntax error" not in outputs_of(nb, ASSIGNMENT.parts[1].id)[0]["data"]["text/plain"]


def test_test_cells_are_the_released_ones_and_hidden_tests_never_appear():
    submitted = source_notebook("collab")  # carries the hidden tests and edited test cells
    cell(submitted, "embedding").source = "assert True  # the student's own 'test'"
    nb = autograded_notebook(submitted, release(), result())
    text = json.dumps(nb)
    assert "HIDDEN TESTS" not in text
    assert cell(nb, "embedding").source == cell(release(), "embedding").source
    assert (
        cell(nb, "embedding").metadata["nbgrader"]
        == cell(release(), "embedding").metadata["nbgrader"]
    )


def test_deleted_test_cell_is_put_back_and_duplicates_lose_their_metadata():
    submission = copy.deepcopy(release())
    submission.cells = [c for c in submission.cells if c.metadata.get("nbgrader", {}).get(
        "grade_id") != "dot_product"]  # fmt: skip
    duplicate = copy.deepcopy(cell(submission, "embedding"))
    duplicate.id = "copied-cell"
    submission.cells.append(duplicate)
    stripped = cell(submission, "sigmoid_range")
    del stripped.metadata["nbgrader"]  # the student's copy keeps the cell id, loses the tag
    nb = autograded_notebook(submission, release(), result())
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids.count("dot_product") == 1 and ids.count("embedding") == 1
    assert ids.count("sigmoid_range") == 1
    assert outputs_of(nb, "dot_product")  # its feedback is there too
    cell_ids = [c.id for c in nb.cells]
    assert len(cell_ids) == len(set(cell_ids))
    nbformat.validate(nb)


def test_messages_are_escaped():
    part = PartResult("p", "P", 0, 1, False, ["ValueError: <script>alert(1)</script> & `x<y`"])
    page = feedback_html(part)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page and "<code>x&lt;y</code>" in page


def test_an_unreadable_submission_gets_the_release_with_the_reason(tmp_path):
    submitted = tmp_path / "submitted"
    submitted.mkdir()
    (submitted / "collab.ipynb").write_text("not json")
    (submitted / "timestamp.txt").write_text("2026-11-20 10:00:00 UTC")
    (submitted / "link.txt").symlink_to("/etc/passwd")
    broken = result(status="ungradable", error="collab.ipynb: not a notebook")
    out = write_autograded(submitted, tmp_path / "autograded", "collab.ipynb",
                           ASSIGNMENT.release_path, broken)  # fmt: skip
    nb = nbformat.read(out, as_version=4)
    for part in ASSIGNMENT.parts:
        (output,) = outputs_of(nb, part.id)
        assert "not graded: collab.ipynb: not a notebook" in output["data"]["text/plain"]
    assert (tmp_path / "autograded" / "timestamp.txt").read_text().startswith("2026")
    assert not (tmp_path / "autograded" / "link.txt").exists()
