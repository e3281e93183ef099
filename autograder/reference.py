"""The reference: what the trusted process knows of an assignment before any submission.

The source notebook (points by ``grade_id``, its extraction, its loaded namespace), each
part's probes (seeded, made once), the expected outputs (the reference's, and PyTorch's in
``case.secret["pytorch"]`` where the part names it), namespaces that swap definitions in
(a known mistake, PyTorch's own objects), and the diagnosis of known mistakes. Nothing here
runs a submission's code: that happens in the sandbox.
"""

from __future__ import annotations

import re

import torch

from autograder import compare
from autograder.drivers.runtime import (
    MAX_MESSAGE,
    DriverError,
    describe_exception,
    load_statements,
)
from autograder.extract import extract
from autograder.notebook import code_cells, grade_cells, read_cells
from autograder.spec import Assignment, Case, Mistake, Part


class Reference:
    """The reference solution of ``assignment`` and what is derived from it, cached."""

    def __init__(self, assignment: Assignment, device: str):
        self.assignment = assignment
        self.device = device  # where the student's outputs come from: widens tolerances
        source = read_cells(assignment.source_path)
        self.points = {c.grade_id: c.points for c in grade_cells(source)}
        missing = [p.id for p in assignment.parts if p.id not in self.points]
        if missing:
            raise ValueError(f"{assignment.source_path}: no grade cell for parts {missing}")
        self.extraction = extract(code_cells(source))
        self.namespace, failures = load_statements(self.extraction.statements())
        if failures:
            raise ValueError(f"the reference solution does not load: {failures}")
        self._cases: dict[str, list[Case]] = {}
        self._expected: dict[str, list[dict]] = {}
        self._mistakes: dict[str, dict] = {}

    # ----------------------------------------------------------------- probes
    def cases(self, part: Part) -> list[Case]:
        """The part's probes, drawn once from a generator seeded by the assignment and the
        part's place in it."""
        if part.id not in self._cases:
            index = self.assignment.parts.index(part)
            generator = torch.Generator().manual_seed(self.assignment.seed + 1000 * index)
            self._cases[part.id] = part.cases(generator)
        return self._cases[part.id]

    @staticmethod
    def run_driver(namespace: dict, part: Part, case: Case) -> dict[str, torch.Tensor]:
        """Run the driver in this (trusted) process, as the sandbox does for the student: on
        the CPU whatever the grading device (the instructors' guide, *Grading on a GPU*)."""
        torch.manual_seed(case.config.get("seed", 0))
        inputs = {k: v.clone() for k, v in case.inputs.items()}
        outputs = part.run(namespace, inputs, case.config)
        return {k: v.detach().cpu().contiguous() for k, v in outputs.items()}

    def expected(self, part: Part) -> list[dict]:
        """The reference's outputs on each probe ({} where the part compares none); where the
        part names PyTorch, PyTorch's outputs go into each case's ``secret["pytorch"]``."""
        if not (part.compare or part.reference_outputs):
            return [{} for _ in self.cases(part)]
        if part.id not in self._expected:
            self._expected[part.id] = [
                self.run_driver(self.namespace, part, c) for c in self.cases(part)
            ]
            if part.pytorch is not None:
                namespace = self.variant(part.pytorch.definitions)
                for case in self.cases(part):
                    case.secret["pytorch"] = self.run_driver(namespace, part, case)
        return self._expected[part.id]

    # --------------------------------------------------------------- variants
    def variant(self, objects: dict | None = None, sources: list[str] = ()) -> dict:
        """A fresh copy of the reference with ``objects`` bound and ``sources`` run over it
        (fresh, so the reference's other functions see the swapped names)."""
        namespace, _ = load_statements(self.extraction.statements())
        namespace.update(objects or {})
        for source in sources:
            # "<notebook>", as the student's code: its errors name the place alike
            exec(compile(source, "<notebook>", "exec"), namespace)
        return namespace

    def mistake_namespace(self, mistake: Mistake) -> dict:
        """The reference with the mistake's definitions swapped in."""
        key = f"{mistake.name}:{mistake.patch!r}"
        if key not in self._mistakes:
            self._mistakes[key] = self.variant(sources=self.mistake_sources(mistake))
        return self._mistakes[key]

    def mistake_sources(self, mistake: Mistake) -> list[str]:
        """The mistake's definitions: full sources, or (old, new) edits of the reference's."""
        sources = []
        for name, patch in mistake.patch.items():
            if isinstance(patch, str):
                sources.append(patch)
                continue
            reference = self.extraction.definitions[name].source
            old, new = patch
            if old not in reference:
                raise ValueError(f"mistake {mistake.name!r}: {old!r} is not in {name}")
            sources.append(reference.replace(old, new))
        return sources

    def diagnose(self, part: Part, case: Case, got: dict | None, error: str | None) -> str | None:
        """Name the mistake whose behaviour the student's reproduces on this probe: the same
        outputs, or (when the student's code raised ``error``) the same exception: its type
        and message (see :func:`error_signature`), raised in a definition of the same name.
        A mistake that behaves as the reference does on this probe names nothing (the student's
        outputs may match the reference and still differ from PyTorch's)."""
        expected = self.expected(part)
        at = [i for i, c in enumerate(self.cases(part)) if c is case]
        right = expected[at[0]] if at and expected[at[0]] else None
        for mistake in part.mistakes:
            try:
                namespace = self.mistake_namespace(mistake)
            except ValueError:  # the edit does not apply (checked by tests/test_specs.py)
                continue
            try:
                wrong = self.run_driver(namespace, part, case)
            except Exception as err:  # noqa: BLE001 - a variant may fail on a probe, as students do
                text = str(err) if isinstance(err, DriverError) else describe_exception(err)
                if error is not None and error_signature(text[:MAX_MESSAGE]) == error_signature(
                    error
                ):
                    return f"Likely mistake: {mistake.hint}"
                continue
            if got is None or not compare.same_outputs(got, wrong, self.device):
                continue
            if right is not None and compare.same_outputs(wrong, right, self.device):
                continue  # the mistake makes no difference on this probe: it explains nothing
            return f"Likely mistake: {mistake.hint}"
        return None


_PLACE = re.compile(r" \(in `([^`]*)`, line \d+ of its cell\)")
_ADDRESS = re.compile(r"0x[0-9a-f]+")
_DEVICE = re.compile(r"\b(cuda(:\d+)?|cpu)\b")


def error_signature(text: str) -> tuple[str, tuple[str, ...]]:
    """An error as the grader reports it, reduced to what identifies it: the exception's
    words (type and message, with memory addresses and device names masked, whitespace
    collapsed) and the names of the student's definitions it was raised in, innermost
    last (``describe_exception``'s "(in `name`, line N of its cell)": lines are not
    compared, they differ between the student's cell and the reference's)."""
    places = tuple(_PLACE.findall(text))
    words = _DEVICE.sub("<device>", _ADDRESS.sub("<address>", _PLACE.sub("", text)))
    return " ".join(words.split()), places
