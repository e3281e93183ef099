"""The course cycle, with nbgrader's own verbs over its filesystem exchange.

Instructor: ``generate_assignment`` (solutions/ -> exercises/, and the gradebook learns the
grade cells), ``release_assignment``, ``collect``; then ``python -m autograder grade-class``;
then ``generate_feedback``, ``release_feedback``, ``export``. Student: ``fetch_assignment``,
``submit``, ``fetch_feedback``. :class:`Cycle` runs each verb with the flags a course needs
(``--Exchange.root``, ``--CourseDirectory.course_id``, the gradebook URL, a private cache per
student), either as a real ``nbgrader`` process or, for tests, in this process (nbgrader's
own test-suite does the same: an nbgrader start-up costs seconds, a verb milliseconds).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

from autograder.course.layout import Course


class NbgraderError(RuntimeError):
    """An nbgrader verb failed; the message holds the end of its log."""


def nbgrader_environment() -> dict[str, str]:
    """This environment with the venv's bin/ first on PATH: nbgrader runs ``alembic`` from it
    when it creates or upgrades a gradebook."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


@contextmanager
def _inside(cwd: Path, env: dict[str, str]):
    old_cwd, old_env = os.getcwd(), os.environ.copy()
    os.chdir(cwd)
    os.environ.update(env)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)


def run_nbgrader(args: list[str], cwd: Path, in_process: bool = False) -> str:
    """Run ``nbgrader *args`` in ``cwd``; its log, or :class:`NbgraderError` if it failed."""
    cwd = Path(cwd)
    if not in_process:
        done = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=cwd,
            env=nbgrader_environment(),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise NbgraderError(f"nbgrader {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout + done.stderr
    from jupyter_core.application import NoStart
    from nbgrader.apps import NbGraderApp

    log = StringIO()
    code = 0
    with _inside(cwd, nbgrader_environment()):
        app = NbGraderApp.instance()
        try:
            app.initialize(args)
            app.init_logging(logging.StreamHandler, [log], color=False, subapps=True)
            app.start()
        except NoStart:
            pass
        except SystemExit as stop:
            code = stop.code or 0
        finally:
            app.reset()
    if code != 0:
        raise NbgraderError(f"nbgrader {' '.join(args)} failed:\n{log.getvalue()[-3000:]}")
    return log.getvalue()


@dataclass
class Cycle:
    """One course and one exchange folder; each method is one nbgrader verb."""

    course: Course
    exchange: Path
    in_process: bool = False

    def _instructor(self, verb: str, *args: str) -> str:
        flags = [
            f"--CourseDirectory.root={self.course.root}",
            f"--CourseDirectory.course_id={self.course.course_id}",
            f"--db={self.course.db_url}",
        ]
        return run_nbgrader([verb, *args, *flags], self.course.root, self.in_process)

    def _exchange_root(self) -> str:
        return f"--Exchange.root={Path(self.exchange).resolve()}"

    def _student(self, verb: str, student: str, home: Path, *args: str) -> str:
        home = Path(home)
        home.mkdir(parents=True, exist_ok=True)
        flags = [
            self._exchange_root(),
            f"--CourseDirectory.course_id={self.course.course_id}",
            f"--Exchange.cache={(home / '.nbgrader-cache').resolve()}",
            f"--CourseDirectory.student_id={student}",
        ]
        return run_nbgrader([verb, *args, *flags], home, self.in_process)

    # ---------------------------------------------------------------- instructor
    def generate(self, assignment: str) -> str:
        """solutions/<a> -> exercises/<a>, recording the grade cells in the gradebook."""
        return self._instructor("generate_assignment", assignment, "--force")

    def release(self, assignment: str) -> str:
        Path(self.exchange).mkdir(parents=True, exist_ok=True)
        return self._instructor("release_assignment", assignment, "--force", self._exchange_root())

    def collect(self, assignment: str) -> str:
        # Submissions all belong to one Unix user here, so don't warn about their owner.
        return self._instructor(
            "collect", assignment, "--ExchangeCollect.check_owner=False", self._exchange_root()
        )

    def generate_feedback(self, assignment: str) -> str:
        return self._instructor("generate_feedback", assignment, "--force")

    def release_feedback(self, assignment: str) -> str:
        return self._instructor("release_feedback", assignment, self._exchange_root())

    def export(self, path: Path) -> str:
        """nbgrader's own grade export (CSV: one row per student and assignment)."""
        return self._instructor("export", f"--to={Path(path).resolve()}")

    # ------------------------------------------------------------------- student
    def fetch(self, student: str, home: Path, assignment: str) -> str:
        return self._student("fetch_assignment", student, home, assignment)

    def submit(self, student: str, home: Path, assignment: str) -> str:
        return self._student("submit", student, home, assignment)

    def fetch_feedback(self, student: str, home: Path, assignment: str) -> str:
        return self._student("fetch_feedback", student, home, assignment)


def record_assignment(course: Course, assignment: str, in_process: bool = False) -> None:
    """Teach the gradebook an assignment's notebooks and grade cells, as
    ``generate_assignment`` does, without touching the course's release folder."""
    if not (course.source(assignment)).is_dir():
        raise NbgraderError(
            f"{course.source(assignment)} is missing: the gradebook has no assignment "
            f"{assignment!r} and it cannot be generated without its source notebook"
        )
    with tempfile.TemporaryDirectory(prefix="dlf-record-") as tmp:
        args = [
            "generate_assignment", assignment, "--force",
            f"--CourseDirectory.root={course.root}",
            f"--CourseDirectory.release_directory={tmp}",
            f"--CourseDirectory.course_id={course.course_id}",
            f"--db={course.db_url}",
        ]  # fmt: skip
        run_nbgrader(args, course.root, in_process)
