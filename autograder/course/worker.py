"""What runs in a grading worker process: one warm :class:`~autograder.grade.Grader` per
assignment, reused for every submission the process is given.

A worker imports torch once, starts its sandbox's zygote once and computes the reference
outputs once; each submission then costs only the sandboxed children that run its parts
(a fresh fork per submission, as always). The same functions serve the local process pool
(:mod:`autograder.course.batch`) and Dask workers (:mod:`autograder.course.cluster`).
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from autograder import assignments
from autograder.grade import Grader, resolve_device, sandbox_for
from autograder.spec import Assignment


@dataclass(frozen=True)
class GraderSettings:
    """How workers grade: picklable, so it can travel to a process or a Dask worker."""

    assignment: str
    device: str = "auto"
    isolation: str = "auto"
    time_limit: float | None = None  # caps every part's wall and CPU seconds
    parts: tuple[str, ...] | None = None  # grade only these parts (None: all)
    # On CUDA: the share of the GPU's memory one sandboxed child may cache (None: no cap).
    # The pools set it when several of their workers share one GPU. Not part of the key of
    # a worker's warm grader: a task made before the share was set still finds it.
    gpu_memory_fraction: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class GradeTask:
    """One submission: its bytes travel with it, so a worker needs no shared filesystem."""

    settings: GraderSettings
    student: str
    filename: str
    data: bytes
    label: str  # where the submission lives, for the report


_GRADERS: dict[GraderSettings, Grader] = {}
_LOCK = threading.Lock()


def capped(assignment: Assignment, time_limit: float | None) -> Assignment:
    """``assignment`` with every part's time limits at most ``time_limit`` seconds."""
    if time_limit is None:
        return assignment
    parts = []
    for part in assignment.parts:
        limits = dataclasses.replace(
            part.limits,
            wall=min(part.limits.wall, time_limit),
            cpu=min(part.limits.cpu, max(1.0, time_limit * part.limits.threads)),
        )
        parts.append(dataclasses.replace(part, limits=limits))
    return dataclasses.replace(assignment, parts=parts)


def grader_for(settings: GraderSettings) -> Grader:
    """This process's warm grader for ``settings`` (made on first use)."""
    with _LOCK:
        if settings not in _GRADERS:
            assignment = capped(assignments.get(settings.assignment), settings.time_limit)
            if settings.parts is not None:  # only what is graded: its sandbox warms only that
                kept = [p for p in assignment.parts if p.id in settings.parts]
                assignment = dataclasses.replace(assignment, parts=kept)
            device = resolve_device(settings.device)
            sandbox = sandbox_for(
                assignment, device, settings.isolation, settings.gpu_memory_fraction
            )
            sandbox.launch()  # it imports torch while the grader reads the reference here
            _GRADERS[settings] = Grader(assignment, device, settings.isolation, sandbox)
        return _GRADERS[settings]


def warm(settings: GraderSettings) -> None:
    """Start the sandbox and compute the reference outputs now, before the first submission
    (so progress and ETA measure grading, not start-up)."""
    grader = grader_for(settings)
    # Started from this (the worker's main) thread: bubblewrap's --die-with-parent is tied
    # to the thread that started it, so a zygote started from a helper thread would die
    # with that thread.
    grader.sandbox.start()
    for part in grader.assignment.parts:
        if settings.parts is None or part.id in settings.parts:
            grader.expected(part)


def grade_task(task: GradeTask) -> dict:
    """Grade one submission; the :class:`~autograder.result.GradeResult` as a dict.

    A bad submission gives an "ungradable" result, never an exception; an exception here
    means the grading machinery failed (then nothing is recorded and a rerun retries)."""
    grader = grader_for(task.settings)
    parts = list(task.settings.parts) if task.settings.parts is not None else None
    with tempfile.TemporaryDirectory(prefix="dlf-submission-") as tmp:
        path = Path(tmp) / Path(task.filename).name
        path.write_bytes(task.data)
        result = grader.grade(path, only=parts)
    result.submission = task.label
    if result.error:  # name the submission, not the worker's temporary copy
        result.error = result.error.replace(str(path), task.label)
    return result.to_dict()


def close_all() -> None:
    """Stop every warm grader's sandbox (a worker shutting down)."""
    with _LOCK:
        for grader in _GRADERS.values():
            grader.close()
        _GRADERS.clear()
