"""What an assignment is, to the grader: parts, their probes, and the mistakes they diagnose.

A part's ``id`` is the nbgrader ``grade_id`` of its test cell, so one id names the test,
the points and the feedback. The driver function (in :mod:`autograder.drivers`) is run on
the student's definitions in the sandbox and on the reference in the trusted process.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

import torch

from autograder.drivers.outputs import Outputs
from autograder.sandbox import Limits

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
class PyTorch:
    """Where PyTorch has the thing a part builds: the student's names bound to PyTorch's own
    objects (or a thin adapter to the exercise's contract). The grader runs the part's own
    driver on them, in the trusted process, on the same probes, and holds the student's
    outputs to those too; checks read them as ``case.secret["pytorch"]``."""

    name: str  # in feedback: "compared with PyTorch's <name>"
    definitions: dict[str, object]
    # The compared outputs held to PyTorch's: None, all of them; () none (its outputs then
    # serve only the part's checks, e.g. a trajectory compared step by step).
    outputs: tuple[str, ...] | None = None


@dataclass
class Part:
    """One graded part of an assignment: ``id`` is the grade_id of its test cell.

    Defaults come from the id: the part takes the definition named ``title`` from the
    notebook (``names``) and is run by the driver function named ``id`` (``function``) in
    the assignment's driver module; :class:`Assignment` resolves it on import (``run``) and
    checks its declared outputs (``outputs``)."""

    id: str
    title: str
    cases: Callable[[torch.Generator], list[Case]]
    _: KW_ONLY
    names: list[str] = field(default_factory=list)  # default: [title]
    function: str = ""  # default: id
    compare: bool = True  # compare every compared output with the reference's
    # Run the reference on the probes at all? Not for training parts graded by a threshold:
    # that would train the reference, unconfined, in the trusted process.
    reference_outputs: bool = True
    pytorch: PyTorch | None = None
    checks: list[Check] = field(default_factory=list)  # extra (e.g. statistical) checks
    forbidden_names: list[str] = field(default_factory=list)
    forbidden_ops: list[str] = field(default_factory=list)
    mistakes: list[Mistake] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    tolerance: float = 1.0  # multiplies the dtype's default tolerances
    # Uses torch.optim in the sandbox: the zygote then takes an optimizer step before it
    # forks (the first one imports torch._dynamo: a second of CPU a child would pay).
    uses_optimizers: bool = False
    run: Callable | None = field(default=None, repr=False)  # set by Assignment
    outputs: Outputs | None = field(default=None, repr=False)  # set by Assignment

    def __post_init__(self) -> None:
        self.names = self.names or [self.title]
        self.function = self.function or self.id

    def label(self, key: str) -> str:
        """The words feedback uses for output ``key`` (declared by the driver)."""
        return self.outputs.label(key)

    def compared(self, key: str) -> bool:
        """Is output ``key`` compared value by value with the reference's?"""
        return key in self.outputs.compared

    def held_to_pytorch(self, present) -> list[str]:
        """Of the outputs ``present`` on a probe, those compared value by value with
        PyTorch's (a probe may lack optional ones: no bias, no third call)."""
        if self.pytorch is None:
            return []
        keys = self.pytorch.outputs
        return [k for k in present if self.compared(k)] if keys is None else list(keys)


@dataclass
class Assignment:
    """An assignment: its id (the folder under solutions/), its parts, and where it goes in
    the book. The notebook is ``<id>.ipynb`` and the driver module
    ``autograder.drivers.<id>`` unless they are given."""

    id: str
    parts: list[Part]
    chapters: list[str] = field(default_factory=list)  # the chapter ids it goes with
    summary: str = ""  # what the student builds, for the book's list of exercises
    notebook: str = ""  # default: <id>.ipynb
    driver: str = ""  # default: id
    seed: int = 20261123
    root: Path = ROOT  # the course folder holding solutions/ and exercises/

    def __post_init__(self) -> None:
        self.notebook = self.notebook or f"{self.id}.ipynb"
        self.driver = self.driver or self.id
        module = importlib.import_module(f"autograder.drivers.{self.driver}")
        seen = set()
        for part in self.parts:
            if part.id in seen:
                raise ValueError(f"{self.id}: two parts have the id {part.id!r}")
            seen.add(part.id)
            run = getattr(module, part.function, None)
            if not callable(run):
                raise ValueError(
                    f"{self.id}/{part.id}: no driver function {part.function!r} in "
                    f"autograder/drivers/{self.driver}.py"
                )
            part.run, part.outputs = run, getattr(run, "outputs", None)
            if part.outputs is None:
                raise ValueError(
                    f"{self.id}/{part.id}: drivers.{self.driver}.{part.function} does not "
                    "declare its outputs: decorate it with @produces(...)"
                )
            unknown = []
            if part.pytorch and part.pytorch.outputs:
                unknown = [n for n in part.pytorch.outputs if n not in part.outputs.compared]
            if unknown:
                raise ValueError(
                    f"{self.id}/{part.id}: outputs {unknown} are not declared (compared) by "
                    f"drivers.{self.driver}.{part.function}"
                )

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
