"""Build an assignment: generate the student notebook with nbgrader, then prove it grades.

As otter's ``assign`` does, building fails unless the reference solution scores 100 % and
the released notebook scores 0: an exercise whose own solution doesn't pass is never
shipped. It also fails when a part's CPU time limit leaves the reference less than
``HEADROOM`` times the CPU time it needs: limits are kept tight (a hang costs the limit)
but never so tight that a slower correct solution is stopped. ``check_fresh`` regenerates
into a temporary folder and compares with what is committed in exercises/, so a hand edit
or a forgotten rebuild fails CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.grade import Grader
from autograder.result import GradeResult
from autograder.spec import ROOT, Assignment

HEADROOM = 10.0  # a part's CPU limit is at least this many times what the reference uses


class BuildError(RuntimeError):
    """The assignment could not be built or did not verify; the message says why."""


def generate(assignment: Assignment, release_dir: Path) -> Path:
    """Run ``nbgrader generate_assignment`` into ``release_dir``; the student notebook's path."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    with tempfile.TemporaryDirectory(prefix="dlf-build-") as tmp:
        cmd = [
            f"{bin_dir}/nbgrader", "generate_assignment", assignment.id, "--force",
            f"--db=sqlite:///{tmp}/gradebook.db",
            f"--CourseDirectory.release_directory={release_dir.resolve()}",
        ]  # fmt: skip
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    released = release_dir / assignment.id / assignment.notebook
    if done.returncode != 0 or not released.is_file():
        raise BuildError(
            f"nbgrader generate_assignment {assignment.id} failed:\n{done.stderr[-3000:]}"
        )
    return released


def verify(assignment: Assignment, released: Path, grader: Grader | None = None) -> list[str]:
    """Problems with the build: the solution must score 100 % with room to spare under every
    part's CPU limit, the release 0 %."""
    own = grader is None
    grader = grader or Grader(assignment, device="cpu")
    try:
        problems = []
        solution = grader.grade(assignment.source_path)
        if solution.status != "graded" or solution.score != solution.max_score:
            failing = [f"{p.id}: {'; '.join(p.messages)}" for p in solution.parts if not p.passed]
            problems.append(
                f"{assignment.id}: the reference solution scores {solution.score:g}/"
                f"{solution.max_score:g}: " + " | ".join(failing or [str(solution.error)])
            )
        problems += tight_limits(grader.assignment, solution)
        release = grader.grade(released)
        if release.status != "graded" or release.score != 0:
            passing = [p.id for p in release.parts if p.passed]
            problems.append(
                f"{assignment.id}: the released notebook scores {release.score:g}, "
                f"expected 0 (parts passing with no work: {passing})"
            )
        return problems
    finally:
        if own:
            grader.close()


def tight_limits(assignment: Assignment, solution: GradeResult) -> list[str]:
    """Parts whose CPU limit is less than ``HEADROOM`` times the reference's CPU time."""
    limits = {p.id: p.limits for p in assignment.parts}
    problems = []
    for part in solution.parts:
        needed = part.cpu_seconds * HEADROOM
        if part.id in limits and needed > limits[part.id].cpu:
            problems.append(
                f"{assignment.id}: part {part.id}: the reference used {part.cpu_seconds:.2f} s "
                f"of CPU; its limit of {limits[part.id].cpu:g} s leaves less than "
                f"{HEADROOM:g}x headroom for slower correct solutions: raise Limits(cpu=...) "
                f"to at least {needed:.0f} s"
            )
    return problems


def build(assignment: Assignment, check_only: bool = False, verified: bool = True) -> list[str]:
    """Generate into exercises/ (or only compare with it when ``check_only``); verify that
    the solution scores 100 % and the release 0 unless ``verified`` is False."""
    with tempfile.TemporaryDirectory(prefix="dlf-release-") as tmp:
        released = generate(assignment, Path(tmp))
        problems = verify(assignment, released) if verified else []
        committed = assignment.release_path
        if check_only:
            if not committed.is_file():
                problems.append(
                    f"{committed} is missing: run `python -m autograder build {assignment.id}`"
                )
            elif _normalised(committed) != _normalised(released):
                problems.append(
                    f"{committed} is stale or was edited by hand: run "
                    f"`python -m autograder build {assignment.id}` and commit it"
                )
        elif not problems:
            target = committed.parent
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(released.parent, target)
    return problems


def _normalised(path: Path) -> str:
    return json.dumps(json.loads(path.read_text()), sort_keys=True)
