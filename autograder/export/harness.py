"""The entry point inside a platform's container: grade the upload within the time limit and
always write the results file.

``python -m autograder.export.harness gradescope|prairielearn [--root DIR]`` (the bundle's
``run_autograder`` or ``run.sh`` calls it; ``--root`` is ``/autograder`` or ``/grade``, a
temporary folder in the tests). It finds the notebook, stages the reference and the
platform's private files root-only, then grades the parts in order, as many at a time as
fit in what is left of the platform's limit (the sum of their wall-clock limits). A
watchdog writes the parts graded so far just before the limit, because a platform that
kills the grader records nothing. A missing, extra or unreadable file gets a plain message.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autograder.export.bundle import MANIFEST, SAFETY_SECONDS, Manifest
from autograder.result import PartResult

GRADER_ROOT = Path(__file__).resolve().parent.parent.parent
JUDGE_SECONDS = 2.0  # per part, for comparing and diagnosing in the trusted process
MAX_DEPTH, MAX_ENTRIES = 4, 2000  # how much of an uploaded folder is looked at
SKIPPED_NAMES = {".ipynb_checkpoints", "__MACOSX", "__pycache__"}


@dataclass
class Layout:
    """Where a platform puts the upload and wants the results; what else is private."""

    submission: Path
    results: Path
    private: list[Path] = field(default_factory=list)  # the platform's files about the student


@dataclass
class Outcome:
    """What grading found so far; the platform module turns it into its results file."""

    manifest: Manifest
    parts: list[PartResult] = field(default_factory=list)  # graded, in order
    problem: str | None = None  # the upload could not be graded (student-visible)
    error: str | None = None  # the grader itself failed (instructor-visible)
    notes: list[str] = field(default_factory=list)  # for the student
    staff: list[str] = field(default_factory=list)  # for the instructor (stdout)
    out_of_time: bool = False
    seconds: float = 0.0
    deadline: float = 0.0  # time.monotonic() by which the results must be written
    limit: float = 0.0  # the platform's time limit, seconds

    def not_graded_message(self) -> str:
        return (
            f"not graded: the time limit of {self.limit:g} s for the whole submission "
            "ran out before this part could run (the parts before it used the time)"
        )


MAX_MESSAGE = 4000  # characters of one part's feedback in a results file


def part_rows(outcome: Outcome) -> list[tuple[dict, PartResult | None]]:
    """Every part of the assignment, in order, with its result (None: not graded)."""
    graded = {p.id: p for p in outcome.parts}
    return [(part, graded.get(part["id"])) for part in outcome.manifest.parts]


def feedback(result: PartResult | None, outcome: Outcome) -> str:
    """A part's messages for the student (the same words as ``autograder grade``)."""
    lines = [*result.messages, *result.printed_block()] if result else []
    text = "\n".join(lines) if result else outcome.not_graded_message()
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + " [...]"


def student_summary(outcome: Outcome) -> str:
    """The overall message: the score, or why the upload could not be graded; notes."""
    if outcome.error:
        lines = ["The autograder itself failed (not your notebook): tell your instructor."]
    elif outcome.problem:
        lines = [f"Could not grade your submission: {outcome.problem}"]
    else:
        score = sum(r.points for _, r in part_rows(outcome) if r)
        total = sum(part["points"] for part, _ in part_rows(outcome))
        lines = [f"Score: {score:g} / {total:g}"]
        if outcome.out_of_time or len(outcome.parts) < len(outcome.manifest.parts):
            lines.append(
                f"Some parts were not graded: the time limit of {outcome.limit:g} s "
                "for the whole submission ran out; make the slow part faster and resubmit."
            )
    lines.extend(outcome.notes)
    return "\n".join(lines)


def find_notebook(directory: Path, name: str) -> tuple[Path | None, str | None, list[str]]:
    """The notebook to grade in ``directory``: the one called ``name`` (the shallowest), or
    the only notebook there is. Returns (path, problem, notes); links are never followed."""
    if not directory.is_dir():
        return None, f"Nothing was submitted: upload your notebook {name}.", []
    notebooks, others = [], []
    stack, seen = [(directory, 0)], 0
    while stack:
        folder, depth = stack.pop()
        for entry in sorted(folder.iterdir()):
            seen += 1
            if seen > MAX_ENTRIES:
                break
            relative = entry.relative_to(directory).as_posix()
            if entry.name in SKIPPED_NAMES or entry.name.startswith("._"):
                continue
            if entry.is_symlink():
                others.append(f"{relative} (a link)")
            elif entry.is_dir():
                if depth < MAX_DEPTH:
                    stack.append((entry, depth + 1))
            elif entry.suffix.lower() == ".ipynb":
                notebooks.append(entry)
            else:
                others.append(relative)
    exact = sorted((p for p in notebooks if p.name == name), key=lambda p: (len(p.parts), p))
    notes = []
    if exact:
        chosen = exact[0]
    elif len(notebooks) == 1:
        chosen = notebooks[0]
        notes.append(f"Graded {chosen.name}; name your notebook {name} next time.")
    elif not notebooks:
        found = ", ".join(others[:10]) or "no files"
        return None, f"No notebook in your submission ({found}): upload {name}.", []
    else:
        names = ", ".join(p.relative_to(directory).as_posix() for p in notebooks[:10])
        return None, f"Several notebooks ({names}) and none is named {name}: submit {name}.", []
    ignored = [p.relative_to(directory).as_posix() for p in notebooks if p != chosen] + others
    if ignored:
        more = f" and {len(ignored) - 10} more" if len(ignored) > 10 else ""
        notes.append(f"Only {chosen.name} is graded; ignored: {', '.join(ignored[:10])}{more}.")
    return chosen, None, notes


def fitting(parts: list, seconds_left: float) -> list:
    """The longest first run of ``parts`` whose wall-clock limits fit in ``seconds_left``."""
    chunk, used = [], 0.0
    for part in parts:
        used += part.limits.wall + JUDGE_SECONDS
        if used > seconds_left:
            break
        chunk.append(part)
    return chunk


def stage(layout: Layout, grader_root: Path = GRADER_ROOT) -> list[Path]:
    """Make the reference, the specs (hidden probes) and the platform's files about the
    student root-only, and the results folder writable by root only: under ``rlimits`` the
    student's code runs as an unprivileged user, which then reads and writes none of them."""
    private = [grader_root / "solutions", grader_root / "autograder" / "assignments"]
    staged = []
    for path in private + layout.private:
        if path.exists() and not path.is_symlink():
            os.chmod(path, 0o700 if path.is_dir() else 0o600)
            staged.append(path)
    layout.results.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.results.parent, 0o755)
    return staged


def choose_isolation(requested: str) -> tuple[str, str]:
    """bubblewrap where the container lets it create namespaces; else ``rlimits``, asked
    for by name, with the note the instructor sees."""
    from autograder.sandbox import isolation as iso

    if requested in ("auto", "bwrap") and iso.bwrap_works():
        return "bwrap", "isolation: bwrap (bubblewrap namespaces inside the platform's container)"
    if requested == "bwrap":
        raise RuntimeError("the bundle asks for bubblewrap, which cannot run in this container")
    uid = os.getuid()
    return "rlimits", (
        "isolation: rlimits (weaker): bubblewrap cannot create namespaces in this container, "
        "so the student's code runs under resource limits, in the platform's throwaway "
        f"container; the reference and hidden probes were made root-only (grader uid {uid})"
    )


class Writer:
    """Writes the results file once: at the end, or from the watchdog at the deadline."""

    def __init__(self, layout: Layout, render: Callable[[Outcome], dict]):
        self.layout, self.render = layout, render
        self.lock = threading.Lock()
        self.written = False

    def write(self, outcome: Outcome, started: float) -> None:
        from autograder.drivers.files import write_json

        with self.lock:
            if self.written:
                return
            outcome.seconds = time.monotonic() - started
            results = self.render(outcome)
            path = self.layout.results
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, results, indent=2, mode=0o644)
            self.written = True

    def expire(self, outcome: Outcome, started: float) -> None:
        """The deadline came: write what was graded so far and leave at once."""
        outcome.out_of_time = True
        outcome.staff.append("the time budget ran out: wrote the parts graded so far")
        try:
            self.write(outcome, started)
        finally:
            report(outcome)
            os._exit(0)


def grade_upload(outcome: Outcome, layout: Layout, lock: threading.Lock) -> None:
    """Find, check and grade the upload into ``outcome``, part by part within the budget."""
    from autograder.notebook import NotebookError, read_cells
    from autograder.sandbox import SandboxError

    manifest = outcome.manifest
    path, problem, notes = find_notebook(layout.submission, manifest.notebook)
    outcome.notes.extend(notes)
    if problem:
        outcome.problem = problem
        return
    try:
        read_cells(path)
    except NotebookError as err:
        outcome.problem = str(err).replace(str(path), path.name)
        return
    outcome.staff.append(f"graded {path}")
    isolation, note = choose_isolation(manifest.isolation)
    outcome.staff.append(note)
    outcome.staff.extend(f"made root-only: {p}" for p in stage(layout))
    assignment = importlib.import_module(f"autograder.assignments.{manifest.assignment}")
    try:
        grade_parts(outcome, path, assignment.ASSIGNMENT, isolation, lock)
    except SandboxError as err:  # bubblewrap passed its probe but could not start here
        if isolation != "bwrap" or manifest.isolation == "bwrap" or outcome.parts:
            raise
        outcome.staff.append(f"{err}; grading under rlimits instead")
        grade_parts(outcome, path, assignment.ASSIGNMENT, "rlimits", lock)


def grade_parts(outcome: Outcome, path: Path, assignment, isolation: str, lock) -> None:
    """Grade the parts in order, as many at a time as fit in the time left."""
    from autograder.grade import Grader

    with Grader(assignment, device="cpu", isolation=isolation) as grader:
        pending = list(assignment.parts)
        while pending:
            chunk = fitting(pending, outcome.deadline - time.monotonic())
            if not chunk:
                outcome.out_of_time = True
                outcome.staff.append(f"not graded for lack of time: {[p.id for p in pending]}")
                return
            result = grader.grade(path, only=[p.id for p in chunk])
            if result.status != "graded":
                outcome.problem = str(result.error).replace(str(path), path.name)
                return
            # Warnings about the isolation are for the instructor; the rest (cells that
            # were skipped, say) for the student.
            staff = [w for w in result.warnings if w.startswith("WARNING")]
            with lock:
                outcome.parts.extend(result.parts)
                outcome.notes.extend(
                    w for w in result.warnings if w not in outcome.notes and w not in staff
                )
            outcome.staff.extend(w for w in staff if w not in outcome.staff)
            note = getattr(result, "isolation_note", "")  # who ran the code, under what limits
            if note and note not in outcome.staff:
                outcome.staff.append(note)
            outcome.staff.append(result.to_text().rstrip())
            pending = pending[len(chunk) :]


def outside_modules() -> list[str]:
    """Course modules imported from anywhere but the bundle (none, when it is complete)."""
    found = []
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None) or ""
        if name.split(".")[0] in ("autograder", "dlf") and origin:
            if not Path(origin).resolve().is_relative_to(GRADER_ROOT):
                found.append(f"{name} ({origin})")
    return sorted(found)


def report(outcome: Outcome) -> None:
    """The instructor's view (the platform keeps the entry point's output for staff)."""
    for line in outcome.staff:
        print(line)
    outside = outside_modules()
    if outside:
        print("code from outside the bundle: " + ", ".join(outside))
    if outcome.problem:
        print(f"not gradable: {outcome.problem}")
    if outcome.error:
        print(outcome.error)
    sys.stdout.flush()


def run(platform: str, root: Path, timeout: float | None = None) -> int:
    """Grade the upload under ``root`` as ``platform`` lays it out; always write results."""
    started = time.monotonic()
    module = importlib.import_module(f"autograder.export.{platform}")
    layout: Layout = module.layout(root)
    manifest = Manifest.read(GRADER_ROOT / MANIFEST)
    limit = float(timeout or manifest.timeout)
    outcome = Outcome(manifest, limit=limit)
    outcome.staff.append(f"grader: {GRADER_ROOT} ({manifest.assignment}, limit {limit:g} s)")
    deadline = started + limit - min(SAFETY_SECONDS, max(2.0, limit / 10))
    outcome.deadline = deadline
    writer = Writer(layout, module.results)
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), writer.expire,
                               args=(outcome, started))  # fmt: skip
    watchdog.daemon = True
    watchdog.start()
    signal.signal(signal.SIGTERM, lambda *_: writer.expire(outcome, started))
    try:
        grade_upload(outcome, layout, writer.lock)
    except Exception:  # noqa: BLE001 - whatever happens, a results file is written
        outcome.error = "the grader failed:\n" + traceback.format_exc()
    writer.write(outcome, started)
    watchdog.cancel()
    report(outcome)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.export.harness")
    parser.add_argument("platform", choices=["gradescope", "prairielearn"])
    parser.add_argument("--root", help="the platform's folder (default /autograder or /grade)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=os.environ.get("DLF_PLATFORM_TIMEOUT"),
        help="override the bundle's time limit, seconds (or DLF_PLATFORM_TIMEOUT)",
    )
    args = parser.parse_args(argv)
    root = Path(args.root or {"gradescope": "/autograder", "prairielearn": "/grade"}[args.platform])
    return run(args.platform, root, args.timeout)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
