"""Scores into nbgrader's gradebook through its own API: one Grade per part, idempotent,
manual grades respected, unreadable submissions flagged."""

from __future__ import annotations

import pytest
from nbgrader.api import Gradebook

from autograder.assignments import get
from autograder.course.gradebook import (
    NO_RESPONSE,
    GradebookWriter,
    read_timestamp,
    unchanged_solution_cells,
)
from autograder.course.layout import Course
from autograder.result import GradeResult, PartResult
from tests.course.conftest import TIMESTAMP, make_course
from tests.course.students import answered, write_submission

pytestmark = pytest.mark.task("course")

ASSIGNMENT = get("collab")


def result(passing: set[str], status: str = "graded") -> GradeResult:
    parts = [
        PartResult(p.id, p.title, 2.0 if p.id in passing else 0.0, 2.0, p.id in passing)
        for p in ASSIGNMENT.parts
    ]
    return GradeResult("collab", "x", status, parts if status == "graded" else [], error="bad")


def grades(course: Course, student: str) -> dict[str, tuple]:
    with Gradebook(course.db_url, course.course_id) as gb:
        notebook = gb.find_submission_notebook("collab", "collab", student)
        return {g.name: (g.auto_score, g.needs_manual_grade) for g in notebook.grades}


def test_each_part_is_a_grade_and_rewriting_is_idempotent(course):
    for _ in range(2):
        with GradebookWriter(course, ASSIGNMENT) as writer:
            writer.write("ada", result({"embedding", "train"}), timestamp=TIMESTAMP)
    table = grades(course, "ada")
    assert table["embedding"] == (2.0, False) and table["train"] == (2.0, False)
    assert table["sigmoid_range"] == (0.0, False)
    with Gradebook(course.db_url, course.course_id) as gb:
        submission = gb.find_submission("collab", "ada")
        assert len(gb.find_assignment("collab").submissions) == 1
        assert submission.score == 4.0 and submission.timestamp.year == 2026


def test_a_manual_grade_is_kept_and_flagged_for_review(course):
    with GradebookWriter(course, ASSIGNMENT) as writer:
        writer.write("ada", result(set()))
        grade = writer.gradebook.find_grade("embedding", "collab", "collab", "ada")
        grade.manual_score = 1.5
        writer.gradebook.db.commit()
        writer.write("ada", result({"embedding"}))
    with Gradebook(course.db_url, course.course_id) as gb:
        grade = gb.find_grade("embedding", "collab", "collab", "ada")
        assert grade.auto_score == 2.0 and grade.manual_score == 1.5 and grade.needs_manual_grade


def test_an_ungradable_submission_scores_zero_and_is_flagged(course):
    with GradebookWriter(course, ASSIGNMENT) as writer:
        writer.write("ada", result(set(), status="ungradable"))
    assert all(auto == 0.0 and manual for auto, manual in grades(course, "ada").values())
    with Gradebook(course.db_url, course.course_id) as gb:
        assert gb.find_submission_notebook("collab", "collab", "ada").flagged


def test_parts_left_out_of_a_run_keep_their_grades(course):
    with GradebookWriter(course, ASSIGNMENT) as writer:
        writer.write("ada", result({"train"}))
        partial = result({"embedding"})
        partial.parts = [p for p in partial.parts if p.id == "embedding"]
        writer.write("ada", partial)
    table = grades(course, "ada")
    assert table["train"] == (2.0, False) and table["embedding"] == (2.0, False)


def test_untouched_solution_cells_get_nbgrader_no_response_comment(course, tmp_path):
    assert unchanged_solution_cells(ASSIGNMENT.release_path) >= {"embedding-solution"}
    answered_path = write_submission(tmp_path, "collab.ipynb", answered("collab"))
    assert unchanged_solution_cells(answered_path) == set()
    with GradebookWriter(course, ASSIGNMENT) as writer:
        writer.write("ada", result(set()), unchanged={"embedding-solution"})
    with Gradebook(course.db_url, course.course_id) as gb:
        comment = gb.find_comment("embedding-solution", "collab", "collab", "ada")
        other = gb.find_comment("sigmoid_range-solution", "collab", "collab", "ada")
        assert comment.auto_comment == NO_RESPONSE and other.auto_comment is None


def test_an_assignment_unknown_to_the_gradebook_is_recorded_first(tmp_path):
    course = make_course(tmp_path / "fresh", ["collab"])
    assert not (course.root / "gradebook.db").exists()
    release = course.release("collab") / "collab.ipynb"
    before = release.stat().st_mtime_ns
    with GradebookWriter(course, ASSIGNMENT) as writer:
        writer.write("ada", result({"embedding"}))
        assert writer.warnings == []
    assert grades(course, "ada")["embedding"] == (2.0, False)
    assert release.stat().st_mtime_ns == before  # the course's release was not regenerated


def test_the_submission_time_is_nbgraders_timestamp_file(tmp_path):
    assert read_timestamp(tmp_path) is None
    (tmp_path / "timestamp.txt").write_text(TIMESTAMP + "\n")
    assert read_timestamp(tmp_path) == TIMESTAMP
