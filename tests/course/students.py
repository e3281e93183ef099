"""Generated students: submissions of any assignment, correct, wrong, broken or hanging.

A submission starts from the *released* notebook (what students fetch) and fills its
solution cells with the reference code (the source notebook's cell, solution markers
removed), then applies the kind's change. Used by the course tests and the benchmark.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

from autograder.assignments import get

MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", re.MULTILINE)
KINDS = ("correct", "wrong", "unanswered", "syntax", "hanging", "not-json")

# Known wrong variants, per assignment: (solution cell grade id, old, new).
WRONG = {
    "collab": [
        ("sigmoid_range-solution", "* (high - low) + low", "* high + low"),
        ("create_params-solution", "normal_(0, 0.01)", "normal_(0, 1.0)"),
        (
            "dot_product-solution",
            "(users * items).sum(dim=1)",
            "(users * items).sum(dim=0)",
        ),
    ],
}


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def released(assignment_id: str, release: Path | None = None) -> nbformat.NotebookNode:
    """The notebook students fetch (``release``, or the repository's exercises/)."""
    return nbformat.read(release or get(assignment_id).release_path, as_version=4)


def answered(assignment_id: str, release: Path | None = None) -> nbformat.NotebookNode:
    """The released notebook with every solution cell answered by the reference."""
    source = nbformat.read(get(assignment_id).source_path, as_version=4)
    answers = {
        _grade_id(c): MARKER.sub("", c.source)
        for c in source.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    nb = released(assignment_id, release)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell.source = answers.get(_grade_id(cell), cell.source)
    return nb


def _hang(name: str) -> str:
    """A definition of ``name`` that never returns, whatever it is called with."""
    if name[:1].isupper():
        return (
            f"class {name}:\n    def __init__(self, *args, **kwargs):\n"
            "        while True:\n            pass\n"
        )
    return f"def {name}(*args, **kwargs):\n    while True:\n        pass\n"


def _broken(name: str) -> str:
    """A definition of ``name`` that fails whenever it is used."""
    body = '        raise ValueError("not the right answer")\n'
    if name[:1].isupper():
        return f"class {name}:\n    def __init__(self, *args, **kwargs):\n{body}"
    return f"def {name}(*args, **kwargs):\n{body[4:]}"


def _redefine(nb: nbformat.NotebookNode, name: str, source: str) -> None:
    """Redefine ``name`` at the end of the cell that defines it, so that it is in effect
    before the notebook's own tests run (for nbgrader, which executes the cells in order)
    as well as for our grader (which keeps a name's last definition)."""
    pattern = re.compile(rf"^(def|class) {re.escape(name)}\b", re.MULTILINE)
    for cell in nb.cells:
        if cell.get("cell_type") == "code" and pattern.search(cell.source):
            cell.source = cell.source.rstrip("\n") + "\n\n\n" + source
            return
    nb.cells.append(new_code_cell(source))


def submission(
    assignment_id: str,
    kind: str,
    seed: int = 0,
    hang: str | None = None,
    release: Path | None = None,
):
    """A submission of ``kind`` (see ``KINDS``): a notebook, or raw bytes for "not-json".

    ``hang`` names the definition that loops forever (default: the first part's);
    ``release`` is the notebook the student fetched (default: the repository's)."""
    assignment = get(assignment_id)
    rng = random.Random(seed)
    if kind == "not-json":
        return b'{"cells": [ this is not JSON'
    if kind == "unanswered":
        return released(assignment_id, release)
    nb = answered(assignment_id, release)
    if kind == "correct":
        return nb
    if kind == "wrong":
        variants = WRONG.get(assignment_id)
        if variants:
            grade_id, old, new = rng.choice(variants)
            cell = next(c for c in nb.cells if _grade_id(c) == grade_id)
            assert old in cell.source, (grade_id, old)
            cell.source = cell.source.replace(old, new)
        else:  # any assignment: one part's definition replaced by one that fails
            part = rng.choice([p for p in assignment.parts if p.limits.cpu <= 30])  # not training
            _redefine(nb, part.names[0], _broken(part.names[0]))
        return nb
    if kind == "syntax":
        first = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
        first.source = first.source.replace("):", ")", 1)
        return nb
    if kind == "hanging":
        name = hang or assignment.parts[0].names[0]
        _redefine(nb, name, _hang(name))
        return nb
    raise ValueError(f"unknown kind {kind!r}")


def write_submission(folder: Path, notebook_name: str, content) -> Path:
    """Write a submission (notebook or bytes) as ``folder/notebook_name``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / notebook_name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        nbformat.write(content, str(path))
    return path
