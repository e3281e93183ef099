"""Every exercise, through its declaration alone: what any spec must hold, tested for all.

- Each known mistake of a part's catalogue, written into the reference notebook as a student
  would write it, fails that part with the mistake's hint in its feedback.
- Where a part names PyTorch's own implementation, the reference agrees with it on every
  probe (so holding a student to both is fair).
- The spec's outputs, chapters and summary are declared (tests/site checks the book's side).

The 100 % / 0 % of the reference and the release, and the per-part CPU limits, are checked by
``python -m autograder build --check`` (tests/test_build.py).
"""

from __future__ import annotations

import copy
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from autograder import assignments, compare
from autograder.notebook import grade_cells, read_notebook
from tests.conftest import grader_for
from tests.submissions import source_notebook

GUARD = "_only_if"  # a mistake that applies to some probes only (checks.ONLY_IF)


def catalogue() -> list:
    """(assignment id, part id, mistake name) of every known mistake; those guarded to apply
    to some probes only are skipped (the guard is the grader's, not a student's code)."""
    found = []
    for spec in assignments.all_assignments():
        for part in spec.parts:
            for mistake in part.mistakes:
                marks = [pytest.mark.xdist_group(f"grader-{spec.id}")]
                if GUARD in mistake.patch:
                    marks.append(pytest.mark.skip(reason="applies to some probes only"))
                elif any(re.search(rf"class {n}\({n}\)", str(v)) for n, v in mistake.patch.items()):
                    marks.append(pytest.mark.skip(reason="a subclass of the reference"))
                found.append(
                    pytest.param(
                        spec.id,
                        part.id,
                        mistake.name,
                        marks=marks,
                        id=f"{spec.id}-{part.id}-{mistake.name}",
                    )  # fmt: skip
                )
    return found


def outputs(grader, part, namespace) -> list:
    """The outputs of ``namespace``'s definitions on every probe of ``part`` (None: raised)."""
    found = []
    for case in grader.cases(part):
        try:
            found.append(grader.run_driver(namespace, part, case))
        except Exception:  # noqa: BLE001 - a variant may raise on a probe
            found.append(None)
    return found


def hints_of_twins(grader, part, mistake) -> set[str]:
    """The hints of the mistakes of ``part`` that behave as ``mistake`` does on every probe
    (the grader can't tell them apart, so it may name any of them)."""
    own = outputs(grader, part, grader._mistake_namespace(mistake))
    hints = {mistake.hint}
    for other in part.mistakes:
        theirs = outputs(grader, part, grader._mistake_namespace(other))
        if all(
            (a is None) == (b is None) and (a is None or compare.same_outputs(a, b, "cpu"))
            for a, b in zip(own, theirs, strict=True)
        ):
            hints.add(other.hint)
    return hints


def with_mistake(spec, grader, mistake) -> nbformat.NotebookNode:
    """The reference notebook with the mistake's definitions written after the cell that
    defines each name, as a student's own version of it (later definitions win)."""
    nb = copy.deepcopy(source_notebook(spec.id))
    for name, source in zip(mistake.patch, grader.mistake_sources(mistake), strict=True):
        at = max(
            (i for i, c in enumerate(nb.cells) if c.cell_type == "code" and name in c.source),
            default=len(nb.cells) - 1,
        )
        nb.cells.insert(at + 1, new_code_cell(source))
    return nb


@pytest.mark.parametrize(("assignment_id", "part_id", "mistake_name"), catalogue())
def test_each_known_mistake_fails_its_part_with_its_hint(
    tmp_path, assignment_id, part_id, mistake_name
):
    spec = assignments.get(assignment_id)
    grader = grader_for(assignment_id)
    part = spec.part(part_id)
    mistake = next(m for m in part.mistakes if m.name == mistake_name)
    path = tmp_path / spec.notebook
    nbformat.write(with_mistake(spec, grader, mistake), path)
    result = grader.grade(path, only=[part_id])
    assert result.status == "graded", result.error
    (graded,) = result.parts
    assert not graded.passed, f"{part_id}: mistake {mistake_name!r} passes"
    feedback = "\n".join(graded.messages)
    named = any(
        f"Likely mistake: {hint}" in feedback for hint in hints_of_twins(grader, part, mistake)
    )
    assert named, f"{part_id}: mistake {mistake_name!r} is not named; the feedback was:\n{feedback}"


def pytorch_parts() -> list:
    return [
        pytest.param(spec.id, part.id, marks=pytest.mark.xdist_group(f"grader-{spec.id}"))
        for spec in assignments.all_assignments()
        for part in spec.parts
        if part.pytorch is not None
    ]


@pytest.mark.parametrize(("assignment_id", "part_id"), pytorch_parts())
def test_the_reference_agrees_with_pytorch(assignment_id, part_id):
    grader = grader_for(assignment_id)
    part = grader.assignment.part(part_id)
    for index, (case, expected) in enumerate(
        zip(grader.cases(part), grader.expected(part), strict=True)
    ):
        truth = case.secret["pytorch"]
        for key in part.held_to_pytorch(expected):
            assert key in truth, f"{part_id}: PyTorch's run has no output {key!r}"
            problem = compare.compare_tensor(
                f"{part_id} probe {index}: {key}", expected[key], truth[key], "cpu", part.tolerance
            )
            assert problem is None, problem


@pytest.mark.parametrize("assignment_id", assignments.ASSIGNMENT_IDS)
def test_every_part_is_declared_from_the_id(assignment_id):
    spec = assignments.get(assignment_id)
    assert spec.source_path.is_file() and spec.release_path.is_file()
    assert spec.chapters and spec.summary, f"{assignment_id}: say which chapters and what"
    assert [p.id for p in spec.parts] == [c.grade_id for c in grade_cells(read_notebook(
        spec.source_path))]  # fmt: skip
    for part in spec.parts:
        assert part.outputs is not None, f"{assignment_id}/{part.id}: undeclared outputs"
