"""The course verbs of ``python -m autograder``: grade-class, class-report, export-grades.

Exit codes as for the other verbs: 0 done; 2 wrong usage; 3 some submission could not be
graded (the others were, and are recorded) or a grading worker failed (rerun to retry).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_USAGE, EXIT_UNGRADABLE = 0, 2, 3


def _course(args: argparse.Namespace):
    from autograder.course.layout import Course

    return Course.open(args.course, db_url=args.db, course_id=args.course_id)


def _grade_class(args: argparse.Namespace) -> int:
    from autograder import assignments
    from autograder.course.batch import ClassGrader
    from autograder.course.cluster import make_pool, shared_gpu
    from autograder.course.worker import GraderSettings
    from autograder.sandbox.isolation import choose

    try:
        course = _course(args)
        assignments.get(args.assignment)
        choose(args.isolation)  # refuse now (no bubblewrap for auto), not once per student
    except (KeyError, FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    parts = tuple(p for p in args.parts.split(",") if p) if args.parts else None
    settings = GraderSettings(args.assignment, args.device, args.isolation, args.time_limit, parts)
    settings = shared_gpu(settings, args.scheduler, args.workers)  # the tasks carry it, for Dask
    stream = io.StringIO() if args.quiet else sys.stderr
    grader = ClassGrader(course, settings, gradebook=not args.no_gradebook, stream=stream)
    with make_pool(settings, args.scheduler, args.workers) as pool:
        report = grader.run(pool, args.student or None, force=args.force, resync=args.resync)
    print(report.summary())
    return EXIT_OK if report.ok else EXIT_UNGRADABLE


def _class_report(args: argparse.Namespace) -> int:
    from autograder import assignments
    from autograder.course.analytics import write_report
    from autograder.course.results import ResultStore

    try:
        course = _course(args)
        assignment = assignments.get(args.assignment)
    except (KeyError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    found = ResultStore(course, assignment.id).all()
    if not found:
        print(f"error: no results in {course.results(assignment.id)}: run grade-class first")
        return EXIT_USAGE
    out = Path(args.out) if args.out else course.root / "reports" / assignment.id
    page = write_report(assignment, found, out)
    print(f"{assignment.id}: report for {len(found)} students in {page}")
    return EXIT_OK


def _export_grades(args: argparse.Namespace) -> int:
    from autograder.course.cycle import NbgraderError, run_nbgrader
    from autograder.course.export import write_canvas_csv

    try:
        course = _course(args)
        ids = dict(item.split("=", 1) for item in args.canvas_id)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if not args.canvas and not args.nbgrader:
        print("error: nothing to do: give --canvas FILE and/or --nbgrader FILE", file=sys.stderr)
        return EXIT_USAGE
    if args.canvas:
        roster = Path(args.roster) if args.roster else None
        try:
            warnings = write_canvas_csv(
                course, Path(args.canvas), roster, args.match_on, ids, args.missing
            )
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return EXIT_USAGE
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"Canvas gradebook CSV written to {args.canvas}")
    if args.nbgrader:
        try:
            run_nbgrader(
                ["export", f"--to={Path(args.nbgrader).resolve()}", f"--db={course.db_url}",
                 f"--CourseDirectory.course_id={course.course_id}"],
                course.root,
            )  # fmt: skip
        except NbgraderError as err:
            print(f"error: {err}", file=sys.stderr)
            return EXIT_UNGRADABLE
        print(f"nbgrader's grade export written to {args.nbgrader}")
    return EXIT_OK


def _course_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course", default=".", help="nbgrader course directory (default: .)")
    parser.add_argument("--db", help="gradebook URL (default: the course's, sqlite)")
    parser.add_argument("--course-id", help="nbgrader course id (default: the course's)")


def add_verbs(verbs) -> None:
    """Add the course verbs to the ``python -m autograder`` subparsers."""
    grade = verbs.add_parser(
        "grade-class",
        help="grade every collected submission of an assignment (resumable, parallel)",
    )
    grade.add_argument("assignment", help="assignment id, e.g. collab")
    _course_options(grade)
    grade.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="grading processes (default: "
        "one per core; 0: grade in this process)"
    )  # fmt: skip
    grade.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    grade.add_argument("--isolation", default="auto", help="auto, bwrap or rlimits")
    grade.add_argument(
        "--scheduler", default="local",
        help="local (process pool), local-cluster (Dask LocalCluster) or a Dask scheduler "
        "address such as tcp://host:8786",
    )  # fmt: skip
    grade.add_argument("--student", action="append", help="grade only this student (repeatable)")
    grade.add_argument("--force", action="store_true", help="regrade even if unchanged")
    grade.add_argument(
        "--resync", action="store_true",
        help="rewrite the gradebook and autograded notebooks of unchanged results too",
    )  # fmt: skip
    grade.add_argument(
        "--time-limit", type=float, help="at most this many seconds per part (default: the "
        "assignment's limits)"
    )  # fmt: skip
    grade.add_argument("--parts", help="comma-separated part ids to grade (default: all)")
    grade.add_argument("--no-gradebook", action="store_true", help="don't touch the gradebook")
    grade.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    grade.set_defaults(run=_grade_class)

    report = verbs.add_parser("class-report", help="HTML and CSV analytics of a graded class")
    report.add_argument("assignment", help="assignment id, e.g. collab")
    _course_options(report)
    report.add_argument("--out", help="output folder (default: <course>/reports/<assignment>)")
    report.set_defaults(run=_class_report)

    export = verbs.add_parser("export-grades", help="grades as CSV for Canvas and/or nbgrader")
    _course_options(export)
    export.add_argument("--canvas", help="write a Canvas gradebook import CSV here")
    export.add_argument("--nbgrader", help="also write nbgrader's own CSV export here")
    export.add_argument("--roster", help="Canvas gradebook export to take students' ids from")
    export.add_argument(
        "--match-on", default="SIS Login ID", help="roster column equal to the nbgrader "
        "student id (default: SIS Login ID)"
    )  # fmt: skip
    export.add_argument(
        "--canvas-id", action="append", default=[], metavar="ASSIGNMENT=ID",
        help="Canvas assignment id of an assignment (repeatable)",
    )  # fmt: skip
    export.add_argument(
        "--missing", choices=["blank", "zero"], default="blank",
        help="no submission: blank (Canvas keeps its grade) or zero",
    )  # fmt: skip
    export.set_defaults(run=_export_grades)
