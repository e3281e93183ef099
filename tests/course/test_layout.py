"""The course directory: nbgrader's folders and ids, read from its nbgrader_config.py."""

from __future__ import annotations

import json

import pytest

from autograder.course.layout import Course, write_json_atomic
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
    assert Course.open(ROOT).release_directory == "exercises"


def test_students_are_folders_with_the_assignment_and_safe_names(tmp_path):
    course = make_course(tmp_path / "course", [])
    for name in ("bob", "ada", ".hidden", "eve", "x y", "a+b"):
        (course.submitted(name, "collab")).mkdir(parents=True)
    (course.submitted("zed", "other")).mkdir(parents=True)
    assert course.students("collab") == ["ada", "bob", "eve"]
    assert course.students("collab", safe=False) == ["a+b", "x y"]
    assert course.result_path("ada", "collab").name == "ada.json"


def test_json_is_written_atomically(tmp_path):
    target = tmp_path / "deep" / "result.json"
    write_json_atomic(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]
    with pytest.raises(FileNotFoundError):
        Course.open(tmp_path / "missing")
