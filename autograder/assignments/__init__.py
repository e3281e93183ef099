"""The course's assignments, by id: every module or package in this folder whose name does
not start with ``_`` declares one (``ASSIGNMENT``), named by the folder under solutions/.

Nothing else lists them: the command line, the service, the exports, the book's pages,
table of contents and list of exercises all read :data:`ASSIGNMENT_IDS`, so adding an
exercise is adding its source notebook, its spec here and its driver.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from autograder.spec import Assignment

ASSIGNMENT_IDS = sorted(
    m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_")
)


def get(assignment_id: str) -> Assignment:
    """The assignment spec for ``assignment_id``; a clear error for an unknown id."""
    if assignment_id not in ASSIGNMENT_IDS:
        known = ", ".join(ASSIGNMENT_IDS)
        raise KeyError(f"unknown assignment {assignment_id!r}; known: {known}")
    assignment = importlib.import_module(f"autograder.assignments.{assignment_id}").ASSIGNMENT
    if assignment.id != assignment_id:
        raise ValueError(f"autograder/assignments/{assignment_id}: declares id {assignment.id!r}")
    return assignment


def all_assignments() -> list[Assignment]:
    return [get(a) for a in ASSIGNMENT_IDS]


def chapters() -> dict[str, list[str]]:
    """Exercise id -> the ids of the chapters it goes with (the book's pages derive from it)."""
    return {a.id: list(a.chapters) for a in all_assignments()}
