"""Run one job inside the sandbox: load the student's definitions, call a driver per probe.

A job folder holds ``job.json`` (statements to run, the driver and its cases) and
``probes.safetensors`` (input tensors). The child writes ``out.safetensors`` (plain,
contiguous CPU tensors only) and ``meta.json`` (per-case errors and notes, shown as
feedback). Nothing the student's code produces crosses back as a Python object.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from contextlib import contextmanager

import torch
from safetensors.torch import load_file, save_file
from torch.utils._python_dispatch import TorchDispatchMode

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


class Forbid(TorchDispatchMode):
    """Raise on any ATen operator whose name starts with one of ``prefixes``."""

    def __init__(self, prefixes: list[str]):
        super().__init__()
        self.prefixes = tuple(prefixes)
        self.hit: str | None = None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name
        if self.prefixes and name.startswith(self.prefixes):
            self.hit = name
            raise ForbiddenOperation(f"{name} is not allowed in this part")
        return func(*args, **(kwargs or {}))


@contextmanager
def forbidding(mode: Forbid):
    """Activate ``mode`` only when it forbids something (dispatch modes cost time)."""
    if not mode.prefixes:
        yield mode
        return
    with mode:
        yield mode


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


def run_job(job_dir: str) -> None:
    """Run every case of the job and write ``out.safetensors`` and ``meta.json``."""
    with open(os.path.join(job_dir, "job.json")) as fh:
        job = json.load(fh)
    probes_path = os.path.join(job_dir, "probes.safetensors")
    probes = load_file(probes_path) if os.path.exists(probes_path) else {}
    torch.set_num_threads(job.get("threads", 1))
    if job.get("device", "cpu").startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    namespace, failures = load_statements(job["statements"])
    driver = importlib.import_module(f"drivers.{job['driver']}")
    function = getattr(driver, job["function"])
    outputs: dict[str, torch.Tensor] = {}
    meta: dict = {"load_failures": failures, "cases": []}
    for index, case in enumerate(job["cases"]):
        device = job.get("device", "cpu")
        case = {**case, "device": device}
        inputs = {
            k[len(f"{index}/") :]: v.to(device)
            for k, v in probes.items()
            if k.startswith(f"{index}/")
        }
        record: dict = {"error": None, "forbidden": None}
        torch.manual_seed(case.get("seed", 0))
        guard = Forbid(job.get("forbidden_ops", []))
        try:
            with forbidding(guard):
                result = function(namespace, inputs, case)
            if not isinstance(result, dict):
                raise DriverError("the driver produced no outputs")
            for key, value in result.items():
                outputs[f"{index}/{key}"] = plain(value, key)
        except DriverError as err:
            record["error"] = str(err)[:MAX_MESSAGE]
        except BaseException as err:  # noqa: BLE001 - SystemExit, KeyboardInterrupt, anything
            record["error"] = describe_exception(err)
        if guard.hit:  # even if the student's code caught the exception
            record["forbidden"] = f"{guard.hit} is not allowed in this part"
        meta["cases"].append(record)
        # Write as we go: a crash in a later case keeps the earlier results.
        save_file(outputs, os.path.join(job_dir, "out.safetensors"))
        _write_json(os.path.join(job_dir, "meta.json"), meta)
    meta["finished"] = True
    _write_json(os.path.join(job_dir, "meta.json"), meta)


def _write_json(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


if __name__ == "__main__":  # a cold, one-shot run: python -m drivers.runtime JOB_DIR
    run_job(sys.argv[1])
