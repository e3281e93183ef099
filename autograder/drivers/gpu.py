"""CUDA in the sandboxed child: set up, warm up, and the errors that end a child's GPU use.

The zygote never touches CUDA (a process that forks after initialising CUDA leaves its
children unable to use it): each child initialises its own context, before its first part's
timers start (:func:`warm`), so the one-off cost (context, cuBLAS, a few hundred ms of CPU)
is not charged to a student's part. Then, for every part on CUDA (:func:`prepare`):

- TF32 is off (matrix products and convolutions in full float32, as on the CPU);
- the caching allocator may hold at most ``memory_fraction`` of the GPU's memory, so the
  children of several grading workers share one GPU without one taking all of it; the cache
  is emptied after every part, and a child's memory all goes back when it exits;
- tensors made without a ``device=`` land on the part's device (``torch.set_default_device``),
  so code written for the CPU (``torch.zeros(n)``, a model made in ``fit_...``) runs as it does
  there, next to its inputs; a student who moves tensors to the CPU is told so.

A device-side assert (or any other "CUDA error") poisons the context: every later CUDA call
in that process fails. The part that raised it is reported, and the child exits with
:data:`EXIT_CONTEXT_LOST` so the parts after it run in a fresh child.
"""

from __future__ import annotations

import gc

import torch

EXIT_CONTEXT_LOST = 72  # the child's exit status after a CUDA error poisoned its context
EXIT_NO_CUDA = 73  # the child could not start CUDA (no device, or its nodes not in the sandbox)

# What a poisoned context says: device-side asserts, illegal addresses, launch failures...
# all reported by PyTorch as "CUDA error: <what>".
LOST_CONTEXT_MARKERS = ("CUDA error:", "device-side assert triggered", "CUDA_ERROR_")


class ContextLost(Exception):
    """A CUDA error poisoned this process's context: no further part can run in it."""


def is_cuda(device: str) -> bool:
    return device.startswith("cuda")


def prepare(device: str, memory_fraction: float | None = None) -> None:
    """Set up this process for a part on ``device`` (idempotent; nothing on the CPU)."""
    if not is_cuda(device):
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if memory_fraction:
        torch.cuda.set_per_process_memory_fraction(float(memory_fraction), torch.device(device))
    torch.set_default_device(device)


def warm(device: str, memory_fraction: float | None = None) -> None:
    """Initialise CUDA and cuBLAS now (in the child, before any part's timer starts)."""
    if not is_cuda(device):
        return
    prepare(device, memory_fraction)
    a = torch.ones(8, 8, device=device)
    float((a @ a).sum())
    torch.cuda.synchronize()


def settle(device: str) -> None:
    """Wait for the case's kernels, so that an asynchronous CUDA error is charged to it."""
    if is_cuda(device) and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def release(device: str) -> None:
    """Give the GPU the memory this process cached but no longer uses (after an
    out-of-memory error, and after each part), for the other workers' children."""
    if is_cuda(device) and torch.cuda.is_initialized():
        gc.collect()
        torch.cuda.empty_cache()


def context_lost(error: str) -> bool:
    """True when the error text is a CUDA error after which the context is unusable."""
    return any(marker in error for marker in LOST_CONTEXT_MARKERS)


def off_device(value, device: str) -> str | None:
    """The device ``value`` (an output) is on, when that is not the part's device; else None."""
    if not isinstance(value, torch.Tensor):
        return None
    return None if value.device.type == torch.device(device).type else str(value.device)
