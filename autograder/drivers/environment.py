"""A driver that grades nothing: it reports what a part sees inside the sandbox, for
``benchmarks/gpu_check.py`` (is TF32 off, which NVIDIA device nodes are there, where do new
tensors go). Like every driver it returns tensors only; text travels as UTF-8 bytes."""

from __future__ import annotations

import glob

import torch

from .outputs import produces


def _text(value: str) -> torch.Tensor:
    return torch.tensor(list(value.encode()), dtype=torch.uint8)


@produces(
    recorded=("cuda_available", "tf32_matmul", "tf32_cudnn", "new_tensors_on_device",
              "matmul_error", "nodes")
)  # fmt: skip
def report(ns: dict, inputs: dict, config: dict) -> dict:
    """Flags (0-dim bool tensors), the device nodes, and how far a float32 matrix product on
    the part's device is from float64: about 1e-6 in full float32, 1e-3 with TF32 (n = 512)."""
    device = config.get("device", "cpu")
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(512, 512, generator=gen, dtype=torch.float64, device="cpu")
    b = torch.randn(512, 512, generator=gen, dtype=torch.float64, device="cpu")
    exact = a @ b
    product = (a.float().to(device) @ b.float().to(device)).double().cpu()
    error = float((product - exact).abs().max() / exact.abs().max())
    # Made without a device: on the part's device (the sandbox sets it as the default).
    return {
        "cuda_available": torch.tensor(torch.cuda.is_available()),
        "tf32_matmul": torch.tensor(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn": torch.tensor(torch.backends.cudnn.allow_tf32),
        "new_tensors_on_device": torch.tensor(torch.empty(1).device.type == device.split(":")[0]),
        "matmul_error": torch.tensor(error, dtype=torch.float64),
        "nodes": _text("\n".join(sorted(glob.glob("/dev/nvidia*")))),
    }
