"""The autograded notebook: the student's submission with the grader's feedback in it.

nbgrader's ``generate_feedback`` (and the formgrader) read
``autograded/<student>/<assignment>/<notebook>.ipynb``; we write it from the submission:

- every output the student's notebook carried is cleared (the grader did not produce them,
  and a notebook's HTML outputs must not reach the instructor's browser);
- locked and test cells are restored from the *released* notebook, the one students got:
  a student who edited a test cell sees the real one, and the hidden tests (present only in
  the source notebook) never appear;
- each part's feedback (points and messages, HTML-escaped) becomes the output of its test
  cell; a test cell the student deleted is put back at the end.

The messages come from :mod:`autograder.grade`, which never puts probe values in them.
"""

from __future__ import annotations

import copy
import html
import re
import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_output

from autograder.drivers.files import write_atomic
from autograder.notebook import NotebookError, read_notebook
from autograder.result import PRINTED, GradeResult, PartResult

CODE = re.compile(r"`([^`]+)`")


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _is_protected(cell) -> bool:
    """Cells students may not change: locked cells and autograded test cells."""
    meta = _meta(cell)
    return bool(meta.get("locked") or (meta.get("grade") and not meta.get("solution")))


def feedback_text(part: PartResult) -> str:
    verdict = "passed" if part.passed else "failed"
    lines = [f"Autograder: {part.points:g} / {part.max_points:g} ({verdict})"]
    lines += [f"- {message}" for message in part.messages]
    return "\n".join(lines + part.printed_block())


def feedback_html(part: PartResult, notes: list[str] | None = None) -> str:
    """The part's feedback as HTML; every message is escaped (it may quote student code)."""

    def inline(text: str) -> str:
        return CODE.sub(r"<code>\1</code>", html.escape(text))

    colour = "#1a7f37" if part.passed else "#b42318"
    verdict = "passed" if part.passed else "failed"
    items = "".join(f"<li>{inline(m)}</li>" for m in part.messages)
    body = (
        f'<div class="autograder-feedback" style="border-left: 4px solid {colour}; '
        f'padding-left: 8px">'
        f"<p><strong>Autograder: {part.points:g} / {part.max_points:g} ({verdict})</strong></p>"
        f"<ul>{items}</ul>"
    )
    if part.printed:
        body += f"<p>{PRINTED}</p><pre>{html.escape(part.printed)}</pre>"
    if notes:
        body += "<p>Notes:</p><ul>" + "".join(f"<li>{inline(n)}</li>" for n in notes) + "</ul>"
    return body + "</div>"


def _output(part: PartResult, notes: list[str] | None = None):
    text = feedback_text(part)
    if notes:
        text += "\nNotes:\n" + "\n".join(f"- {n}" for n in notes)
    return new_output(
        "display_data", data={"text/html": feedback_html(part, notes), "text/plain": text}
    )


def _not_graded(grade_id: str, max_points: float, reason: str) -> PartResult:
    return PartResult(grade_id, grade_id, 0.0, max_points, False, [f"not graded: {reason}"])


def _unique_ids(cells: list) -> list:
    """Cell ids must be unique (a restored test cell may share one with a student's copy)."""
    seen: set[str] = set()
    for index, cell in enumerate(cells):
        cell_id = cell.get("id")
        if cell_id is None:
            continue
        while cell_id in seen:
            cell_id = f"{cell['id']}-{index}"
            index += 1
        cell["id"] = cell_id
        seen.add(cell_id)
    return cells


def autograded_notebook(
    submission: nbformat.NotebookNode | None,
    release: nbformat.NotebookNode,
    result: GradeResult,
) -> nbformat.NotebookNode:
    """The notebook nbgrader's feedback and formgrader show for this result.

    ``submission`` is None when the file could not be read: the released notebook stands in
    for it and every test cell says why nothing was graded."""
    released = {m["grade_id"]: c for c in release.cells if (m := _meta(c)).get("grade_id")}
    nb = copy.deepcopy(submission if submission is not None else release)
    seen: set[str] = set()
    cells = []
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        grade_id = _meta(cell).get("grade_id")
        if grade_id in seen:  # a duplicated cell: keep the first, as nbgrader does
            cell["metadata"].pop("nbgrader", None)
        elif grade_id is not None:
            seen.add(grade_id)
            if grade_id in released and _is_protected(released[grade_id]):
                cell = copy.deepcopy(released[grade_id])
        cells.append(cell)
    for grade_id, cell in released.items():  # test cells the student deleted
        if grade_id not in seen and _meta(cell).get("grade") and not _meta(cell).get("solution"):
            cells.append(copy.deepcopy(cell))
    nb.cells = _unique_ids(cells)
    nb.metadata = copy.deepcopy(release.metadata)

    parts = {p.id: p for p in result.parts}
    notes = list(result.warnings)
    for cell in nb.cells:
        meta = _meta(cell)
        if cell.get("cell_type") != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        part = parts.get(meta["grade_id"])
        if result.status != "graded":
            part = _not_graded(meta["grade_id"], float(meta.get("points", 0)), str(result.error))
        if part is None:
            continue  # not autograded (e.g. graded by hand)
        cell["outputs"] = [_output(part, notes)]
        notes = []  # the notes go under the first graded cell only
    return nb


def write_autograded(
    submitted_dir: Path,
    autograded_dir: Path,
    notebook_name: str,
    release_path: Path,
    result: GradeResult,
) -> Path:
    """Write ``autograded_dir/notebook_name`` and copy the submission's other files
    (``timestamp.txt``, ``submission_secret.txt``: nbgrader's feedback steps need them)."""
    autograded_dir.mkdir(parents=True, exist_ok=True)
    for source in sorted(submitted_dir.rglob("*")):
        if source.is_symlink() or not source.is_file() or source.suffix == ".ipynb":
            continue
        target = autograded_dir / source.relative_to(submitted_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    try:
        submission = read_notebook(submitted_dir / notebook_name)
    except NotebookError:
        submission = None
    release = read_notebook(release_path)
    nb = autograded_notebook(submission, release, result)
    target = autograded_dir / notebook_name
    text = nbformat.writes(nb)
    write_atomic(target, text if text.endswith("\n") else text + "\n")
    return target
