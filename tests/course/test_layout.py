"""The course directory: nbgrader's folders and ids, read from its nbgrader_config.py."""

from __future__ import annotations

import json

import pytest

from autograder.course.layout import Course
from autograder.course.results import ResultStore
from autograder.result import GradeResult, PartResult
from tests.course.conftest import ROOT, make_course

pytestmark = pytest.mark.task("course")


def test_the_course_config_is_read(tmp_path):
    course = make_course(tmp_path / "course", ["collab"])
    assert course.course_id == "dl-foundations"
    assert course.source("collab") == course.root / "solutions" / "collab"
    assert course.release("collab") == course.root / "exercises" / "collab"
    assert course.db_url == f"sqlite:///{course.root / 'gradebook.db'}"
    other = Course.open(course.root, db_url="sqlite:////elsewhere.db", course_id="x")
    assert other.db_url == "sqlite:////elsewhere.db" and other.course_id == "x"
    assert Course.open(ROOT).folder("release") == ROOT / "exercises"


def test_students_are_folders_with_the_assignment_and_safe_names(tmp_path):
    course = make_course(tmp_path / "course", [])
    for name in ("bob", "ada", ".hidden", "eve", "x y", "a+b"):
        (course.submitted(name, "collab")).mkdir(parents=True)
    (course.submitted("zed", "other")).mkdir(parents=True)
    assert course.students("collab") == ["ada", "bob", "eve"]
    assert course.students("collab", safe=False) == ["a+b", "x y"]
    assert course.result_path("ada", "collab").name == "ada.json"


def test_a_record_is_written_atomically_and_read_back(tmp_path):
    store = ResultStore(Course(tmp_path, "c", "sqlite://"), "collab")
    result = GradeResult("collab", "ada.ipynb", "graded", [PartResult("p", "P", 1, 1, True)])
    target = store.write("ada", "collab.ipynb", "abc", result)
    assert target == store.path("ada") and json.loads(target.read_text())["sha256"] == "abc"
    assert [p.name for p in target.parent.iterdir()] == ["ada.json"]
    assert store.result("ada", "abc").score == 1 and store.result("ada", "other") is None
    assert list(store.all()) == ["ada"]
    target.write_text("{not json")
    assert store.read("ada") is None and store.all() == {}
    with pytest.raises(FileNotFoundError):
        Course.open(tmp_path / "missing")
