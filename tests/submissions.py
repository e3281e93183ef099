"""Make test submissions from a source notebook: edit cells by grade id, write to a folder,
grade them.

Used by the assignment tests to build wrong, hostile and differently-written submissions
from the reference solution, so each test states only the edit that matters.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

from autograder.assignments import get
from autograder.build import tight_limits
from autograder.grade import Grader
from autograder.sandbox import Limits

ROOT = Path(__file__).resolve().parent.parent


# collab's quick parts under short limits: for tests of the sandbox and of hostile files.
FAST = ["create_params", "sigmoid_range", "embedding"]
SHORT = Limits(wall=10, cpu=5, memory=1 << 30, extra_processes=32)


def fast_collab_grader() -> Iterator[Grader]:
    """A warm grader of collab's FAST parts under SHORT limits (for a module fixture)."""
    spec = get("collab")
    parts = [dataclasses.replace(p, limits=SHORT) for p in spec.parts if p.id in FAST]
    with Grader(dataclasses.replace(spec, parts=parts), device="cpu") as g:
        yield g


def source_notebook(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)


def release_notebook(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)


def cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    for c in nb.cells:
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return c
    raise KeyError(grade_id)


def replace_in_cell(nb, grade_id: str, old: str, new: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` with ``old`` replaced by ``new`` in the cell ``grade_id`` (must occur)."""
    nb = copy.deepcopy(nb)
    target = cell(nb, grade_id)
    assert old in target.source, f"{old!r} not in cell {grade_id}"
    target.source = target.source.replace(old, new)
    return nb


def set_cell(nb, grade_id: str, source: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    cell(nb, grade_id).source = source
    return nb


def append_code(nb, source: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` with a code cell added at the end (later definitions win)."""
    nb = copy.deepcopy(nb)
    nb.cells.append(new_code_cell(source))
    return nb


def prepend_code(nb, source: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    nb.cells.insert(0, new_code_cell(source))
    return nb


def write(nb, folder: Path, name: str = "submission.ipynb") -> Path:
    path = Path(folder) / name
    nbformat.write(nb, path)
    return path


def grade(grader, folder: Path, nb, only: list[str] | None = None):
    """Write ``nb`` into ``folder`` and grade it: every part, or only the parts in ``only``."""
    return grader.grade(write(nb, folder), only=only)


def part(result, part_id: str):
    """The PartResult of ``result`` whose id is ``part_id``."""
    return next(p for p in result.parts if p.id == part_id)


def check_solution_scores_full_marks(grader, folder: Path, assignment: str, points: float):
    """The source notebook, graded as a submission, earns every point, within ten times
    the CPU time of every part's limit (what ``autograder build`` demands); the result."""
    result = grade(grader, folder, source_notebook(assignment))
    assert result.status == "graded"
    assert result.score == result.max_score == points, result.to_text()
    assert all(p.cpu_seconds > 0 for p in result.parts), result.parts
    assert tight_limits(grader.assignment, result) == []
    return result


def check_release_scores_zero(grader, folder: Path, assignment: str) -> None:
    """The released notebook earns nothing, and every part says it is not implemented."""
    result = grade(grader, folder, release_notebook(assignment))
    assert result.score == 0
    for p in result.parts:
        assert any("not implemented" in m for m in p.messages), (p.id, p.messages)


def check_wrong_variant(grader, folder: Path, assignment: str, name: str, variant: tuple,
                        only: list[str] | None = None):  # fmt: skip
    """``variant`` = (cell grade id, old, new, part id, phrase): the edited solution loses
    all of that part's points with a message containing ``phrase``; the result. ``only``:
    the parts to grade (default: that part)."""
    cell_id, old, new, part_id, phrase = variant
    nb = replace_in_cell(source_notebook(assignment), cell_id, old, new)
    result = grade(grader, folder, nb, only=only or [part_id])
    failed = part(result, part_id)
    assert not failed.passed and failed.points == 0, result.to_text()
    text = " ".join(failed.messages)
    assert phrase in text, f"{name}: {text}"
    return result
