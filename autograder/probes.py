"""Seeded probe tensors for the specs: the dtypes by name, draws from a generator.

Probes are made in the trusted process from a ``torch.Generator`` seeded per part, so the
same submission always meets the same probes. Only their configs (JSON) and tensors go to
the sandbox.
"""

from __future__ import annotations

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def randn(gen: torch.Generator, *shape, dtype: str = "float32", scale: float = 1.0):
    """Standard normal values (times ``scale``) of ``shape`` in the dtype named ``dtype``."""
    values = torch.randn(*shape, generator=gen, dtype=DTYPES[dtype])
    return values * scale if scale != 1.0 else values


def uniform(gen: torch.Generator, *shape, low: float, high: float, dtype: str = "float32"):
    """Uniform values in [low, high) of ``shape`` in the dtype named ``dtype``."""
    return low + (high - low) * torch.rand(*shape, generator=gen, dtype=DTYPES[dtype])


def index(gen: torch.Generator, n: int, shape: tuple) -> torch.Tensor:
    """Random indices in [0, n), with the first and last rows and a repeat always present."""
    idx = torch.randint(0, n, shape, generator=gen)
    flat = idx.view(-1)
    if flat.numel() >= 3:
        flat[0], flat[1], flat[2] = 0, n - 1, flat[3 % flat.numel()]
    return idx
