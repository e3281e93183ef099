"""Exported autograders: the same grader inside Gradescope and PrairieLearn.

``python -m autograder export gradescope|prairielearn <id> [-o DIR]`` writes a bundle that
holds the grader package, that assignment's reference and spec (nothing else of the
course) and the platform's entry point (:mod:`autograder.export.harness`), which grades
the uploaded notebook within the platform's time limit and always writes its results file.

- :mod:`autograder.export.bundle`: what goes into a bundle, and the time budget;
- :mod:`autograder.export.harness`: the entry point inside the platform's container;
- :mod:`autograder.export.gradescope`, :mod:`autograder.export.prairielearn`: one platform
  each (its files, its directories, its results format).
"""

from __future__ import annotations

import argparse
import sys

PLATFORMS = ("gradescope", "prairielearn")
EXIT_OK, EXIT_USAGE = 0, 2


def _export(args: argparse.Namespace) -> int:
    import importlib

    from autograder import assignments

    try:
        assignment = assignments.get(args.assignment)
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    platform = importlib.import_module(f"autograder.export.{args.platform}")
    try:
        written = platform.export(
            assignment,
            args.output,
            timeout=args.timeout,
            isolation=args.isolation,
            image=args.image,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(written.summary())
    return EXIT_OK


def add_verb(verbs) -> None:
    """Add ``export`` to the command line's verbs (see :mod:`autograder.cli`)."""
    export = verbs.add_parser(
        "export", help="write a Gradescope autograder zip or a PrairieLearn question"
    )
    export.add_argument("platform", choices=PLATFORMS)
    export.add_argument("assignment", help="assignment id, e.g. collab")
    export.add_argument(
        "-o", "--output", default="_build/export", help="folder to write into (_build/export)"
    )
    export.add_argument(
        "--timeout",
        type=int,
        help="the platform's time limit in seconds (Gradescope: what you set on the "
        "assignment, default 600; PrairieLearn: written into info.json, at most 600; "
        "default: what the assignment's parts need)",
    )
    export.add_argument(
        "--isolation",
        default="auto",
        choices=["auto", "bwrap", "rlimits"],
        help="auto: bubblewrap where the container allows it, else rlimits with a note",
    )
    export.add_argument(
        "--image",
        help="PrairieLearn: the Docker image of the grading container "
        "(build it from the bundle's image/ folder and push it)",
    )
    export.set_defaults(run=_export)
