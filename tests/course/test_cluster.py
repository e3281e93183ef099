"""The batch on a real Dask LocalCluster (2 worker processes), and GPU resource requests."""

from __future__ import annotations

from io import StringIO

import pytest

from autograder.course.batch import ClassGrader
from autograder.course.cluster import DaskPool, gpu_resources
from autograder.course.results import ResultStore
from autograder.course.worker import GraderSettings
from tests.course.conftest import add_student, quick_parts

pytestmark = pytest.mark.task("course")


def test_grade_class_on_a_dask_local_cluster(course):
    add_student(course, "ada", "collab", "correct")
    add_student(course, "bob", "collab", "wrong", seed=4)
    add_student(course, "cyd", "collab", "not-json")
    settings = GraderSettings("collab", device="cpu", parts=quick_parts("collab"))

    with DaskPool(settings, "local-cluster", workers=2) as pool:
        workers = pool.client.scheduler_info()["workers"]
        assert len(workers) == 2 and pool.slots == 2
        assert pool.resources is None  # no GPU advertised: no resource requested
        report = ClassGrader(course, settings, stream=StringIO()).run(pool)
        # a worker keeps one warm grader for all its tasks (3 tasks, at most 1 per worker)
        graders = pool.client.run(
            lambda: len(__import__("autograder.course.worker", fromlist=["_"])._GRADERS)
        )
        assert set(graders.values()) <= {0, 1} and sum(graders.values()) >= 1

    assert sorted(report.graded) == ["ada", "bob", "cyd"] and report.failed == {}
    assert "not a notebook" in report.ungradable["cyd"]
    ada = ResultStore(course, "collab").read("ada")["result"]
    bob = ResultStore(course, "collab").read("bob")["result"]
    assert ada["score"] == ada["max_score"] > bob["score"]


def test_tasks_ask_for_a_gpu_only_when_grading_on_cuda():
    assert gpu_resources("cuda", []) == {"GPU": 1}
    assert gpu_resources("auto", [{"GPU": 1}, {}]) == {"GPU": 1}
    assert gpu_resources("auto", [{}, {}]) is None
    assert gpu_resources("cpu", [{"GPU": 1}]) is None
