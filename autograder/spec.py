"""What an assignment is, to the grader: parts, their probes, and the mistakes they diagnose.

A part's ``id`` is the nbgrader ``grade_id`` of its test cell, so one id names the test,
the points and the feedback. The driver function (in :mod:`autograder.drivers`) is run on
the student's definitions in the sandbox and on the reference in the trusted process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from autograder.sandbox.pool import Limits

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Case:
    """One probe: JSON-able ``config`` for the driver and its input tensors."""

    config: dict
    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    secret: dict = field(default_factory=dict)  # stays in the trusted process (e.g. targets)


@dataclass
class Mistake:
    """A known wrong variant: if the student's outputs equal the outputs of the reference
    with ``patch`` applied (name -> replacement source), ``hint`` explains the mistake."""

    name: str
    hint: str
    patch: dict[str, str | tuple[str, str]]  # full source, or an (old, new) edit of the reference


# A check gets (case, outputs, expected, device) and returns messages of failures ([] if it
# passed); ``device`` is where the part ran ("cpu", "cuda"), so tolerances can widen there as
# :func:`autograder.compare.tolerance` does.
Check = Callable[[Case, dict[str, torch.Tensor], dict[str, torch.Tensor], str], list[str]]


@dataclass
class Part:
    """One graded part of an assignment."""

    id: str
    title: str
    names: list[str]
    function: str
    cases: Callable[[torch.Generator], list[Case]]
    compare: bool = True  # compare every output with the reference's (values, shapes)
    # Run the reference on the probes at all? Not for training parts graded by a threshold:
    # that would train the reference, unconfined, in the trusted process.
    reference_outputs: bool = True
    checks: list[Check] = field(default_factory=list)  # extra (e.g. statistical) checks
    forbidden_names: list[str] = field(default_factory=list)
    forbidden_ops: list[str] = field(default_factory=list)
    mistakes: list[Mistake] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    tolerance: float = 1.0  # multiplies the dtype's default tolerances
    labels: dict[str, str] = field(default_factory=dict)  # output key -> words for feedback
    # Uses torch.optim in the sandbox: the zygote then takes an optimizer step before it
    # forks (the first one imports torch._dynamo: a second of CPU a child would pay).
    uses_optimizers: bool = False


@dataclass
class Assignment:
    """An assignment: its id (the folder under solutions/), notebook and parts."""

    id: str
    notebook: str
    driver: str
    parts: list[Part]
    seed: int = 20261123
    root: Path = ROOT  # the course folder holding solutions/ and exercises/

    @property
    def source_path(self) -> Path:
        return self.root / "solutions" / self.id / self.notebook

    @property
    def release_path(self) -> Path:
        return self.root / "exercises" / self.id / self.notebook

    def part(self, part_id: str) -> Part:
        for part in self.parts:
            if part.id == part_id:
                return part
        raise KeyError(part_id)
