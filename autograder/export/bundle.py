"""What an exported bundle holds, derived from the Assignment spec alone.

A bundle's ``grader/`` folder is a small course root: the grader package (``autograder/``
without the course tools, the command line, and the other assignments' specs and
drivers), the course's data package ``dlf/`` (the probes of some assignments are drawn
from its generators), and ``solutions/<id>/`` (the reference). Next to it: ``bundle.json``
(the manifest the entry point reads) and ``requirements-grader.txt`` (the exact pins, from
``requirements.txt``, of what grading imports). Nothing here names an assignment: a new one
exports without code changes.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the entry point imports this module: no torch until grading starts
    from autograder.spec import Assignment

ROOT = Path(__file__).resolve().parent.parent.parent  # the course checkout (or the bundle)

# Seconds the entry point needs besides the parts' own limits: starting Python and torch,
# the sandbox's warm process, the reference's outputs on the probes, writing the results.
STARTUP_SECONDS = 60
# The results are written this long before the platform's time limit, at the latest.
SAFETY_SECONDS = 15
PRAIRIELEARN_MAX_TIMEOUT = 600
# Never in a bundle: the course tools and what only a course checkout runs.
LEFT_OUT = {"course", "cli.py", "__main__.py", "build.py", "lazy_imports.py"}
MANIFEST = "bundle.json"
REQUIREMENTS = "requirements-grader.txt"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def parts_seconds(assignment: Assignment) -> float:
    """The longest the parts can run: the sum of their wall-clock limits."""
    return float(sum(p.limits.wall for p in assignment.parts))


def needed_seconds(assignment: Assignment) -> int:
    """The platform time limit under which every part can use all of its own limit."""
    return math.ceil(parts_seconds(assignment) + STARTUP_SECONDS + SAFETY_SECONDS)


@dataclass
class Manifest:
    """``bundle.json``: what the entry point grades, and within how long."""

    assignment: str
    notebook: str
    platform: str
    timeout: int  # the platform's limit, seconds: results are written before it
    isolation: str = "auto"
    parts: list[dict] = field(default_factory=list)  # id, title, points, wall (seconds)
    version: str = ""

    @classmethod
    def of(cls, assignment: Assignment, platform: str, timeout: int, isolation: str):
        from autograder import __version__
        from autograder.notebook import grade_cells, read_cells

        points = {c.grade_id: c.points for c in grade_cells(read_cells(assignment.source_path))}
        missing = [p.id for p in assignment.parts if p.id not in points]
        if missing:
            raise ValueError(f"{assignment.source_path}: no grade cell for parts {missing}")
        parts = [
            {"id": p.id, "title": p.title, "points": points[p.id], "wall": p.limits.wall}
            for p in assignment.parts
        ]
        return cls(
            assignment.id, assignment.notebook, platform, timeout, isolation, parts, __version__
        )

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls(**json.loads(Path(path).read_text()))

    def write(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")


def _spec_modules(assignment: Assignment, package: Path) -> set[str]:
    """This assignment's spec in ``autograder/assignments/`` (a module, or a package with
    its own modules), as file names relative to ``package``; shared checks live outside."""
    single = package / "assignments" / f"{assignment.id}.py"
    folder = package / "assignments" / assignment.id
    found = [single] if single.is_file() else sorted(folder.rglob("*.py"))
    return {"assignments/__init__.py"} | {p.relative_to(package).as_posix() for p in found}


def _other_drivers(assignment: Assignment) -> set[str]:
    """File names of the other assignments' drivers (this one's and shared ones stay)."""
    from autograder import assignments

    names = set()
    for other in assignments.ASSIGNMENT_IDS:
        driver = assignments.get(other).driver
        if driver != assignment.driver:
            names.add(f"drivers/{driver}.py")
    return names


def course_files(assignment: Assignment, root: Path = ROOT) -> list[tuple[Path, str]]:
    """(source file, path inside ``grader/``) for everything grading ``assignment`` needs."""
    files = []
    package = root / "autograder"
    specs, others = _spec_modules(assignment, package), _other_drivers(assignment)
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative.split("/")[0] in LEFT_OUT or relative in others:
            continue
        if relative.startswith("assignments/") and relative not in specs:
            continue
        files.append((path, f"autograder/{relative}"))
    for path in sorted((root / "dlf").rglob("*.py")):
        files.append((path, path.relative_to(root).as_posix()))
    reference = assignment.source_path.parent
    for path in sorted(reference.rglob("*")):
        if path.is_file() and ".ipynb_checkpoints" not in path.parts:
            files.append((path, path.relative_to(assignment.root).as_posix()))
    return files


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(requirements: Path) -> dict[str, str]:
    pins = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            pins[_canonical(line.split("==", 1)[0])] = line
    return pins


def _roots(root: Path) -> list[str]:
    """The distributions the packages import (pyproject's ``dependencies``)."""
    import tomllib

    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return [re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0] for d in project["dependencies"]]


def grader_requirements(root: Path = ROOT) -> list[str]:
    """Exact pins (from ``requirements.txt``) of the packages grading imports and everything
    they require, as installed here: the environment the bundle's setup installs."""
    from packaging.requirements import Requirement

    pins = _pins(root / "requirements.txt")
    seen: set[str] = set()
    pending = _roots(root)
    while pending:
        name = _canonical(pending.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    missing = sorted(n for n in seen if n not in pins)
    if any(n in missing for n in map(_canonical, _roots(root))):
        raise ValueError(f"requirements.txt pins none of {missing}")
    return sorted(pins[n] for n in seen if n in pins)


def torch_pin(requirements: list[str]) -> str:
    return next(line for line in requirements if _canonical(line.split("==")[0]) == "torch")


def write_grader(
    assignment: Assignment, grader: Path, requirements: Path, manifest: Manifest
) -> list[str]:
    """Copy the grader, the reference and the spec into the folder ``grader`` with
    ``bundle.json``, and write the pins to ``requirements``; the pins."""
    for source, relative in course_files(assignment):
        target = grader / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    manifest.write(grader / MANIFEST)
    pins = grader_requirements()
    requirements.parent.mkdir(parents=True, exist_ok=True)
    requirements.write_text(
        f"# The grader's pinned environment for {assignment.id} "
        "(generated by python -m autograder export)\n" + "\n".join(pins) + "\n"
    )
    return pins


@dataclass
class Written:
    """What an export wrote, and what the instructor must set on the platform."""

    path: Path
    platform: str
    timeout: int
    needed: int
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"wrote {self.path}", f"time limit: {self.timeout} s"]
        if self.needed > self.timeout:
            lines.append(
                f"warning: every part may use up to {self.needed} s in all; under a limit "
                f"of {self.timeout} s the parts that do not fit are reported as not graded"
            )
        return "\n".join(lines + self.notes)
