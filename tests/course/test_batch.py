"""grade-class: every submission graded once, results keyed by the notebook's hash, resumable
after ``kill -9``, a bad submission reported without stopping the batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from io import StringIO

import pytest
from nbgrader.api import Gradebook

from autograder import cli
from autograder.course.batch import ClassGrader
from autograder.course.cluster import InlinePool
from autograder.course.results import ResultStore
from autograder.course.worker import GraderSettings
from tests.course.conftest import ROOT, add_student, quick_parts

pytestmark = pytest.mark.task("course")

PARTS = quick_parts("collab")
SETTINGS = GraderSettings("collab", device="cpu", parts=PARTS)


def grade(course, students=None, force=False):
    grader = ClassGrader(course, SETTINGS, stream=StringIO())
    return grader.run(InlinePool(SETTINGS), students, force=force)


def gradebook_score(course, student):
    with Gradebook(course.db_url, course.course_id) as gb:
        return gb.find_submission("collab", student).score


def test_grades_the_class_and_reports_what_it_cannot_grade(course):
    add_student(course, "ada", "collab", "correct")
    add_student(course, "bob", "collab", "wrong", seed=1)
    add_student(course, "cyd", "collab", "not-json")
    renamed = course.submitted("dan", "collab")
    renamed.mkdir(parents=True)
    (renamed / "collab-copy.ipynb").write_text("{}")

    report = grade(course)

    assert sorted(report.graded) == ["ada", "bob", "cyd", "dan"]
    assert "not a notebook" in report.ungradable["cyd"]
    assert "no collab.ipynb was submitted" in report.ungradable["dan"]
    assert "collab-copy.ipynb" in report.ungradable["dan"]
    ada = ResultStore(course, "collab").read("ada")
    assert ada["sha256"] and ada["result"]["score"] == ada["result"]["max_score"] > 0
    bob = ResultStore(course, "collab").read("bob")["result"]
    assert bob["score"] < bob["max_score"]
    assert gradebook_score(course, "ada") == ada["result"]["score"]
    assert gradebook_score(course, "cyd") == 0
    for student in ("ada", "bob", "cyd", "dan"):
        assert (course.autograded(student, "collab") / "collab.ipynb").is_file()
    assert (course.autograded("ada", "collab") / "timestamp.txt").is_file()


def test_rerun_reuses_unchanged_results_and_regrades_a_changed_notebook(course):
    add_student(course, "ada", "collab", "correct")
    add_student(course, "bob", "collab", "unanswered")
    grade(course)
    stamps = {s: course.result_path(s, "collab").stat().st_mtime_ns for s in ("ada", "bob")}

    again = grade(course)
    assert sorted(again.unchanged) == ["ada", "bob"] and again.graded == []
    assert {s: course.result_path(s, "collab").stat().st_mtime_ns for s in stamps} == stamps

    add_student(course, "bob", "collab", "correct")  # bob resubmits: new bytes, new hash
    third = grade(course)
    assert third.graded == ["bob"] and third.unchanged == ["ada"]
    assert course.result_path("ada", "collab").stat().st_mtime_ns == stamps["ada"]
    bob = ResultStore(course, "collab").read("bob")["result"]
    assert bob["score"] == bob["max_score"]
    assert gradebook_score(course, "bob") == bob["max_score"]


def test_regrading_one_student_with_force_is_idempotent(course):
    add_student(course, "ada", "collab", "correct")
    add_student(course, "bob", "collab", "wrong", seed=2)
    grade(course)
    ada_stamp = course.result_path("ada", "collab").stat().st_mtime_ns
    first = gradebook_score(course, "bob")

    for _ in range(2):
        report = grade(course, students=["bob"], force=True)
        assert report.graded == ["bob"] and report.unchanged == []
    assert gradebook_score(course, "bob") == first
    assert course.result_path("ada", "collab").stat().st_mtime_ns == ada_stamp
    with Gradebook(course.db_url, course.course_id) as gb:
        assert len(gb.find_assignment("collab").submissions) == 2


def test_results_of_some_parts_are_completed_not_reused_for_others(course):
    add_student(course, "ada", "collab", "correct")
    only = lambda *parts: GraderSettings("collab", device="cpu", parts=parts)  # noqa: E731
    for parts in (("create_params",), ("sigmoid_range",)):
        report = ClassGrader(course, only(*parts), stream=StringIO()).run(InlinePool(only()))
        assert report.graded == ["ada"]  # the stored result lacked this part: graded
    stored = ResultStore(course, "collab").read("ada")["result"]
    assert [p["id"] for p in stored["parts"]] == ["create_params", "sigmoid_range"]
    both = only("create_params", "sigmoid_range")
    report = ClassGrader(course, both, stream=StringIO()).run(InlinePool(both))
    assert report.unchanged == ["ada"] and report.graded == []


def test_a_student_without_a_submission_is_reported(course):
    add_student(course, "ada", "collab", "correct")
    report = grade(course, students=["zed"])
    assert "no collected submission" in report.failed["zed"]
    assert not report.ok


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_kill_9_midway_then_rerun_loses_nothing_and_regrades_nothing(course, tmp_path):
    kinds = ["correct", "wrong", "hanging", "hanging", "correct"]
    students = [f"s{i}" for i in range(len(kinds))]
    for student, kind in zip(students, kinds, strict=True):
        add_student(course, student, "collab", kind, seed=3, hang="sigmoid_range")
    command = [
        sys.executable, "-m", "autograder", "grade-class", "collab",
        f"--course={course.root}", "--workers=1", "--time-limit=3", f"--parts={','.join(PARTS)}",
    ]  # fmt: skip
    log = tmp_path / "first-run.log"
    scratch = tmp_path / "tmp"  # what the killed batch leaves behind stays in tmp_path
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    with open(log, "w") as err:
        batch = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True,
        )  # fmt: skip
    done = lambda: [s for s in students if course.result_path(s, "collab").exists()]  # noqa: E731
    try:
        assert _wait_for(lambda: len(done()) >= 2 and "ETA" in log.read_text(), 240)
        os.killpg(batch.pid, signal.SIGKILL)
    finally:
        if batch.poll() is None:
            os.killpg(batch.pid, signal.SIGKILL)
        batch.wait()
    assert batch.returncode == -signal.SIGKILL
    before = {s: course.result_path(s, "collab").read_text() for s in done()}
    assert 2 <= len(before) < len(students), "the batch was not killed midway"

    assert cli.main(["grade-class", "collab", f"--course={course.root}", "--workers=0",
                     "--time-limit=3", f"--parts={','.join(PARTS)}", "--quiet"]) == 0  # fmt: skip

    for student in students:
        assert course.result_path(student, "collab").exists(), student
        assert (course.autograded(student, "collab") / "collab.ipynb").is_file(), student
    for student, text in before.items():  # finished results were not graded again
        assert course.result_path(student, "collab").read_text() == text, student
    hanging = json.loads(course.result_path("s2", "collab").read_text())["result"]
    assert any("time limit" in m for p in hanging["parts"] for m in p["messages"])
    with Gradebook(course.db_url, course.course_id) as gb:
        assert len(gb.find_assignment("collab").submissions) == len(students)
