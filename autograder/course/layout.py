"""Where things live in an nbgrader course directory, read from its ``nbgrader_config.py``.

nbgrader's layout is ``<root>/<step>/<student>/<assignment>/`` for the steps ``submitted``,
``autograded`` and ``feedback``; the source and release folders are
``<root>/<source>/<assignment>/`` (this course: ``solutions/`` and ``exercises/``). Our
grading results go next to them, in ``<root>/autograded-results/<assignment>/<student>.json``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

RESULTS_DIRECTORY = "autograded-results"
# nbgrader refuses ids with these; so do we, so that a student id is always a safe file name
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")


def read_nbgrader_config(root: Path) -> Config:
    """The course's ``nbgrader_config.py`` (an empty config when there is none)."""
    try:
        return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    except ConfigFileNotFound:
        return Config()


@dataclass(frozen=True)
class Course:
    """An nbgrader course directory: its id, its gradebook and its folders."""

    root: Path
    course_id: str
    db_url: str
    source_directory: str = "source"
    release_directory: str = "release"
    submitted_directory: str = "submitted"
    autograded_directory: str = "autograded"
    feedback_directory: str = "feedback"

    @classmethod
    def open(cls, root: str | Path, db_url: str | None = None, course_id: str | None = None):
        """Read ``root/nbgrader_config.py``; ``db_url`` and ``course_id`` override it."""
        root = Path(root).resolve()
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such course directory")
        config = read_nbgrader_config(root).get("CourseDirectory", Config())
        names = {
            key: config.get(key, default)
            for key, default in [
                ("source_directory", "source"),
                ("release_directory", "release"),
                ("submitted_directory", "submitted"),
                ("autograded_directory", "autograded"),
                ("feedback_directory", "feedback"),
            ]
        }
        db = db_url or config.get("db_url") or f"sqlite:///{root / 'gradebook.db'}"
        course = course_id or config.get("course_id") or "default_course"
        return cls(root, course, db, **names)

    # ------------------------------------------------------------------ folders
    def submitted(self, student: str, assignment: str) -> Path:
        return self.root / self.submitted_directory / student / assignment

    def autograded(self, student: str, assignment: str) -> Path:
        return self.root / self.autograded_directory / student / assignment

    def feedback(self, student: str, assignment: str) -> Path:
        return self.root / self.feedback_directory / student / assignment

    def source(self, assignment: str) -> Path:
        return self.root / self.source_directory / assignment

    def release(self, assignment: str) -> Path:
        return self.root / self.release_directory / assignment

    def results(self, assignment: str) -> Path:
        return self.root / RESULTS_DIRECTORY / assignment

    def result_path(self, student: str, assignment: str) -> Path:
        return self.results(assignment) / f"{student}.json"

    def students(self, assignment: str, safe: bool = True) -> list[str]:
        """Students with a collected submission of ``assignment``, sorted; with
        ``safe=False``, the folders whose names are not safe student ids instead."""
        base = self.root / self.submitted_directory
        if not base.is_dir():
            return []
        return sorted(
            entry.name
            for entry in base.iterdir()
            if bool(SAFE_ID.match(entry.name)) == safe
            and not entry.name.startswith(".")
            and (entry / assignment).is_dir()
        )
