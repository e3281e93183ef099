"""The judge: what came back from a part in the sandbox, turned into the student's messages.

How the process ended (time and memory limits, exits, signals, CUDA failures), the errors
the student's code raised, explained, outputs left on the wrong device, and each probe's
outputs compared with the reference's, then with PyTorch's, then by the part's own checks;
the first failing probe says enough, with the known mistake it matches, if any. Messages
never carry probe values: only what :mod:`autograder.compare` says of them.
"""

from __future__ import annotations

from autograder import compare
from autograder.device_feedback import explain_cuda_error, wrong_device
from autograder.drivers import gpu
from autograder.drivers.namespaces import EXIT_NO_NAMESPACES
from autograder.reference import Reference
from autograder.sandbox import Limits, PartOutcome
from autograder.spec import Case, Part


def out_of_cpu(outcome: PartOutcome, limits: Limits) -> bool:
    """Stopped by its CPU limit: its CPU timer (SIGPROF), or the limits behind it for code
    that blocks that signal (SIGXCPU, then SIGKILL)."""
    return outcome.status in ("signal:SIGPROF", "signal:SIGXCPU") or (
        outcome.status == "signal:SIGKILL" and outcome.cpu_seconds >= limits.cpu
    )


def out_of_time(outcome: PartOutcome, limits: Limits) -> bool:
    """Stopped by its wall-clock or its CPU limit."""
    return outcome.status == "timeout" or out_of_cpu(outcome, limits)


def status_message(outcome: PartOutcome, limits: Limits) -> str | None:
    """Why the part's process ended before giving its results, or None if it did not."""
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


def explain_error(part: Part, error: str) -> str:
    """An exception the student's code raised, with words for the common kinds."""
    if error.startswith("NotImplementedError"):
        return f"{part.title}: not implemented yet (your code raised NotImplementedError)"
    cuda = explain_cuda_error(error)
    if cuda:
        return f"{part.title}: {cuda}: {error[:300]}"
    if error.startswith("MemoryError") or "can't allocate memory" in error:
        limit = part.limits.memory / 2**30
        return f"{part.title}: ran out of memory (limit {limit:g} GiB): {error[:300]}"
    return f"{part.title}: {error}"


class Judge:
    """Judges parts of submissions of one assignment against its :class:`Reference`."""

    def __init__(self, reference: Reference, device: str):
        self.reference = reference
        self.device = device

    def messages(self, part: Part, outcome: PartOutcome, limits: Limits) -> list[str]:
        """The part's failure messages ([] when it passed), probe by probe."""
        messages: list[str] = []
        cases = self.reference.cases(part)
        records = outcome.meta.get("cases")
        records = records if isinstance(records, list) else []
        expected_all = self.reference.expected(part)
        for index, case in enumerate(cases):
            record = records[index] if index < len(records) else None
            if not isinstance(record, dict):
                status = status_message(outcome, limits) or "no result came back"
                return messages + [f"{part.title}: {status}"]
            if record.get("forbidden"):
                return [
                    f"{part.title}: {record['forbidden']}; build it from basic tensor operations"
                ]
            if record.get("error"):
                error = str(record["error"])
                mistake = None
                if not error.startswith("NotImplementedError"):
                    mistake = self.reference.diagnose(part, case, None, error)
                return messages + [explain_error(part, error)] + ([mistake] if mistake else [])
            if record.get("wrong_device"):
                return messages + [wrong_device(part, record["wrong_device"], self.device)]
            prefix = f"{index}/"
            got = {k[len(prefix) :]: v for k, v in outcome.outputs.items() if k.startswith(prefix)}
            failures = self.compare_case(part, case, got, expected_all[index])
            if failures:
                messages.extend(failures)
                mistake = self.reference.diagnose(part, case, got, None)
                if mistake:
                    messages.append(mistake)
                break  # the first failing probe says enough
        return messages

    def compare_case(self, part: Part, case: Case, got: dict, expected: dict) -> list[str]:
        """One probe's outputs against the reference's, PyTorch's and the part's checks."""
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
            failures.extend(self.compare_pytorch(part, case, got))
        for check in part.checks:
            failures.extend(check(case, got, expected, self.device))
        return failures

    def compare_pytorch(self, part: Part, case: Case, got: dict) -> list[str]:
        """Hold the outputs to PyTorch's own implementation too (they already match the
        reference's, so a difference here is the reference's and PyTorch's disagreement on
        this probe, which the specs' tests rule out, or a tolerance edge)."""
        truth = case.secret.get("pytorch", {})
        for key in part.held_to_pytorch(truth):
            if key not in got or key not in truth:
                continue
            label = f"{part.title}: {part.label(key)} compared with PyTorch's {part.pytorch.name}"
            problem = compare.compare_tensor(
                label, got[key], truth[key], self.device, part.tolerance
            )
            if problem:
                return [problem]
        return []
