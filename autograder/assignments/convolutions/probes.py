"""The convolutions assignment's probes: seeded tensors of awkward shapes.

Odd sizes, strides larger than the kernel, padding (also larger than the kernel),
non-square kernels, a batch of one, many channels, float32 and float64. Each case holds the
inputs (leaves in the driver) and ``grad_out``, drawn to the output's shape, which is
computed here from the sizes: nothing is computed with PyTorch's layers when the probes are
made (the grader runs the part's driver on them for that, see the spec's ``pytorch=``).
"""

from __future__ import annotations

import torch

from autograder.probes import randn
from autograder.spec import Case


def pair(value) -> tuple[int, int]:
    """JSON's int or [a, b] -> (a, b), as the notebook's ``pair``."""
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def sliding(size: tuple, kernel, stride, padding=0) -> tuple[int, int]:
    """(H_out, W_out) of a kernel sliding over (H, W) = ``size``: (H + 2p - k) // s + 1."""
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    return (size[0] + 2 * ph - kh) // sh + 1, (size[1] + 2 * pw - kw) // sw + 1


def _case(gen: torch.Generator, config: dict, leaves: dict, out_shape: tuple) -> Case:
    """The case of ``leaves`` with ``grad_out`` drawn (last) in the config's dtype."""
    grad_out = randn(gen, *out_shape, dtype=config["dtype"])
    return Case(config, leaves | {"grad_out": grad_out})


def _convolution(gen: torch.Generator, config: dict, leaves: dict) -> Case:
    """A convolution's case: ``leaves`` holds x and weight (and bias) already drawn."""
    n, _, h, w = leaves["x"].shape
    out = sliding((h, w), tuple(leaves["weight"].shape[2:]), config["stride"], config["padding"])
    return _case(gen, config, leaves, (n, leaves["weight"].shape[0], *out))


# (N, C, H, W, O, kernel, stride, padding, bias, dtype). The first has N = C = O = H_out =
# W_out, so that a bias broadcast along the wrong axis or a weight used as (in, out) runs
# silently and is named, rather than failing with a shape error.
CONV_SHAPES = [
    (3, 3, 5, 5, 3, 3, 1, 0, True, "float32"),  # N = C = O = H_out = W_out
    (2, 4, 9, 11, 6, [3, 2], 1, 2, True, "float64"),  # padding 2: one side only != off by one
    (1, 5, 13, 10, 7, [2, 4], [3, 2], [2, 1], True, "float32"),  # stride 3 > kernel 2
    (2, 64, 6, 6, 8, 3, 2, 1, False, "float32"),  # many channels: K = 576
    (1, 2, 4, 7, 1, [4, 1], [1, 2], [0, 3], True, "float64"),  # kernel = height; padding > kw
    (2, 3, 11, 9, 4, 2, 3, 0, True, "float64"),  # stride 3 > kernel 2: pixels skipped
]


def conv_cases(gen: torch.Generator) -> list[Case]:
    """x (N, C, H, W), weight (O, C, kh, kw), bias (O,) or none, grad_out (N, O, H_out, W_out)."""
    cases = []
    for n, c, h, w, o, kernel, stride, padding, bias, dtype in CONV_SHAPES:
        leaves = {"x": randn(gen, n, c, h, w, dtype=dtype),
                  "weight": randn(gen, o, c, *pair(kernel), dtype=dtype)}  # fmt: skip
        if bias:
            leaves["bias"] = randn(gen, o, dtype=dtype)
        config = {"stride": stride, "padding": padding, "dtype": dtype}
        cases.append(_convolution(gen, config, leaves))
    return cases


def im2col_cases(gen: torch.Generator) -> list[Case]:
    """x (N, C, H, W), grad_out (N, C * kh * kw, H_out * W_out)."""
    cases = []
    for shape, kernel, stride, padding, dtype in [
        ((2, 3, 5, 6), 2, 1, 0, "float32"),
        ((1, 2, 7, 7), [3, 2], 2, 1, "float64"),
        ((2, 4, 6, 9), [2, 3], [3, 1], [0, 2], "float32"),
        ((1, 1, 4, 4), 4, 1, 0, "float64"),
        ((3, 2, 8, 5), 1, [2, 3], [1, 0], "float32"),
    ]:
        (kh, kw), (h_out, w_out) = pair(kernel), sliding(shape[2:], kernel, stride, padding)
        config = {"kernel_size": kernel, "stride": stride, "padding": padding, "dtype": dtype}
        leaves = {"x": randn(gen, *shape, dtype=dtype)}
        cases.append(_case(gen, config, leaves, (shape[0], shape[1] * kh * kw, h_out * w_out)))
    return cases


def pool_cases(gen: torch.Generator) -> list[Case]:
    """x (N, C, H, W), grad_out (N, C, H_out, W_out); the stride is None (the default) in
    the first probes."""
    cases = []
    for shape, kernel, stride, dtype in [
        ((2, 3, 6, 6), 2, None, "float32"),  # the default stride comes first
        ((1, 2, 7, 5), [3, 2], None, "float64"),
        ((2, 4, 9, 9), 3, 2, "float32"),  # overlapping windows
        ((3, 1, 8, 10), 2, 3, "float64"),  # stride > kernel
        ((1, 5, 5, 7), [2, 3], [1, 2], "float32"),
    ]:
        out = sliding(shape[2:], kernel, kernel if stride is None else stride)
        config = {"kernel_size": kernel, "stride": stride, "dtype": dtype}
        cases.append(_case(gen, config, {"x": randn(gen, *shape, dtype=dtype)}, (*shape[:2], *out)))
    return cases


def adaptive_cases(gen: torch.Generator) -> list[Case]:
    """x (N, C, H, W), grad_out (N, 2C, size, size); size None means the default, 1."""
    cases = []
    for shape, size, dtype in [
        ((2, 3, 5, 7), None, "float32"),  # the default size, 1
        ((1, 4, 7, 6), 2, "float64"),
        ((2, 2, 7, 8), 3, "float32"),  # 3 doesn't divide 7 or 8: overlapping regions
        ((1, 3, 2, 4), 3, "float64"),  # more regions than rows
        ((3, 2, 1, 1), 1, "float32"),
    ]:
        n, c = shape[:2]
        leaves = {"x": randn(gen, *shape, dtype=dtype)}
        out = (n, 2 * c, size or 1, size or 1)
        cases.append(_case(gen, {"size": size, "dtype": dtype}, leaves, out))
    return cases


def conv_module_cases(gen: torch.Generator) -> list[Case]:
    """Conv2d's arguments; weight (O, C, kh, kw) at nn.Conv2d's scale, x, bias, grad_out."""
    cases = []
    for c_in, c_out, kernel, stride, padding, bias, x_shape, dtype in [
        (3, 3, 3, 1, 0, True, (3, 3, 5, 5), "float32"),
        (4, 6, [3, 2], 2, 1, True, (2, 4, 9, 8), "float64"),
        (5, 2, 1, 1, 0, False, (2, 5, 4, 4), "float32"),
        (16, 32, 3, 1, 1, True, (1, 16, 5, 5), "float32"),  # 4608 initial weights to check
    ]:
        scale = fan_in_of(c_in, kernel) ** 0.5
        weight = randn(gen, c_out, c_in, *pair(kernel), dtype=dtype) / scale
        leaves = {"x": randn(gen, *x_shape, dtype=dtype), "weight": weight}
        if bias:
            leaves["bias"] = randn(gen, c_out, dtype=dtype)
        config = {"in_channels": c_in, "out_channels": c_out, "kernel_size": kernel,
                  "stride": stride, "padding": padding, "bias": bias, "dtype": dtype}  # fmt: skip
        cases.append(_convolution(gen, config, leaves))
    return cases


def fan_in_of(in_channels: int, kernel) -> int:
    """The number of inputs each output of a convolution sums: C * kh * kw."""
    kh, kw = pair(kernel)
    return in_channels * kh * kw


def fan_in(case: Case) -> int:
    """Conv2d's fan-in on a probe of :func:`conv_module_cases`."""
    return fan_in_of(case.config["in_channels"], case.config["kernel_size"])
