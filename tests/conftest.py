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
def collab_grader() -> Grader:
    return grader_for("collab")


def pytest_sessionfinish(session, exitstatus):
    for grader in _GRADERS.values():
        grader.close()
    _GRADERS.clear()
