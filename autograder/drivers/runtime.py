"""Run one part inside the sandbox: load the student's definitions, call a driver per case.

Words (the same throughout the sandbox): a *job* is one submission's parts, run in order in
one child of the zygote (:mod:`drivers.zygote`); a *part* is one graded part of it; a *case*
is one probe of a part. A part's folder holds ``part.json`` (statements to run, the driver,
its cases) and ``probes.safetensors`` (input tensors). The child writes ``out.safetensors``
(plain, contiguous CPU tensors only), ``meta.json`` (per-case errors and notes, shown as
feedback) and, through the zygote, ``output.txt`` (what the code printed). Nothing the
student's code produces crosses back as a Python object.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
import warnings

import torch
from safetensors.torch import load_file, save_file

from . import gpu
from .files import write_json

MAX_MESSAGE = 1500


class DriverError(Exception):
    """The submission broke the contract (wrong type, missing attribute): a message for students."""


class ForbiddenOperation(Exception):
    """The submission used an operation the exercise forbids."""


def plain(value, what: str) -> torch.Tensor:
    """A detached, contiguous CPU copy of ``value`` as a plain ``torch.Tensor``."""
    if not isinstance(value, torch.Tensor):
        raise DriverError(f"{what} returned {type(value).__name__}, expected a torch.Tensor")
    tensor = torch.Tensor.as_subclass(value, torch.Tensor)
    return tensor.detach().to("cpu").contiguous().clone()


# Every dispatch key a forbidden operator could run under: backends, their autograd keys,
# sparse, quantized, nested and meta tensors.
FORBID_KEYS = (
    "CPU", "CUDA", "Meta", "SparseCPU", "SparseCUDA", "SparseCsrCPU", "SparseCsrCUDA",
    "QuantizedCPU", "QuantizedCUDA", "NestedTensorCPU", "NestedTensorCUDA", "MkldnnCPU",
    "AutogradCPU", "AutogradCUDA", "AutogradMeta", "AutogradNestedTensor",
)  # fmt: skip


class Forbid:
    """Raise on any ATen operator whose name starts with one of ``prefixes``.

    Each such operator's kernels are replaced, for the duration, by one that raises: the
    operator is caught however it is reached (``F.embedding``, ``torch.ops.aten.embedding``,
    an alias, another operator that calls it), and every other operator runs at full speed
    (a Python dispatch mode would slow every operation, and a training loop several times).
    ``hit`` remembers the first forbidden call, even if the student's code caught the error.
    """

    def __init__(self, prefixes: list[str]):
        self.prefixes = tuple(prefixes)
        self.hit: str | None = None
        self._library = None

    def operators(self) -> list[str]:
        """The registered ATen operators (with overload) the prefixes name."""
        if not self.prefixes:
            return []
        return sorted(
            n for n in torch._C._dispatch_get_all_op_names() if n.startswith(self.prefixes)
        )

    def _refuse(self, name: str):
        def refuse(*args, **kwargs):
            self.hit = self.hit or name.split(".")[0]
            raise ForbiddenOperation(f"{self.hit} is not allowed in this part")

        return refuse

    def __enter__(self) -> Forbid:
        if not self.prefixes:  # nothing forbidden: nothing to replace
            return self
        library = torch.library.Library("aten", "IMPL")
        with warnings.catch_warnings():  # "overriding a previously registered kernel": intended
            warnings.simplefilter("ignore")
            for name in self.operators():
                for key in FORBID_KEYS:
                    try:
                        library.impl(name.split("::", 1)[1], self._refuse(name), key)
                    except RuntimeError:  # e.g. no Meta kernel for a decomposing operator
                        continue
        self._library = library
        return self

    def __exit__(self, *exc) -> None:
        if self._library is not None:
            self._library._destroy()  # the original kernels are back
            self._library = None


def load_statements(statements: list[str], module_name: str = "__student__") -> tuple[dict, list]:
    """Execute top-level statements into a fresh namespace, retrying those that need a name
    defined later (reordered cells). Returns the namespace and the statements that failed."""
    namespace: dict = {"__name__": module_name, "__builtins__": __builtins__}
    pending = list(statements)
    failures: list[str] = []
    while pending:
        retry, errors = [], []
        for source in pending:
            try:
                exec(compile(source, "<notebook>", "exec"), namespace)
            except NameError as err:
                retry.append(source)
                errors.append(f"{type(err).__name__}: {err}")
            except BaseException as err:  # noqa: BLE001 - student code may raise anything
                failures.append(f"{_first_line(source)} -> {type(err).__name__}: {err}"[:300])
        if len(retry) == len(pending):
            failures.extend(
                f"{_first_line(s)} -> {e}"[:300] for s, e in zip(retry, errors, strict=True)
            )
            break
        pending = retry
    return namespace, failures


def _first_line(source: str) -> str:
    return source.strip().splitlines()[0][:120] if source.strip() else "<empty>"


def describe_exception(err: BaseException) -> str:
    """The exception and the last frames of the student's code, for feedback."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == "<notebook>"]
    where = ""
    if frames:
        frame = frames[-1]
        where = f" (in `{frame.name}`, line {frame.lineno} of its cell)"
    text = f"{type(err).__name__}: {err}{where}"
    return text[:MAX_MESSAGE]


def seed(value: int, device: str) -> None:
    """Seed the generator the case draws from; the same state ``torch.manual_seed`` gives the
    CPU generator (which, without CUDA, also queues a CUDA seeding and records a stack)."""
    torch.default_generator.manual_seed(value)
    if device.startswith("cuda"):
        torch.cuda.manual_seed_all(value)


def run_part(part_dir: str, device: str = "cpu", gpu_memory_fraction: float | None = None) -> None:
    """Run every case of the part in ``part_dir`` on ``device`` (the job's, from the
    zygote's request) and write ``out.safetensors`` and ``meta.json``."""
    with open(os.path.join(part_dir, "part.json")) as fh:
        part = json.load(fh)
    probes_path = os.path.join(part_dir, "probes.safetensors")
    probes = load_file(probes_path) if os.path.exists(probes_path) else {}
    torch.set_num_threads(part.get("threads", 1))
    gpu.prepare(device, gpu_memory_fraction)
    namespace, failures = load_statements(part["statements"])
    driver = importlib.import_module(f"drivers.{part['driver']}")
    function = getattr(driver, part["function"])
    outputs: dict[str, torch.Tensor] = {}
    meta: dict = {"load_failures": failures, "cases": []}
    guard = Forbid(part.get("forbidden_ops", []))
    with guard:
        for index, case in enumerate(part["cases"]):
            case = {**case, "device": device}
            inputs = {
                k[len(f"{index}/") :]: v.to(device)
                for k, v in probes.items()
                if k.startswith(f"{index}/")
            }
            record: dict = {"error": None, "forbidden": None}
            seed(case.get("seed", 0), device)
            guard.hit = None
            try:
                result = function(namespace, inputs, case)
                if not isinstance(result, dict):
                    raise DriverError("the driver produced no outputs")
                undeclared = function.outputs.undeclared(result)
                if undeclared:  # a driver bug, whoever's code it ran
                    raise DriverError(f"the driver returned undeclared outputs {undeclared}")
                gpu.settle(device)
                for key, value in result.items():
                    recorded = key in function.outputs.recorded  # draws, flags: any device
                    elsewhere = None if recorded else gpu.off_device(value, device)
                    if elsewhere:  # e.g. moved to the CPU: said so, not silently moved back
                        record.setdefault("wrong_device", {})[key] = elsewhere
                        continue
                    outputs[f"{index}/{key}"] = plain(value, key)
            except DriverError as err:
                record["error"] = str(err)[:MAX_MESSAGE]
            except BaseException as err:  # noqa: BLE001 - SystemExit, KeyboardInterrupt, anything
                record["error"] = describe_exception(err)
            if guard.hit:  # even if the student's code caught the exception
                record["forbidden"] = f"{guard.hit} is not allowed in this part"
            meta["cases"].append(record)
            # Write as we go: a crash in a later case keeps the earlier results.
            save_file(outputs, os.path.join(part_dir, "out.safetensors"))
            write_json(os.path.join(part_dir, "meta.json"), meta)
            if record["error"] and gpu.context_lost(record["error"]):
                raise gpu.ContextLost(record["error"])  # the parts after it need a fresh child
            if record["error"]:
                gpu.release(device)  # e.g. after running out of GPU memory
    gpu.release(device)
    meta["finished"] = True
    write_json(os.path.join(part_dir, "meta.json"), meta)


if __name__ == "__main__":  # a cold, one-shot run: python -m drivers.runtime PART_DIR [DEVICE]
    run_part(sys.argv[1], *sys.argv[2:3])
