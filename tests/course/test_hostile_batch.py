"""grade-class with hostile submissions: a file that crashes parsers is reported and the
batch goes on (and reruns cleanly); a submission that plants files changes nothing of the
next one graded by the same worker."""

from __future__ import annotations

from io import StringIO

import pytest

from autograder.course.batch import ClassGrader
from autograder.course.cluster import InlinePool
from autograder.course.results import ResultStore
from autograder.course.worker import GraderSettings
from tests.course.conftest import add_student
from tests.course.students import write_submission
from tests.submissions import FAST, source_notebook
from tests.test_hostile_files import depth_bomb, wrong_metadata_notebooks
from tests.test_isolation import PLANT, hostile_notebook

pytestmark = pytest.mark.task("course")

SETTINGS = GraderSettings("collab", device="cpu", parts=tuple(FAST))


def run(course, students=None):
    grader = ClassGrader(course, SETTINGS, stream=StringIO())
    return grader.run(InlinePool(SETTINGS), students, force=True)


def test_grade_class_grades_the_rest_and_reruns_cleanly(course):
    add_student(course, "ada", "collab", "correct")
    write_submission(course.submitted("bob", "collab"), "collab.ipynb", depth_bomb())
    wrong, other = wrong_metadata_notebooks()
    write_submission(course.submitted("cyd", "collab"), "collab.ipynb", wrong)
    write_submission(course.submitted("dan", "collab"), "collab.ipynb", other)
    for _ in range(2):
        report = run(course)
        assert sorted(report.graded) == ["ada", "bob", "cyd", "dan"], report.summary()
        assert sorted(report.ungradable) == ["bob", "cyd", "dan"] and not report.failed
    ada = ResultStore(course, "collab").read("ada")["result"]
    assert ada["score"] == ada["max_score"] > 0


def test_a_hostile_student_changes_nothing_of_the_next(course):
    """Students are graded in name order by one warm worker: aaa plants, zed comes next."""
    write_submission(course.submitted("zed", "collab"), "collab.ipynb", source_notebook("collab"))
    run(course, ["zed"])
    alone = ResultStore(course, "collab").read("zed")["result"]
    assert alone["score"] == alone["max_score"] > 0
    payload = hostile_notebook(PLANT, "_plant()")
    write_submission(course.submitted("aaa", "collab"), "collab.ipynb", payload)
    report = run(course)
    assert report.graded == ["aaa", "zed"] or sorted(report.graded) == ["aaa", "zed"]
    after = ResultStore(course, "collab").read("zed")["result"]
    assert after["score"] == alone["score"]
    assert [p["messages"] for p in after["parts"]] == [p["messages"] for p in alone["parts"]]


def test_weak_isolation_heads_the_batch_summary(course):
    from dataclasses import replace

    from autograder.course.batch import BatchReport

    settings = replace(SETTINGS, isolation="rlimits")
    report = ClassGrader(course, settings, stream=StringIO()).run(InlinePool(settings))
    assert report.graded == [] and report.warnings[0].startswith("WARNING: weak isolation")
    lines = BatchReport("collab", graded=["ada"], warnings=report.warnings).summary().splitlines()
    assert lines[1].strip().startswith("WARNING: weak isolation"), lines
