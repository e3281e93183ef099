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


# nbgrader's steps with a folder each (``CourseDirectory.<step>_directory``; by default the
# step's own name).
STEPS = ("source", "release", "submitted", "autograded", "feedback")


@dataclass(frozen=True)
class Course:
    """An nbgrader course directory: its id, its gradebook and its folders."""

    root: Path
    course_id: str
    db_url: str
    renamed: tuple[tuple[str, str], ...] = ()  # (step, folder) where not named as the step

    @classmethod
    def open(cls, root: str | Path, db_url: str | None = None, course_id: str | None = None):
        """Read ``root/nbgrader_config.py``; ``db_url`` and ``course_id`` override it."""
        root = Path(root).resolve()
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such course directory")
        config = read_nbgrader_config(root).get("CourseDirectory", Config())
        folders = {step: config.get(f"{step}_directory", step) for step in STEPS}
        renamed = tuple((step, name) for step, name in folders.items() if name != step)
        db = db_url or config.get("db_url") or f"sqlite:///{root / 'gradebook.db'}"
        course = course_id or config.get("course_id") or "default_course"
        return cls(root, course, db, renamed)

    def folder(self, step: str) -> Path:
        """The folder of one of nbgrader's ``STEPS``."""
        return self.root / dict(self.renamed).get(step, step)

    # ------------------------------------------------------------------ folders
    def submitted(self, student: str, assignment: str) -> Path:
        return self.folder("submitted") / student / assignment

    def autograded(self, student: str, assignment: str) -> Path:
        return self.folder("autograded") / student / assignment

    def feedback(self, student: str, assignment: str) -> Path:
        return self.folder("feedback") / student / assignment

    def source(self, assignment: str) -> Path:
        return self.folder("source") / assignment

    def release(self, assignment: str) -> Path:
        return self.folder("release") / assignment

    def results(self, assignment: str) -> Path:
        return self.root / RESULTS_DIRECTORY / assignment

    def result_path(self, student: str, assignment: str) -> Path:
        return self.results(assignment) / f"{student}.json"

    def students(self, assignment: str, safe: bool = True) -> list[str]:
        """Students with a collected submission of ``assignment``, sorted; with
        ``safe=False``, the folders whose names are not safe student ids instead."""
        base = self.folder("submitted")
        if not base.is_dir():
            return []
        return sorted(
            entry.name
            for entry in base.iterdir()
            if bool(SAFE_ID.match(entry.name)) == safe
            and not entry.name.startswith(".")
            and (entry / assignment).is_dir()
        )
