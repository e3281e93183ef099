"""Grade a submission: extract, run each part in the sandbox, compare with the reference.

The trusted process makes the probes (seeded), runs the same driver on the reference
solution to get the expected tensors, and compares. The student's process only ever
receives inputs and returns tensors.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from autograder import compare, static_checks
from autograder.device_feedback import explain_cuda_error, limits_on, wrong_device
from autograder.drivers import gpu
from autograder.drivers.namespaces import EXIT_NO_NAMESPACES
from autograder.drivers.runtime import (
    MAX_MESSAGE,
    DriverError,
    describe_exception,
    load_statements,
)
from autograder.extract import Extraction, extract
from autograder.notebook import NotebookError, code_cells, grade_cells, read_cells
from autograder.result import GradeResult, PartResult
from autograder.sandbox import JobOutcome, Limits, Sandbox
from autograder.sandbox.isolation import WEAK_WARNING
from autograder.sandbox.pool import SandboxError
from autograder.spec import Assignment, Case, Mistake, Part


def out_of_cpu(outcome: JobOutcome, limits) -> bool:
    """Stopped by its CPU limit: its CPU timer (SIGPROF), or the limits behind it for code
    that blocks that signal (SIGXCPU, then SIGKILL)."""
    return outcome.status in ("signal:SIGPROF", "signal:SIGXCPU") or (
        outcome.status == "signal:SIGKILL" and outcome.cpu_seconds >= limits.cpu
    )


@dataclass
class Verdict:
    """How one part went: the failure messages ([] when it passed), the CPU seconds its
    sandboxed process used, whether it was stopped for running out of time, and how long it
    took."""

    messages: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0
    out_of_time: bool = False
    seconds: float = 0.0  # in the sandbox and judging


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


def _status_message(outcome: JobOutcome, limits) -> str | None:
    status = outcome.status
    if out_of_cpu(outcome, limits):
        return f"stopped after its CPU time limit of {limits.cpu:g} s: is there an endless loop?"
    if status == "timeout":
        return f"stopped after the time limit of {limits.wall:g} s: is there an endless loop?"
    if status in ("signal:SIGKILL", "signal:SIGSEGV", "exit:70") or "MemoryError" in str(
        outcome.meta
    ):
        return (
            "the process was killed or ran out of memory "
            f"(limit {limits.memory / 2**30:g} GiB): is something growing without bound?"
        )
    if status == f"exit:{gpu.EXIT_NO_CUDA}":
        return "CUDA could not be started in the sandbox; the part could not be checked"
    if status == f"exit:{gpu.EXIT_CONTEXT_LOST}":
        return "a CUDA error ended the process (a device-side assert, a bad memory access)"
    if status == f"exit:{EXIT_NO_NAMESPACES}":  # drivers/namespaces.py: fail closed
        return "the sandbox could not give this submission namespaces of its own: not run"
    if status.startswith("exit:"):
        return (
            f"the process exited ({status}) before finishing: don't call exit() or os._exit() "
            "in your code"
        )
    if status.startswith("signal:"):
        return f"the process was stopped by {status[7:]}"
    if status.startswith("sandbox-failed"):
        return f"the sandbox failed ({status[16:]}); the part could not be checked"
    if outcome.problem:
        return outcome.problem
    if not outcome.meta.get("finished"):
        return "the process exited before finishing: don't call exit() or os._exit() in your code"
    return None


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
        source = read_cells(assignment.source_path)
        self.points = {c.grade_id: c.points for c in grade_cells(source)}
        missing = [p.id for p in assignment.parts if p.id not in self.points]
        if missing:
            raise ValueError(f"{assignment.source_path}: no grade cell for parts {missing}")
        self.reference_extraction = extract(code_cells(source))
        self.reference, failures = load_statements(self.reference_extraction.statements())
        if failures:
            raise ValueError(f"the reference solution does not load: {failures}")
        self._cases: dict[str, list[Case]] = {}
        self._expected: dict[str, list[dict]] = {}
        self._mistakes: dict[str, dict] = {}

    def close(self) -> None:
        self.sandbox.close()

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------- probes
    def cases(self, part: Part) -> list[Case]:
        if part.id not in self._cases:
            index = self.assignment.parts.index(part)
            generator = torch.Generator().manual_seed(self.assignment.seed + 1000 * index)
            self._cases[part.id] = part.cases(generator)
        return self._cases[part.id]

    def run_driver(self, namespace: dict, part: Part, case: Case) -> dict[str, torch.Tensor]:
        """Run the driver in this (trusted) process, as the sandbox does for the student: on
        the CPU whatever the grading device (the instructors' guide, *Grading on a GPU*)."""
        function = part.run
        torch.manual_seed(case.config.get("seed", 0))
        inputs = {k: v.clone() for k, v in case.inputs.items()}
        outputs = function(namespace, inputs, case.config)
        return {k: v.detach().cpu().contiguous() for k, v in outputs.items()}

    def expected(self, part: Part) -> list[dict]:
        if not (part.compare or part.reference_outputs):
            return [{} for _ in self.cases(part)]
        if part.id not in self._expected:
            self._expected[part.id] = [
                self.run_driver(self.reference, part, c) for c in self.cases(part)
            ]
            if part.pytorch is not None:
                namespace = self._namespace(part.pytorch.definitions)
                for case in self.cases(part):
                    case.secret["pytorch"] = self.run_driver(namespace, part, case)
        return self._expected[part.id]

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
            outcomes = self.sandbox.run_parts([self._job(p, extraction) for p in runnable])
            for part, outcome in zip(runnable, outcomes, strict=False):
                judging = time.monotonic()
                messages = self._judge(part, self.cases(part), outcome)
                seconds = outcome.seconds + time.monotonic() - judging
                limits = limits_on(part.limits, self.device)
                out_of_time = outcome.status == "timeout" or out_of_cpu(outcome, limits)
                verdicts[part.id] = Verdict(messages, outcome.cpu_seconds, out_of_time, seconds)
                if out_of_time:
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

    def _job(self, part: Part, extraction: Extraction) -> tuple[dict, dict, Limits]:
        """What the sandbox runs for ``part``: the job, its probe tensors and its limits."""
        cases = self.cases(part)
        probes = {f"{i}/{k}": v for i, c in enumerate(cases) for k, v in c.inputs.items()}
        job = {
            "statements": extraction.statements(part.names),
            "driver": self.assignment.driver,
            "function": part.function,
            "cases": [c.config for c in cases],
            "forbidden_ops": part.forbidden_ops,
        }
        return job, probes, limits_on(part.limits, self.device)

    def _judge(self, part: Part, cases: list[Case], outcome: JobOutcome) -> list[str]:
        messages: list[str] = []
        records = (
            outcome.meta.get("cases", []) if isinstance(outcome.meta.get("cases"), list) else []
        )
        expected_all = self.expected(part)
        for index, case in enumerate(cases):
            record = (
                records[index]
                if index < len(records) and isinstance(records[index], dict)
                else None
            )
            if record is None:
                limits = limits_on(part.limits, self.device)
                status = _status_message(outcome, limits) or "no result came back"
                return messages + [f"{part.title}: {status}"]
            if record.get("forbidden"):
                return [
                    f"{part.title}: {record['forbidden']}; build it from basic tensor operations"
                ]
            if record.get("error"):
                error = str(record["error"])
                mistake = None
                if not error.startswith("NotImplementedError"):
                    mistake = self._diagnose(part, case, None, error)
                explained = _explain_error(part, error)
                return messages + [explained] + ([mistake] if mistake else [])
            if record.get("wrong_device"):
                return messages + [wrong_device(part, record["wrong_device"], self.device)]
            got = {
                k[len(f"{index}/") :]: v
                for k, v in outcome.outputs.items()
                if k.startswith(f"{index}/")
            }
            failures = self._compare_case(part, case, got, expected_all[index])
            if failures:
                messages.extend(failures)
                mistake = self._diagnose(part, case, got, None)
                if mistake:
                    messages.append(mistake)
                break  # the first failing probe says enough
        return messages

    def _compare_case(self, part: Part, case: Case, got: dict, expected: dict) -> list[str]:
        failures = []
        if part.compare:
            for key, value in expected.items():
                if not part.compared(key):  # a run-specific value (e.g. a random init)
                    continue
                label = f"{part.title}: {part.label(key)}"
                if key not in got:
                    failures.append(f"{label}: missing from what came back")
                    continue
                problem = compare.compare_tensor(
                    label, got[key], value, self.device, part.tolerance
                )
                if problem:
                    failures.append(problem)
                    break
        if not failures and part.pytorch is not None:
            failures.extend(self._compare_pytorch(part, case, got))
        for check in part.checks:
            failures.extend(check(case, got, expected, self.device))
        return failures

    def _compare_pytorch(self, part: Part, case: Case, got: dict) -> list[str]:
        """Hold the outputs to PyTorch's own implementation too (they already match the
        reference's, so a difference here is the reference's and PyTorch's disagreement on
        this probe, which the specs' tests rule out, or a tolerance edge)."""
        truth = case.secret.get("pytorch", {})
        for key in part.pytorch.outputs or [k for k in truth if part.compared(k)]:
            if key not in got or key not in truth:
                continue
            label = f"{part.title}: {part.label(key)} compared with PyTorch's {part.pytorch.name}"
            problem = compare.compare_tensor(
                label, got[key], truth[key], self.device, part.tolerance
            )
            if problem:
                return [problem]
        return []

    def _namespace(self, objects: dict | None = None, sources: list[str] = ()) -> dict:
        """A fresh copy of the reference with ``objects`` bound and ``sources`` run over it
        (fresh, so the reference's other functions see the swapped names)."""
        namespace, _ = load_statements(self.reference_extraction.statements())
        namespace.update(objects or {})
        for source in sources:
            # "<notebook>", as the student's code: its errors name the place alike
            exec(compile(source, "<notebook>", "exec"), namespace)
        return namespace

    def _mistake_namespace(self, mistake: Mistake) -> dict:
        """The reference with the mistake's definitions swapped in."""
        key = f"{mistake.name}:{mistake.patch!r}"
        if key not in self._mistakes:
            self._mistakes[key] = self._namespace(sources=self.mistake_sources(mistake))
        return self._mistakes[key]

    def mistake_sources(self, mistake: Mistake) -> list[str]:
        """The mistake's definitions: full sources, or (old, new) edits of the reference's."""
        sources = []
        for name, patch in mistake.patch.items():
            if isinstance(patch, str):
                sources.append(patch)
                continue
            reference = self.reference_extraction.definitions[name].source
            old, new = patch
            if old not in reference:
                raise ValueError(f"mistake {mistake.name!r}: {old!r} is not in {name}")
            sources.append(reference.replace(old, new))
        return sources

    def _diagnose(self, part: Part, case: Case, got: dict | None, error: str | None) -> str | None:
        """Name the mistake whose behaviour the student's reproduces on this probe: the same
        outputs, or (when the student's code raised ``error``) the same exception: its type
        and message (see :func:`error_signature`), raised in a definition of the same name."""
        for mistake in part.mistakes:
            try:
                namespace = self._mistake_namespace(mistake)
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
            if got is not None and compare.same_outputs(got, wrong, self.device):
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


def _explain_error(part: Part, error: str) -> str:
    if error.startswith("NotImplementedError"):
        return f"{part.title}: not implemented yet (your code raised NotImplementedError)"
    cuda = explain_cuda_error(error)
    if cuda:
        return f"{part.title}: {cuda}: {error[:300]}"
    if error.startswith("MemoryError") or "can't allocate memory" in error:
        limit = part.limits.memory / 2**30
        return f"{part.title}: ran out of memory (limit {limit:g} GiB): {error[:300]}"
    return f"{part.title}: {error}"
