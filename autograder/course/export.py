"""Grades out of nbgrader's gradebook, as a CSV that a Canvas gradebook imports.

The gradebook is the source of truth (it holds the autograder's scores and any manual
grade or extra credit given in the formgrader). nbgrader's own ``nbgrader export`` writes
its CSV (one row per student and assignment); :func:`write_canvas_csv` writes Canvas's
layout, the one Canvas itself exports:

- columns ``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per
  assignment; Canvas matches a row to a student on ``ID``, ``SIS User ID`` or
  ``SIS Login ID`` (one is enough) and ignores ``Student`` (display only);
- an assignment column is named ``<name> (<Canvas assignment id>)`` to update an existing
  Canvas assignment; a column without an id is offered as a new assignment on import;
- a second row ``Points Possible`` gives each assignment's maximum;
- a blank cell leaves Canvas's grade unchanged; scores are points, not percentages.

Without a roster the nbgrader student id goes in ``SIS Login ID`` (with JupyterHub the
login is the student id). With ``roster=`` (Canvas's own gradebook export, or any CSV with
those five columns) students are matched on ``match_on`` and Canvas's ids are copied.
"""

from __future__ import annotations

import csv
from pathlib import Path

from nbgrader.api import Gradebook

from autograder.course.layout import Course

CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "Points Possible"


def read_roster(path: Path, match_on: str = "SIS Login ID") -> dict[str, dict[str, str]]:
    """Canvas's rows by ``match_on``; Canvas's extra rows (points, test student) skipped."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or match_on not in reader.fieldnames:
            raise ValueError(f"{path}: no {match_on!r} column (columns: {reader.fieldnames})")
        roster = {}
        for row in reader:
            key = (row.get(match_on) or "").strip()
            if not key or POINTS_POSSIBLE in (row.get("Student") or ""):
                continue
            roster[key] = {c: (row.get(c) or "").strip() for c in CANVAS_COLUMNS}
    return roster


def _display_name(student) -> str:
    if student.last_name or student.first_name:
        return ", ".join(n for n in (student.last_name, student.first_name) if n)
    return student.id


def canvas_table(
    course: Course,
    roster: dict[str, dict[str, str]] | None = None,
    canvas_ids: dict[str, str] | None = None,
    missing: str = "blank",
) -> tuple[list[list[str]], list[str]]:
    """The CSV rows (header, points possible, students) and warnings."""
    canvas_ids = canvas_ids or {}
    warnings = []
    with Gradebook(course.db_url, course.course_id) as gb:
        names = [a.name for a in gb.assignments]
        maxima = {a.name: float(a.max_score) for a in gb.assignments}
        people = {s.id: s for s in gb.students}
        scores = {
            (sub.student.id, a.name): float(sub.score)
            for a in gb.assignments
            for sub in a.submissions
        }
        header = CANVAS_COLUMNS + [
            f"{n} ({canvas_ids[n]})" if n in canvas_ids else n for n in names
        ]
        rows = [header, [POINTS_POSSIBLE, "", "", "", ""] + [f"{maxima[n]:g}" for n in names]]
        students = sorted(people) if roster is None else sorted(set(people) | set(roster))
        for student in students:
            if roster is not None and student not in roster:
                warnings.append(f"{student} is in the gradebook but not in the roster")
            if roster is not None and student in roster:
                identity = [roster[student][c] for c in CANVAS_COLUMNS]
            else:
                name = _display_name(people[student]) if student in people else student
                identity = [name, "", "", student, ""]
            cells = []
            for n in names:
                if (student, n) in scores:
                    cells.append(f"{scores[(student, n)]:g}")
                else:
                    cells.append("0" if missing == "zero" else "")
            rows.append(identity + cells)
    return rows, warnings


def write_canvas_csv(
    course: Course,
    path: Path,
    roster: Path | None = None,
    match_on: str = "SIS Login ID",
    canvas_ids: dict[str, str] | None = None,
    missing: str = "blank",
) -> list[str]:
    """Write the Canvas CSV to ``path``; the warnings (students Canvas won't match)."""
    table = read_roster(roster, match_on) if roster is not None else None
    rows, warnings = canvas_table(course, table, canvas_ids, missing)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return warnings
