"""Assignment ``convolutions``: conv2d, im2col, pooling and a Conv2d module from scratch.

Probes (:mod:`.probes`) are seeded random tensors of awkward shapes. Values and gradients
(input, weight, bias) are compared with the reference solution's and with PyTorch's own
``torch.nn.functional`` and ``nn.Conv2d``, run by the same drivers on the same probes
through the thin adapters below, which compute in float64 and cast back (the truth for
float32 probes too). PyTorch's convolutions, unfold and pooling are refused statically by
name and at run time by ATen operator. Known mistakes are in :mod:`.mistakes`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from autograder.assignments.convolutions.mistakes import (
    ADAPTIVE_MISTAKES,
    AVG_POOL_MISTAKES,
    CONV_IM2COL_MISTAKES,
    CONV_MISTAKES,
    CONV_MODULE_MISTAKES,
    IM2COL_MISTAKES,
    MAX_POOL_MISTAKES,
)
from autograder.assignments.convolutions.probes import (
    adaptive_cases,
    conv_cases,
    conv_module_cases,
    fan_in,
    im2col_cases,
    pool_cases,
)
from autograder.checks import init_scale
from autograder.drivers import convolutions as driver
from autograder.laws import independent_draws
from autograder.sandbox import Limits
from autograder.spec import Assignment, Part, PyTorch

FORBIDDEN_NAMES = [
    "F.conv1d", "F.conv2d", "F.conv3d", "functional.conv1d", "functional.conv2d",
    "functional.conv3d", "F.conv_transpose1d", "F.conv_transpose2d", "F.conv_transpose3d",
    "functional.conv_transpose2d", "torch.conv1d", "torch.conv2d", "torch.conv3d",
    "torch.convolution", "torch.conv_transpose2d", "nn.Conv1d", "nn.Conv2d", "nn.Conv3d",
    "nn.ConvTranspose2d", "nn.LazyConv2d", "F.unfold", "functional.unfold", "nn.Unfold",
    "F.fold", "functional.fold", "nn.Fold", "_nn.im2col", "_nn.col2im",
    "F.max_pool2d", "functional.max_pool2d", "F.avg_pool2d", "functional.avg_pool2d",
    "F.adaptive_max_pool2d", "functional.adaptive_max_pool2d", "F.adaptive_avg_pool2d",
    "functional.adaptive_avg_pool2d", "F.lp_pool2d", "F.fractional_max_pool2d",
    "torch.max_pool2d", "torch.avg_pool2d", "torch.adaptive_max_pool2d",
    "torch.adaptive_avg_pool2d", "_nn.avg_pool2d", "_nn.adaptive_avg_pool2d",
    "_nn.adaptive_max_pool2d", "nn.MaxPool2d", "nn.AvgPool2d", "nn.AdaptiveMaxPool2d",
    "nn.AdaptiveAvgPool2d", "nn.LPPool2d",
]  # fmt: skip
# The ATen operators behind them (refused at run time): F.conv2d, nn.Conv2d,
# torch.conv2d and conv_transpose2d reach aten::convolution (and convolution_backward);
# F.unfold and F.fold reach aten::im2col / aten::col2im; pooling reaches
# aten::max_pool2d_with_indices, aten::avg_pool2d, aten::_adaptive_avg_pool2d and
# aten::adaptive_max_pool2d. (F.adaptive_avg_pool2d(x, 1) decomposes into aten::mean, which
# only the static check can refuse.) The backends' kernels are listed for other devices.
FORBIDDEN_OPS = [
    "aten::conv", "aten::_conv", "aten::cudnn_conv", "aten::mkldnn_conv", "aten::miopen_conv",
    "aten::thnn_conv", "aten::slow_conv", "aten::_slow_conv", "aten::_nnpack", "aten::im2col",
    "aten::col2im", "aten::max_pool", "aten::avg_pool", "aten::adaptive_", "aten::_adaptive_",
    "aten::mkldnn_max_pool", "aten::mkldnn_adaptive", "aten::fractional_max_pool",
    "aten::quantized_max_pool",
]  # fmt: skip

# A convolution output is a sum of K = C * kh * kw products, a weight gradient one of
# N * H_out * W_out; in float32 their rounding error grows like sqrt(K) * 6e-8 * |terms|
# (and up to K times that). Correct implementations written four ways (loops, strided
# slices, as_strided + einsum, Tensor.unfold + tensordot) stayed within 0.85 of the default
# float32 tolerance of F.conv2d's values on sums of up to 1152 terms, and reached 3.8 at
# 1800; the probes here keep K <= 576, and 4x the default tolerance (rtol 4e-4, atol 4e-5)
# leaves a margin of about 5 while every known mistake (.mistakes) changes values by O(1).
CONV_TOLERANCE = 4.0


def in_float64(function):
    """PyTorch's ``function`` computed in float64 on float64 copies of its tensor arguments,
    its result cast back to the dtype of ``x``: values and gradients (through the casts)
    without float32 rounding, so a float32 submission is held to the exact answer."""

    def run(x, *args, **kwargs):
        doubles = [a.double() if isinstance(a, torch.Tensor) else a for a in args]
        return function(x.double(), *doubles, **kwargs).to(x.dtype)

    return run


def _concat_pool(x: torch.Tensor, size: int) -> torch.Tensor:
    return torch.cat([F.adaptive_max_pool2d(x, size), F.adaptive_avg_pool2d(x, size)], dim=1)


class ConcatPool(nn.Module):
    """fastai's AdaptiveConcatPool2d from PyTorch's adaptive pools: (N, C, H, W) ->
    (N, 2C, size, size), the max pool's channels first."""

    def __init__(self, size: int = 1):
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return in_float64(_concat_pool)(x, self.size)


class Conv2dIn64(nn.Conv2d):
    """nn.Conv2d itself (its parameters, their names and initialisation), its forward
    computed in float64: (N, C, H, W) -> (N, O, H_out, W_out)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return in_float64(F.conv2d)(x, self.weight, self.bias, self.stride, self.padding)


def functional(name: str, student: str | None = None) -> PyTorch:
    """torch.nn.functional's ``name`` (in float64), bound to the student's ``student``."""
    return PyTorch(f"torch.nn.functional.{name}", {student or name: in_float64(getattr(F, name))})


# A solution that loops over pixels and channels in Python is correct, and hundreds of times
# slower than the reference (0.1 s of CPU): the probes are small, the limits generous.
LOOPS = Limits(wall=60.0, cpu=30.0)
REFUSED = {"forbidden_names": FORBIDDEN_NAMES, "forbidden_ops": FORBIDDEN_OPS, "limits": LOOPS}
CONV = {"tolerance": CONV_TOLERANCE} | REFUSED  # long sums (see CONV_TOLERANCE)
EXACT = {"tolerance": 1.0} | REFUSED  # copies, maxima and means of a few values

conv_module = driver.conv_module.outputs
ASSIGNMENT = Assignment(
    id="convolutions",
    chapters=["convolutions"],
    summary=(
        "2-D convolution with stride and padding, im2col, max and average pooling, a "
        "convolution layer"
    ),
    parts=[
        Part("conv2d", "conv2d", conv_cases, pytorch=functional("conv2d"),
             mistakes=CONV_MISTAKES, **CONV),
        Part("im2col", "im2col", im2col_cases, pytorch=functional("unfold", "im2col"),
             mistakes=IM2COL_MISTAKES, **EXACT),
        Part("conv2d_im2col", "conv2d_im2col", conv_cases,
             pytorch=functional("conv2d", "conv2d_im2col"), mistakes=CONV_IM2COL_MISTAKES,
             **CONV),
        Part("max_pool2d", "max_pool2d", pool_cases, pytorch=functional("max_pool2d"),
             mistakes=MAX_POOL_MISTAKES, **EXACT),
        Part("avg_pool2d", "avg_pool2d", pool_cases, pytorch=functional("avg_pool2d"),
             mistakes=AVG_POOL_MISTAKES, **EXACT),
        Part("adaptive_concat_pool", "AdaptiveConcatPool2d", adaptive_cases,
             pytorch=PyTorch("torch.nn.functional.adaptive_max_pool2d and adaptive_avg_pool2d",
                             {"AdaptiveConcatPool2d": ConcatPool}),
             mistakes=ADAPTIVE_MISTAKES, **EXACT),
        Part("conv_module", "Conv2d", conv_module_cases,
             pytorch=PyTorch("torch.nn.Conv2d", {"Conv2d": Conv2dIn64}),
             checks=[init_scale(conv_module.initial_weight, "Conv2d's initial weight", fan_in),
                     independent_draws(conv_module.initial_weight, conv_module.initial_weight_again,
                                       "Conv2d's initial weight")],
             mistakes=CONV_MODULE_MISTAKES, **CONV),
    ],
)  # fmt: skip
