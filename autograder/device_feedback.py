"""What grading on a GPU changes for a part: its limits, and the words for GPU-only failures.

Out of GPU memory, a device-side assert (after which the sandbox's child exits, so the parts
after it run in a fresh one), tensors on two devices, results moved off the part's device:
each gets a message on the part it happened in.
"""

from __future__ import annotations

import dataclasses

from autograder.drivers import gpu
from autograder.sandbox import Limits
from autograder.spec import Part

# On CUDA a part's CPU time includes launching kernels, loading each kernel on its first use
# and spinning while the GPU works: each part's limits get this much more there.
CUDA_EXTRA_CPU = 2.0
CUDA_EXTRA_WALL = 5.0


def limits_on(limits: Limits, device: str) -> Limits:
    """A part's limits, as they apply on ``device``."""
    if not gpu.is_cuda(device):
        return limits
    return dataclasses.replace(
        limits, cpu=limits.cpu + CUDA_EXTRA_CPU, wall=limits.wall + CUDA_EXTRA_WALL
    )


# What PyTorch says when an operation gets tensors from two devices.
TWO_DEVICES = (
    "Expected all tensors to be on the same device",
    "on the same device as the indexed tensor",
    "Expected object of device type",
)


def explain_cuda_error(error: str) -> str | None:
    """Words for the errors only a GPU raises (the sandbox's child exits after those that
    poison its CUDA context; the parts after it run in a fresh one)."""
    if error.startswith("OutOfMemoryError") or "CUDA out of memory" in error:
        return (
            "ran out of GPU memory (each submission may use only its share of the GPU, which "
            "grades several at once): is something kept alive across steps, e.g. losses "
            "stored with their graphs (store loss.item()), or a tensor much larger than the "
            "inputs?"
        )
    if "device-side assert triggered" in error:
        return (
            "a CUDA kernel failed an assertion (a device-side assert): usually an index out "
            "of range, e.g. an embedding index >= its number of rows, or a class >= the "
            "number of classes in cross_entropy; on the CPU the same code names the index"
        )
    if gpu.context_lost(error):
        return "a CUDA error stopped the GPU for this part (e.g. an out-of-range memory access)"
    if "can't convert cuda" in error:
        return (
            "a GPU tensor was turned into NumPy (or a list of numbers): this part ran on the "
            "GPU; stay with torch operations, which run where the tensors are"
        )
    if any(marker in error for marker in TWO_DEVICES):
        return (
            "tensors on two devices met in one operation: this part ran on the GPU, its inputs "
            "there; make new tensors where the inputs are (device=x.device, torch.zeros_like(x)) "
            "and don't move them with .cpu() or .to('cpu')"
        )
    return None


def wrong_device(part: Part, where: dict, device: str) -> str:
    """Outputs that came back from another device than the part ran on (``where``: output
    key -> device, from the sandbox: untrusted text, so shortened)."""
    keys = [str(k)[:60] for k in list(where)[:3]] if isinstance(where, dict) else ["?"]
    names = ", ".join(part.label(k) for k in keys)
    elsewhere = str(next(iter(where.values()), "?"))[:20] if isinstance(where, dict) else "?"
    return (
        f"{part.title}: {names} came back on {elsewhere}, but this part ran on {device}, with "
        "its inputs there: return results on the inputs' device (don't call .cpu(), "
        ".to(...) or .numpy() on them)"
    )
