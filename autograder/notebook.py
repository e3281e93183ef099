"""Reading notebooks defensively: a broken file gets a clear error, never a traceback.

Also reads nbgrader's grade cells, whose ``grade_id`` names an autograder part and whose
``points`` give that part's weight.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing nbformat costs seconds (jsonschema): only where it is needed
    import nbformat

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_DEPTH = 100  # a notebook nests about 6 deep; rich outputs a little more
NBGRADER_TYPES = {
    "grade_id": (str,),
    "points": (int, float),
    "grade": (bool,),
    "solution": (bool,),
    "locked": (bool,),
    "task": (bool,),
    "schema_version": (int,),
}


class NotebookError(ValueError):
    """The file is not a notebook we can read; the message says why."""


@dataclass(frozen=True)
class GradeCell:
    """An nbgrader autograded test cell: ``grade_id`` and its ``points``."""

    grade_id: str
    points: float
    source: str


def read_cells(path: str | Path) -> dict:
    """Read ``path`` as a version-4 notebook, as plain JSON data (sources joined into strings),
    or raise :class:`NotebookError`. Fast: nbformat is imported only to upgrade an old
    notebook, so a grading process never pays for its import."""
    path = Path(path)
    if not path.is_file():
        raise NotebookError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"{path}: {size} bytes is larger than the {MAX_NOTEBOOK_BYTES} allowed")
    raw = path.read_bytes()
    if not raw.strip():
        raise NotebookError(f"{path}: the file is empty, not a notebook")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise NotebookError(f"{path}: not UTF-8 text ({err.reason})") from None
    except (RecursionError, MemoryError):
        raise NotebookError(f"{path}: not a notebook: its JSON is nested too deeply") from None
    except json.JSONDecodeError as err:
        raise NotebookError(
            f"{path}: not a notebook: invalid JSON at line {err.lineno}, column {err.colno} "
            f"({err.msg})"
        ) from None
    if isinstance(data, dict) and data.get("nbformat", 4) != 4:  # an older format: upgrade
        try:
            import nbformat

            data = json.loads(json.dumps(nbformat.convert(nbformat.from_dict(data), 4)))
        except Exception as err:  # nbformat raises many kinds
            raise NotebookError(f"{path}: not a readable notebook ({err})") from None
    if _depth(data) > MAX_DEPTH:
        raise NotebookError(f"{path}: not a notebook: its JSON is nested too deeply")
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotebookError(f"{path}: not a notebook: no list of cells")
    for i, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise NotebookError(f"{path}: cell {i} has no cell_type")
        if not isinstance(cell.get("metadata", {}), dict):
            raise NotebookError(f"{path}: cell {i} has metadata that is not a mapping")
        problem = _nbgrader_problem(cell.get("metadata", {}).get("nbgrader"))
        if problem:
            raise NotebookError(f"{path}: cell {i} has nbgrader metadata {problem}")
        src = cell.get("source", "")
        if isinstance(src, list):
            cell["source"] = "".join(str(s) for s in src)
        elif not isinstance(src, str):
            raise NotebookError(f"{path}: cell {i} has a source that is not text")
    return data


def _depth(value) -> int:
    """How deeply ``value`` nests (iteratively: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _nbgrader_problem(meta) -> str | None:
    """Why a cell's nbgrader metadata is unusable (wrong types), or None."""
    if meta is None:
        return None
    if not isinstance(meta, dict):
        return f"that is not a mapping ({type(meta).__name__}): restore the cell from the release"
    for key, types in NBGRADER_TYPES.items():
        value = meta.get(key)
        if value is not None and (not isinstance(value, types) or
                                  (bool not in types and isinstance(value, bool))):  # fmt: skip
            return f"whose {key!r} is a {type(value).__name__}: restore the cell from the release"
    return None


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """:func:`read_cells` as an nbformat ``NotebookNode`` (for writing notebooks back)."""
    import nbformat

    data = read_cells(path)
    try:
        return nbformat.from_dict(data)
    except Exception as err:  # nbformat raises many kinds
        raise NotebookError(f"{path}: not a readable notebook ({err})") from None


def code_cells(nb: dict) -> list[str]:
    """The sources of the code cells, in notebook order."""
    return [c["source"] for c in nb["cells"] if c.get("cell_type") == "code"]


def grade_cells(nb: dict) -> list[GradeCell]:
    """nbgrader's autograded test cells (``grade: true`` and not ``solution``), in order."""
    cells = []
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not isinstance(meta, dict):
            continue
        if meta.get("grade") and not meta.get("solution") and cell.get("cell_type") == "code":
            cells.append(GradeCell(meta["grade_id"], float(meta.get("points", 0)), cell["source"]))
    return cells
