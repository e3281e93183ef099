"""Every assignment spec is consistent with its source notebook: one id names everything,
and every diagnosed mistake is a real, different behaviour of the reference."""

from __future__ import annotations

import pytest

from autograder import assignments
from autograder.notebook import grade_cells, read_notebook
from tests.conftest import grader_for

IDS = assignments.ASSIGNMENT_IDS


@pytest.mark.parametrize("assignment_id", IDS)
def test_parts_are_the_grade_cells(assignment_id):
    spec = assignments.get(assignment_id)
    cells = grade_cells(read_notebook(spec.source_path))
    assert [p.id for p in spec.parts] == [c.grade_id for c in cells]
    assert all(c.points > 0 for c in cells)
    assert spec.release_path.is_file(), f"run python -m autograder build {assignment_id}"


@pytest.mark.parametrize("assignment_id", IDS)
def test_every_mistake_applies_and_changes_the_outputs(assignment_id):
    from autograder import compare

    grader = grader_for(assignment_id)
    for part in grader.assignment.parts:
        for mistake in part.mistakes:
            namespace = grader._mistake_namespace(mistake)
            changed = False
            for case, expected in zip(grader.cases(part), grader.expected(part), strict=True):
                try:
                    wrong = grader.run_driver(namespace, part, case)
                except Exception:  # noqa: BLE001 - raising on some probe is a change too
                    changed = True
                    break
                if not compare.same_outputs(wrong, expected, "cpu"):
                    changed = True
                    break
            assert changed, f"{assignment_id}/{part.id}: mistake {mistake.name!r} changes nothing"
