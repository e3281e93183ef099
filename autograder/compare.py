"""Compare what came back with what was expected, and say what differs in words.

Tolerances depend on the dtype and the device (float32 on CUDA runs with TF32 turned off
in the sandbox, but reductions still reorder). Messages give shapes, dtypes and error sizes,
never the probe's values.
"""

from __future__ import annotations

import torch

# (rtol, atol) by dtype, for the CPU; CUDA widens float32 a little.
TOLERANCES = {
    torch.float64: (1e-7, 1e-9),
    torch.float32: (1e-4, 1e-5),
    torch.float16: (1e-2, 1e-3),
    torch.bfloat16: (2e-2, 1e-2),
}


# How much wider (rtol, atol) are on CUDA, by dtype: float32 reductions and matrix products
# run in another order there (TF32 is off in the sandbox); float64 rounds too finely to matter.
CUDA_WIDENING = {torch.float32: (5.0, 10.0)}


def widened(
    rtol: float, atol: float, dtype: torch.dtype, device: str = "cpu"
) -> tuple[float, float]:
    """``(rtol, atol)``, set for the CPU, widened for ``device`` (every comparison and every
    check that compares numbers goes through here, so they widen alike)."""
    if device.startswith("cuda"):
        rtol_factor, atol_factor = CUDA_WIDENING.get(dtype, (1.0, 1.0))
        return rtol * rtol_factor, atol * atol_factor
    return rtol, atol


def tolerance(dtype: torch.dtype, device: str = "cpu", scale: float = 1.0) -> tuple[float, float]:
    rtol, atol = widened(*TOLERANCES.get(dtype, (0.0, 0.0)), dtype, device)
    return rtol * scale, atol * scale


def shape_text(shape) -> str:
    dims = tuple(int(d) for d in shape)
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def compare_tensor(
    label: str, got: torch.Tensor, expected: torch.Tensor, device: str = "cpu", scale: float = 1.0
) -> str | None:
    """None if ``got`` matches ``expected``; else a message naming the difference."""
    if tuple(got.shape) != tuple(expected.shape):
        hint = ""
        if got.dim() == expected.dim() + 1 and got.shape[-1] == 1:
            hint = ": is a trailing dimension of size 1 left in (squeeze it)?"
        elif got.dim() == expected.dim() + 1 and expected.dim() >= 1:
            hint = ": is a tensor of shape (B, 1) being broadcast against one of shape (B,)?"
        return (
            f"{label}: shape {shape_text(got.shape)}, expected {shape_text(expected.shape)}{hint}"
        )
    if expected.is_floating_point() and not got.is_floating_point():
        return f"{label}: dtype {got.dtype}, expected a floating-point tensor ({expected.dtype})"
    if expected.is_floating_point() and got.dtype != expected.dtype:
        return (
            f"{label}: dtype {got.dtype}, expected {expected.dtype}: keep the dtype of the "
            "inputs and parameters (don't hard-code one)"
        )
    if not expected.is_floating_point():
        if not torch.equal(got.to(expected.dtype), expected):
            wrong = (got.to(expected.dtype) != expected).sum().item()
            return f"{label}: {wrong} of {expected.numel()} entries differ"
        return None
    if expected.numel() == 0:
        return None
    finite = torch.isfinite(expected)
    if not torch.equal(torch.isfinite(got), finite):
        bad = (~torch.isfinite(got) & finite).sum().item()
        return f"{label}: {bad} entries are NaN or infinite where finite values were expected"
    rtol, atol = tolerance(expected.dtype, device, scale)
    g, e = got[finite].double(), expected[finite].double()
    error = (g - e).abs()
    allowed = atol + rtol * e.abs()
    if bool((error <= allowed).all()):
        return None
    wrong = int((error > allowed).sum())
    worst = float(error.max())
    size = float(e.abs().max()) if e.numel() else 0.0
    return (
        f"{label}: {wrong} of {e.numel()} values differ (largest error {worst:.3g} where the "
        f"expected values reach {size:.3g}; tolerance {rtol:g} relative, {atol:g} absolute)"
    )


def same_outputs(
    got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], device: str = "cpu"
) -> bool:
    """True if every expected output is present in ``got`` and matches."""
    for key, value in expected.items():
        if key not in got or compare_tensor(key, got[key], value, device, scale=10) is not None:
            return False
    return True
