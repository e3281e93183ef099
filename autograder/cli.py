"""Command line: ``python -m autograder grade|build|list``, and for running a course
``grade-class|class-report|export-grades`` (:mod:`autograder.course.commands`); ``export``
writes a Gradescope or PrairieLearn autograder (:mod:`autograder.export`); the grading
service: ``serve`` (:mod:`autograder.service.server`).

Exit codes: 0 graded (whatever the score) or built; 3 some submission could not be graded
(not a notebook, unreadable) or a build did not verify; 2 wrong usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from autograder import assignments
from autograder.course import commands as course_commands
from autograder.export import add_verb as add_export_verb
from autograder.service import server as service_server

EXIT_OK, EXIT_USAGE, EXIT_UNGRADABLE = 0, 2, 3


def _grade(args: argparse.Namespace) -> int:
    from autograder.grade import Grader
    from autograder.result import GradeResult
    from autograder.sandbox import SandboxError

    try:
        assignment = assignments.get(args.assignment)
        grader = Grader(assignment, device=args.device, isolation=args.isolation)
    except (KeyError, ValueError, RuntimeError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    code = EXIT_OK
    results = []
    with grader:
        for submission in args.submissions:
            try:
                result = grader.grade(submission)
            except SandboxError as err:  # every file gets a result; the next one may grade
                result = GradeResult(assignment.id, submission, "ungradable", error=str(err))
                result.isolation = grader.sandbox.isolation
            results.append(result)
            if result.status != "graded":
                code = EXIT_UNGRADABLE
            if not args.quiet:
                print(result.to_text())
    if args.json:
        if len(results) == 1:
            results[0].write_json(args.json)
        else:
            Path(args.json).write_text(json.dumps([r.to_dict() for r in results], indent=2))
    if args.report:
        Path(args.report).write_text("\n".join(r.to_text() for r in results))
    return code


def _build(args: argparse.Namespace) -> int:
    from autograder.build import BuildError, build

    ids = assignments.ASSIGNMENT_IDS if args.all or not args.ids else args.ids
    code = EXIT_OK
    for assignment_id in ids:
        try:
            problems = build(
                assignments.get(assignment_id), check_only=args.check, verified=not args.no_verify
            )
        except (KeyError, BuildError) as err:
            problems = [str(err)]
        for problem in problems:
            print(f"FAILED {problem}", file=sys.stderr)
        if problems:
            code = EXIT_UNGRADABLE
        else:
            verb = "is fresh" if args.check else "built"
            checked = "" if args.no_verify else " and verified (solution 100 %, release 0 %)"
            print(f"{assignment_id}: {verb}{checked}")
    return code


def _list(args: argparse.Namespace) -> int:
    for assignment in assignments.all_assignments():
        parts = ", ".join(p.id for p in assignment.parts)
        print(f"{assignment.id}: {parts}")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    verbs = top.add_subparsers(dest="verb", required=True)
    grade = verbs.add_parser("grade", help="grade submitted notebooks")
    grade.add_argument("submissions", nargs="+", help="notebook files (.ipynb)")
    grade.add_argument("--assignment", "-a", required=True, help="assignment id, e.g. collab")
    grade.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    grade.add_argument("--isolation", default="auto", help="auto, bwrap or rlimits")
    grade.add_argument("--json", help="write the result(s) as JSON here")
    grade.add_argument("--report", help="write the readable report(s) here")
    grade.add_argument("--quiet", "-q", action="store_true", help="don't print the report")
    grade.set_defaults(run=_grade)
    build = verbs.add_parser("build", help="generate exercises/ from solutions/ and verify")
    build.add_argument("ids", nargs="*", help="assignment ids (default: all)")
    build.add_argument("--all", action="store_true", help="every assignment")
    build.add_argument("--check", action="store_true", help="only check exercises/ is fresh")
    build.add_argument(
        "--no-verify", action="store_true", help="skip grading the solution and the release"
    )
    build.set_defaults(run=_build)
    listing = verbs.add_parser("list", help="list assignments and their parts")
    listing.set_defaults(run=_list)
    course_commands.add_verbs(verbs)
    add_export_verb(verbs)
    service_server.add_verb(verbs)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)
