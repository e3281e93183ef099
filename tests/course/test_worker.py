"""The worker side: time limits capped, a submission graded from its bytes, labelled."""

from __future__ import annotations

import pytest

from autograder.assignments import get
from autograder.course.worker import (
    GraderSettings,
    GradeTask,
    capped,
    close_all,
    grade_task,
    grader_for,
)

pytestmark = pytest.mark.task("course")


def test_capped_limits_never_raise_a_limit():
    assignment = get("collab")
    short = capped(assignment, 3.0)
    for before, after in zip(assignment.parts, short.parts, strict=True):
        assert after.limits.wall == min(before.limits.wall, 3.0)
        assert after.limits.cpu <= before.limits.cpu
    assert capped(assignment, None) is assignment
    assert (
        capped(assignment, 1000.0).part("train").limits.wall == assignment.part("train").limits.wall
    )


def test_a_bad_submission_is_an_ungradable_result_naming_the_submission():
    settings = GraderSettings("collab", device="cpu", parts=("sigmoid_range",))
    task = GradeTask(
        settings, "ada", "collab.ipynb", b"\x00\x01", "submitted/ada/collab/collab.ipynb"
    )
    result = grade_task(task)
    assert result["status"] == "ungradable"
    assert result["error"].startswith("submitted/ada/collab/collab.ipynb")
    assert result["submission"] == "submitted/ada/collab/collab.ipynb"


def test_a_worker_keeps_only_the_parts_it_grades_and_warms_what_they_use():
    quick = grader_for(GraderSettings("collab", device="cpu", parts=("sigmoid_range",)))
    whole = grader_for(GraderSettings("collab", device="cpu"))
    try:
        assert [p.id for p in quick.assignment.parts] == ["sigmoid_range"]
        assert quick.sandbox.options == ()  # no torch.optim in that part: nothing to load
        assert whole.sandbox.options == ("--warm-optimizers",)  # the training part uses it
    finally:
        close_all()
