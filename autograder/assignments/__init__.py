"""The course's assignments, by id (the folder name under solutions/ and exercises/)."""

from __future__ import annotations

import importlib

from autograder.spec import Assignment

ASSIGNMENT_IDS = ["collab", "optimizers", "convolutions", "regularization", "rnns"]


def get(assignment_id: str) -> Assignment:
    """The assignment spec for ``assignment_id``; a clear error for an unknown id."""
    if assignment_id not in ASSIGNMENT_IDS:
        known = ", ".join(ASSIGNMENT_IDS)
        raise KeyError(f"unknown assignment {assignment_id!r}; known: {known}")
    return importlib.import_module(f"autograder.assignments.{assignment_id}").ASSIGNMENT


def all_assignments() -> list[Assignment]:
    return [get(a) for a in ASSIGNMENT_IDS]
