"""Shared fixtures: one warm grader per assignment for the whole session."""

from __future__ import annotations

import pytest

from autograder.assignments import get
from autograder.grade import Grader

_GRADERS: dict[str, Grader] = {}


def grader_for(assignment_id: str) -> Grader:
    """A warm Grader (CPU) for ``assignment_id``, shared by every test of the session."""
    if assignment_id not in _GRADERS:
        _GRADERS[assignment_id] = Grader(get(assignment_id), device="cpu")
    return _GRADERS[assignment_id]


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole session, shared by the site and service tests (the browser
    tests skip without Chromium, except under CI)."""
    from tests.site.conftest import open_browser

    yield from open_browser()


@pytest.fixture(scope="session")
def collab_grader() -> Grader:
    return grader_for("collab")


@pytest.fixture
def grader(request) -> Grader:
    """The warm grader of the assignment named by the test's ``task`` marker (a module's
    ``pytestmark = pytest.mark.task("<assignment>")``)."""
    marker = request.node.get_closest_marker("task")
    if marker is None:
        pytest.fail(f"{request.node.nodeid}: the grader fixture needs a task marker")
    return grader_for(marker.args[0])


def pytest_sessionfinish(session, exitstatus):
    for grader in _GRADERS.values():
        grader.close()
    _GRADERS.clear()
