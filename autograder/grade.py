"""Grade a submission: extract, run each part in the sandbox, judge what came back.

The orchestration only: the trusted process's :class:`~autograder.reference.Reference`
makes the probes (seeded) and the expected outputs, the :class:`~autograder.sandbox.Sandbox`
runs the student's definitions on the probes (one submission's parts: one job), and the
:class:`~autograder.judge.Judge` turns each part's outcome into messages. The student's
process only ever receives inputs and returns tensors (and what it printed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from autograder import static_checks
from autograder.device_feedback import limits_on
from autograder.extract import Extraction, extract
from autograder.judge import Judge, out_of_time
from autograder.notebook import NotebookError, code_cells, read_cells
from autograder.reference import Reference
from autograder.result import GradeResult, PartResult
from autograder.sandbox import Limits, Sandbox, SandboxError
from autograder.sandbox.isolation import WEAK_WARNING
from autograder.sandbox.runner import PartRequest
from autograder.spec import Assignment, Case, Mistake, Part


@dataclass
class Verdict:
    """How one part went: the failure messages ([] when it passed), the CPU seconds its
    sandboxed process used, whether it was stopped for running out of time, how long it
    took, and the end of what it printed (kept only when it failed)."""

    messages: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0
    out_of_time: bool = False
    seconds: float = 0.0  # in the sandbox and judging
    printed: str = ""


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but no CUDA device is available")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r}: use auto, cpu or cuda")
    return device


def sandbox_for(
    assignment: Assignment,
    device: str,
    isolation: str = "auto",
    gpu_memory_fraction: float | None = None,
) -> Sandbox:
    """A (not yet started) sandbox for grading ``assignment``'s parts: its zygote loads
    torch.optim before forking when a part uses it; on CUDA each child may cache at most
    ``gpu_memory_fraction`` of the GPU's memory (None: no cap)."""
    optimizers = any(p.uses_optimizers for p in assignment.parts)
    return Sandbox(device, isolation, optimizers, gpu_memory_fraction)


class Grader:
    """Grades submissions of one assignment; keep it around to stay warm."""

    def __init__(
        self,
        assignment: Assignment,
        device: str = "auto",
        isolation: str = "auto",
        sandbox: Sandbox | None = None,
    ):
        self.assignment = assignment
        self.device = resolve_device(device)
        self.sandbox = sandbox or sandbox_for(assignment, self.device, isolation)
        self.reference = Reference(assignment, self.device)
        self.judge = Judge(self.reference, self.device)
        self.points = self.reference.points

    def close(self) -> None:
        self.sandbox.close()

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------- the reference's, for tests and workers
    @property
    def reference_extraction(self) -> Extraction:
        return self.reference.extraction

    def cases(self, part: Part) -> list[Case]:
        return self.reference.cases(part)

    def expected(self, part: Part) -> list[dict]:
        return self.reference.expected(part)

    def run_driver(self, namespace: dict, part: Part, case: Case) -> dict[str, torch.Tensor]:
        return self.reference.run_driver(namespace, part, case)

    def _mistake_namespace(self, mistake: Mistake) -> dict:
        return self.reference.mistake_namespace(mistake)

    def mistake_sources(self, mistake: Mistake) -> list[str]:
        return self.reference.mistake_sources(mistake)

    # ----------------------------------------------------------------- grading
    def grade(self, path: str | Path, only: list[str] | None = None) -> GradeResult:
        """Grade one notebook (every part, or the parts in ``only``); never raises for a bad
        submission."""
        started = time.monotonic()
        result = GradeResult(
            self.assignment.id,
            str(path),
            "graded",
            isolation=self.sandbox.isolation,
            isolation_note=self.sandbox.note,
            device=self.device,
        )
        if self.sandbox.isolation == "rlimits":
            result.warnings.append(WEAK_WARNING)
        try:
            return self._grade(path, only, result, started)
        except SandboxError:
            raise  # the machinery, not the submission: the caller decides (a batch retries)
        except NotebookError as err:
            result.error = str(err)
        except (RecursionError, MemoryError) as err:
            result.error = f"{path}: too large or too deeply nested to grade ({type(err).__name__})"
        except Exception as err:  # noqa: BLE001 - every file gets an answer
            result.error = f"{path}: could not be graded ({type(err).__name__}: {str(err)[:200]})"
        result.status, result.parts = "ungradable", []
        return result

    def _grade(self, path, only, result: GradeResult, started: float) -> GradeResult:
        notebook = read_cells(path)
        extraction = extract(code_cells(notebook))
        result.warnings.extend(extraction.skipped_cells)
        wanted = [p for p in self.assignment.parts if only is None or p.id in only]
        verdicts = self.run_parts(wanted, extraction)
        for part in wanted:
            verdict = verdicts[part.id]
            max_points = self.points[part.id]
            passed = not verdict.messages
            result.parts.append(
                PartResult(
                    part.id,
                    part.title,
                    max_points if passed else 0.0,
                    max_points,
                    passed,
                    verdict.messages or ["correct"],
                    round(verdict.seconds, 3),
                    round(verdict.cpu_seconds, 3),
                    verdict.printed,
                )
            )
        result.seconds = round(time.monotonic() - started, 3)
        return result

    def run_parts(self, parts: list[Part], extraction: Extraction) -> dict[str, Verdict]:
        """Run and judge ``parts`` of one submission: all of them in one sandboxed child,
        in order. If a part is stopped (a hang, a crash), the parts after it run in a fresh
        child, except those that use a definition that ran out of time: they are not run
        again (a hang costs one part's time limit, not one per part that calls it)."""
        verdicts: dict[str, Verdict] = {}
        stuck: dict[str, str] = {}  # definition -> the part in which it ran out of time
        pending = list(parts)
        while pending:
            runnable = []
            for part in pending:
                early = self._precheck(part, extraction, stuck)
                if early is None:
                    runnable.append(part)
                else:
                    verdicts[part.id] = early
            if not runnable:
                break
            limits = {p.id: limits_on(p.limits, self.device) for p in runnable}
            requests = [self._request(p, extraction, limits[p.id]) for p in runnable]
            outcomes = self.sandbox.run_parts(requests)
            for part, outcome in zip(runnable, outcomes, strict=False):
                judging = time.monotonic()
                messages = self.judge.messages(part, outcome, limits[part.id])
                seconds = outcome.seconds + time.monotonic() - judging
                stopped = out_of_time(outcome, limits[part.id])
                printed = outcome.printed if messages else ""
                verdicts[part.id] = Verdict(
                    messages, outcome.cpu_seconds, stopped, seconds, printed
                )
                if stopped:
                    stuck.update(dict.fromkeys(part.names, part.title))
            pending = runnable[len(outcomes) :]
        return verdicts

    def _precheck(self, part: Part, extraction: Extraction, stuck: dict[str, str]):
        """The verdict of a part that need not run (a missing name, a forbidden API, a use of
        a definition that already ran out of time), or None."""
        missing = [n for n in part.names if not extraction.has(n)]
        if missing:
            names = ", ".join(f"`{n}`" for n in missing)
            return Verdict(
                [
                    f"{names} not found: define it at the top level of a code cell, "
                    "with exactly this name"
                ]
            )
        closure = extraction.closure(part.names)
        blocked = [n for n in closure if n in stuck]
        if blocked:
            name = blocked[0]
            return Verdict(
                [
                    f"{part.title}: not run: it uses `{name}`, which did not finish within the "
                    f"time limit in part {stuck[name]}; fix that part first"
                ]
            )
        sources = [extraction.definitions[n].source for n in closure]
        escapes = static_checks.escape_hatches(sources, extraction.imports)
        if escapes:
            return Verdict([static_checks.escape_message(part.title, escapes)])
        banned = static_checks.forbidden_uses(sources, extraction.imports, part.forbidden_names)
        if banned:
            uses = ", ".join(f"`{b}`" for b in banned)
            return Verdict([f"uses {uses}, which this part asks you to build yourself"])
        return None

    def _request(self, part: Part, extraction: Extraction, limits: Limits) -> PartRequest:
        """What the sandbox runs for ``part``: its request, its probe tensors, its limits."""
        cases = self.cases(part)
        probes = {f"{i}/{k}": v for i, c in enumerate(cases) for k, v in c.inputs.items()}
        request = {
            "statements": extraction.statements(part.names),
            "driver": self.assignment.driver,
            "function": part.function,
            "cases": [c.config for c in cases],
            "forbidden_ops": part.forbidden_ops,
        }
        return request, probes, limits
