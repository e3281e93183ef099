"""Assignment ``convolutions``: conv2d, im2col, pooling and a Conv2d module from scratch.

Probes are seeded random tensors of awkward shapes: odd sizes, strides larger than the
kernel, padding (also larger than the kernel), non-square kernels, a batch of one, many
channels, float32 and float64. Values and gradients (input, weight, bias) are compared with
the reference solution's and with ``torch.nn.functional`` (computed in float64 when the
probes are made). PyTorch's convolutions, unfold and pooling are refused statically by name
and at run time by ATen operator. The first probe of the convolution parts has N = C_in =
C_out = H_out = W_out, so that a bias broadcast along the wrong axis or a weight used as
(in, out) runs silently and is named, rather than failing with a shape error.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from autograder.checks import ONLY_IF, agrees_with, init_scale
from autograder.laws import independent_draws
from autograder.sandbox.pool import Limits
from autograder.spec import Assignment, Case, Mistake, Part

DTYPES = {"float32": torch.float32, "float64": torch.float64}

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
# leaves a margin of about 5 while every mistake below changes values by O(1).
CONV_TOLERANCE = 4.0

CONV_LABELS = {
    "out": "output",
    "grad_x": "gradient with respect to x",
    "grad_weight": "gradient with respect to weight",
    "grad_bias": "gradient with respect to bias",
    "x": "x after the call (was it changed in place?)",
    "weight": "weight after the call (was it changed in place?)",
}
POOL_LABELS = {k: CONV_LABELS[k] for k in ("out", "grad_x", "x")}


def _randn(gen: torch.Generator, *shape, dtype="float32") -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=DTYPES[dtype])


def _as_arg(value):
    return tuple(value) if isinstance(value, list) else value


def _truth(function, gen: torch.Generator, leaves: dict, dtype: str, **kwargs):
    """Run ``function`` (PyTorch's own) in float64 on copies of ``leaves``; return the
    output, the gradients of ``(out * grad_out).sum()`` (cast back to ``dtype``) and
    ``grad_out`` itself, drawn in ``dtype`` to match the output's shape."""
    doubles = {k: v.double().requires_grad_(True) for k, v in leaves.items()}
    out = function(*doubles.values(), **kwargs)
    grad_out = _randn(gen, *out.shape, dtype=dtype)
    (out * grad_out.double()).sum().backward()
    truth = {"out": out.detach()} | {f"grad_{k}": v.grad for k, v in doubles.items()}
    return {k: v.to(DTYPES[dtype]) for k, v in truth.items()}, grad_out


# (N, C, H, W, O, kernel, stride, padding, bias, dtype)
CONV_SHAPES = [
    (3, 3, 5, 5, 3, 3, 1, 0, True, "float32"),  # N = C = O = H_out = W_out: see the docstring
    (2, 4, 9, 11, 6, [3, 2], 1, 2, True, "float64"),  # padding 2: one side only != off by one
    (1, 5, 13, 10, 7, [2, 4], [3, 2], [2, 1], True, "float32"),  # stride 3 > kernel 2
    (2, 64, 6, 6, 8, 3, 2, 1, False, "float32"),  # many channels: K = 576
    (1, 2, 4, 7, 1, [4, 1], [1, 2], [0, 3], True, "float64"),  # kernel = height; padding > kw
    (2, 3, 11, 9, 4, 2, 3, 0, True, "float64"),  # stride 3 > kernel 2: pixels skipped
]


def conv_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for n, c, h, w, o, kernel, stride, padding, bias, dtype in CONV_SHAPES:
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        leaves = {"x": _randn(gen, n, c, h, w, dtype=dtype),
                  "weight": _randn(gen, o, c, kh, kw, dtype=dtype)}  # fmt: skip
        if bias:
            leaves["bias"] = _randn(gen, o, dtype=dtype)
        truth, grad_out = _truth(F.conv2d, gen, leaves, dtype, stride=_as_arg(stride),
                                 padding=_as_arg(padding))  # fmt: skip
        config = {"stride": stride, "padding": padding, "dtype": dtype}
        cases.append(Case(config, leaves | {"grad_out": grad_out}, {"truth": truth}))
    return cases


def im2col_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for shape, kernel, stride, padding, dtype in [
        ((2, 3, 5, 6), 2, 1, 0, "float32"),
        ((1, 2, 7, 7), [3, 2], 2, 1, "float64"),
        ((2, 4, 6, 9), [2, 3], [3, 1], [0, 2], "float32"),
        ((1, 1, 4, 4), 4, 1, 0, "float64"),
        ((3, 2, 8, 5), 1, [2, 3], [1, 0], "float32"),
    ]:
        leaves = {"x": _randn(gen, *shape, dtype=dtype)}
        truth, grad_out = _truth(F.unfold, gen, leaves, dtype, kernel_size=_as_arg(kernel),
                                 stride=_as_arg(stride), padding=_as_arg(padding))  # fmt: skip
        config = {"kernel_size": kernel, "stride": stride, "padding": padding, "dtype": dtype}
        cases.append(Case(config, leaves | {"grad_out": grad_out}, {"truth": truth}))
    return cases


def pool_cases(function):
    def make(gen: torch.Generator) -> list[Case]:
        cases = []
        for shape, kernel, stride, dtype in [
            ((2, 3, 6, 6), 2, None, "float32"),  # the default stride comes first
            ((1, 2, 7, 5), [3, 2], None, "float64"),
            ((2, 4, 9, 9), 3, 2, "float32"),  # overlapping windows
            ((3, 1, 8, 10), 2, 3, "float64"),  # stride > kernel
            ((1, 5, 5, 7), [2, 3], [1, 2], "float32"),
        ]:
            leaves = {"x": _randn(gen, *shape, dtype=dtype)}
            truth, grad_out = _truth(function, gen, leaves, dtype, kernel_size=_as_arg(kernel),
                                     stride=_as_arg(stride))  # fmt: skip
            config = {"kernel_size": kernel, "stride": stride, "dtype": dtype}
            cases.append(Case(config, leaves | {"grad_out": grad_out}, {"truth": truth}))
        return cases

    return make


def _concat_pool(x: torch.Tensor, size: int) -> torch.Tensor:
    return torch.cat([F.adaptive_max_pool2d(x, size), F.adaptive_avg_pool2d(x, size)], dim=1)


def adaptive_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for shape, size, dtype in [
        ((2, 3, 5, 7), None, "float32"),  # the default size, 1
        ((1, 4, 7, 6), 2, "float64"),
        ((2, 2, 7, 8), 3, "float32"),  # 3 doesn't divide 7 or 8: overlapping regions
        ((1, 3, 2, 4), 3, "float64"),  # more regions than rows
        ((3, 2, 1, 1), 1, "float32"),
    ]:
        leaves = {"x": _randn(gen, *shape, dtype=dtype)}
        truth, grad_out = _truth(_concat_pool, gen, leaves, dtype, size=size or 1)
        config = {"size": size, "dtype": dtype}
        cases.append(Case(config, leaves | {"grad_out": grad_out}, {"truth": truth}))
    return cases


def conv_module_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for c_in, c_out, kernel, stride, padding, bias, x_shape, dtype in [
        (3, 3, 3, 1, 0, True, (3, 3, 5, 5), "float32"),
        (4, 6, [3, 2], 2, 1, True, (2, 4, 9, 8), "float64"),
        (5, 2, 1, 1, 0, False, (2, 5, 4, 4), "float32"),
        (16, 32, 3, 1, 1, True, (1, 16, 5, 5), "float32"),  # 4608 initial weights to check
    ]:
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        weight = _randn(gen, c_out, c_in, kh, kw, dtype=dtype) / (c_in * kh * kw) ** 0.5
        leaves = {"x": _randn(gen, *x_shape, dtype=dtype), "weight": weight}
        if bias:
            leaves["bias"] = _randn(gen, c_out, dtype=dtype)
        truth, grad_out = _truth(F.conv2d, gen, leaves, dtype, stride=_as_arg(stride),
                                 padding=_as_arg(padding))  # fmt: skip
        config = {"in_channels": c_in, "out_channels": c_out, "kernel_size": kernel,
                  "stride": stride, "padding": padding, "bias": bias, "dtype": dtype}  # fmt: skip
        cases.append(Case(config, leaves | {"grad_out": grad_out}, {"truth": truth}))
    return cases


def _fan_in(case: Case) -> int:
    kernel = case.config["kernel_size"]
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    return case.config["in_channels"] * kh * kw


# ----------------------------------------------------------------------------- mistakes
def _mistake(name: str, what: str, hint: str, old: str, new: str, guard: str = "") -> Mistake:
    """``old`` replaced by ``new`` in the reference's ``name``. With a ``guard`` (a condition
    put before the statement ``old`` starts), the variant runs only on probes where the
    mistake can run silently; elsewhere it raises an exception no student code raises."""
    if not guard:
        return Mistake(f"{name}: {what}", f"{name}: {hint}", {name: (old, new)})
    patch = {name: (old, f"_only_if({guard}); {new}"), "_only_if": ONLY_IF}
    return Mistake(f"{name}: {what}", f"{name}: {hint}", patch)


def _edit(text: str, *replacements: tuple[str, str]) -> str:
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text


SIZES = "h_out = (padded.shape[2] - kh) // sh + 1\n    w_out = (padded.shape[3] - kw) // sw + 1"
POOL_SIZES = "h_out = (x.shape[2] - kh) // sh + 1\n    w_out = (x.shape[3] - kw) // sw + 1"
PAD = "F.pad(x, (pw, pw, ph, ph))"
BIAS = "out = out + bias.view(1, -1, 1, 1)"
SHORT = "the output is one row and one column short: H_out = "
ONE_SIDE = (
    "the padding is added on one side only: put ph rows of zeros above *and* below, and pw "
    "columns left *and* right (F.pad(x, (pw, pw, ph, ph)))"
)
WIDTH_ONLY = (
    "only the width is padded: F.pad's pairs start from the last dimension, so pad with "
    "(pw, pw, ph, ph): left, right, top, bottom"
)
SWAPPED_PADDING = (
    "the height and width paddings are swapped: F.pad's pairs start from the last dimension "
    "(the width): (pw, pw, ph, ph)"
)
BIAS_AXIS = (
    "the bias is added along the wrong axis: it holds one value per output channel, so "
    "reshape it to (1, O, 1, 1) before adding (bias.view(1, -1, 1, 1))"
)
IN_OUT = (
    "the weight's first two axes are used the wrong way round: F.conv2d's weight is "
    "(out_channels, in_channels, kh, kw), and output channel o sums weight[o, c] over the "
    "input channels c"
)


def _size_and_padding_mistakes(name: str) -> list[Mistake]:
    """Output-size and padding mistakes: conv2d and im2col share these lines."""
    one_sided = [
        "F.pad(x, (pw, 0, ph, 0))",
        "F.pad(x, (0, pw, 0, ph))",
        "F.pad(x, (2 * pw, 0, 2 * ph, 0))",
        "F.pad(x, (0, 2 * pw, 0, 2 * ph))",
    ]
    return [
        _mistake(name, "output size off by one", SHORT + "(H + 2 * ph - kh) // sh + 1 (a "
                 "kernel as tall as the padded input still fits once)", SIZES,
                 SIZES.replace(" + 1", "")),
        *[_mistake(name, f"padding {new}", ONE_SIDE, PAD, new) for new in one_sided],
        _mistake(name, "width padded only", WIDTH_ONLY, PAD, "F.pad(x, (pw, pw))"),
        _mistake(name, "paddings swapped", SWAPPED_PADDING, PAD, "F.pad(x, (ph, ph, pw, pw))"),
    ]  # fmt: skip


def _bias_mistakes(name: str) -> list[Mistake]:
    return [
        _mistake(name, "bias on the width axis", BIAS_AXIS, BIAS, "out = out + bias",
                 "out.shape[3] == len(bias)"),
        _mistake(name, "bias on the batch axis", BIAS_AXIS, BIAS,
                 "out = out + bias.view(-1, 1, 1, 1)", "out.shape[0] == len(bias)"),
        _mistake(name, "bias on the height axis", BIAS_AXIS, BIAS,
                 "out = out + bias.view(-1, 1)", "out.shape[2] == len(bias)"),
    ]  # fmt: skip


EINSUM = 'out = out + torch.einsum("nchw,oc->nohw", window, weight[:, :, i, j])'
CONV_MISTAKES = [
    _mistake("conv2d", "kernel flipped", "the kernel is flipped (a true convolution); deep "
             "learning's convolution is a cross-correlation: out[a, b] adds weight[i, j] * "
             "x[a * sh + i, b * sw + j], no flip", "weight[:, :, i, j]",
             "weight[:, :, kh - 1 - i, kw - 1 - j]"),
    *_size_and_padding_mistakes("conv2d"),
    *_bias_mistakes("conv2d"),
    _mistake("conv2d", "in and out channels swapped", IN_OUT, EINSUM,
             EINSUM.replace("weight[:, :, i, j]", "weight[:, :, i, j].T"),
             "weight.shape[0] == weight.shape[1]"),
    _mistake("conv2d", "kernel transposed", "the kernel is transposed (its rows and columns "
             "swapped): weight[o, c, i, j] multiplies the pixel i rows down and j columns "
             "right of the window's corner", EINSUM,
             EINSUM.replace("weight[:, :, i, j]", "weight[:, :, j, i]"), "kh == kw"),
]  # fmt: skip

IM2COL_MISTAKES = [
    _mistake("im2col", "channel not slowest", "the rows are in the wrong order: F.unfold's row "
             "c * kh * kw + i * kw + j holds channel c at kernel position (i, j), so the "
             "channel varies slowest; yours puts the kernel position first",
             "torch.stack(windows, dim=2)", "torch.stack(windows, dim=1)"),
    _mistake("im2col", "kernel positions by column", "within a channel the kernel positions "
             "go column by column; F.unfold's go row by row: (0, 0), (0, 1), ..., (1, 0), ...",
             "for i in range(kh)\n        for j in range(kw)",
             "for j in range(kw)\n        for i in range(kh)"),
    _mistake("im2col", "output pixels by column", "the columns go down the output's columns "
             "first; F.unfold's column a * W_out + b is output pixel (a, b), row by row",
             "return cols.reshape(", "return cols.transpose(3, 4).reshape("),
    *_size_and_padding_mistakes("im2col"),
]  # fmt: skip

IM2COL_CALL = "cols = im2col(x, (kh, kw), stride, padding)"
CONV_IM2COL_MISTAKES = [
    _mistake("conv2d_im2col", "weight flattened in another order", "the weight is flattened "
             "in a different order from im2col's rows: weight.reshape(O, -1) puts the channel "
             "first, then the kernel row, then the column, as im2col (and F.unfold) do",
             "weight.reshape(out_channels, -1)",
             "weight.permute(0, 2, 3, 1).reshape(out_channels, -1)"),
    _mistake("conv2d_im2col", "in and out channels swapped", IN_OUT, IM2COL_CALL,
             IM2COL_CALL + "; weight = weight.transpose(0, 1)",
             "weight.shape[0] == weight.shape[1]"),
    *_bias_mistakes("conv2d_im2col"),
]  # fmt: skip


def _pool_mistakes(name: str) -> list[Mistake]:
    strides = "pair(kernel_size if stride is None else stride)"
    return [
        _mistake(name, "stride defaults to 1", "when no stride is given, it must default to "
                 f"the kernel size (non-overlapping windows), as in F.{name}; yours defaults "
                 "to 1", strides, "pair(1 if stride is None else stride)"),
        _mistake(name, "stride ignored", "the stride argument is ignored (the windows always "
                 "move by the kernel size)", strides, "pair(kernel_size)"),
        _mistake(name, "output size off by one", SHORT + "(H - kh) // sh + 1", POOL_SIZES,
                 POOL_SIZES.replace(" + 1", "")),
    ]  # fmt: skip


AVG_SUM = _mistake("avg_pool2d", "sum", "the windows are summed, not averaged: divide by "
                   "kh * kw", "return total / (kh * kw)", "return total")  # fmt: skip

ENDS = (
    "top, bottom = a * h // size, -(-(a + 1) * h // size)  # floor and ceil\n"
    "            for b in range(size):\n"
    "                left, right = b * w // size, -(-(b + 1) * w // size)"
)
FLOOR_ENDS = _edit(ENDS, ("-(-(a + 1) * h // size)", "(a + 1) * h // size"),
                   ("-(-(b + 1) * w // size)", "(b + 1) * w // size"))  # fmt: skip
EQUAL_REGIONS = _edit(
    ENDS,
    ("a * h // size, -(-(a + 1) * h // size)", "a * (h // size), (a + 1) * (h // size)"),
    ("b * w // size, -(-(b + 1) * w // size)", "b * (w // size), (b + 1) * (w // size)"),
)
REGIONS = (
    "the regions don't match adaptive pooling's when size doesn't divide the height or "
    "width: region a spans rows floor(a * H / size) up to ceil((a + 1) * H / size) "
    "(excluded), as in F.adaptive_avg_pool2d"
)
CAT = "torch.cat([max_pooled, avg_pooled], dim=1)"
ONLY_ONE = (
    "only one of the two pools is returned; concatenate the max pool and the average pool "
    "along the channels: (N, 2C, size, size)"
)
ACP = "AdaptiveConcatPool2d"
ADAPTIVE_MISTAKES = [
    _mistake(ACP, "average first", "the average pool comes first; the max pool must come "
             "first (channels 0..C-1), then the average pool (channels C..2C-1), fastai's "
             "order", CAT, "torch.cat([avg_pooled, max_pooled], dim=1)"),
    _mistake(ACP, "regions end at the floor", REGIONS, ENDS, FLOOR_ENDS),
    _mistake(ACP, "equal regions", REGIONS, ENDS, EQUAL_REGIONS),
    _mistake(ACP, "size ignored", "`size` is ignored; the output must be (N, 2C, size, size)",
             "self.size = size", "self.size = 1"),
    _mistake(ACP, "only the max pool", ONLY_ONE, CAT, "max_pooled"),
    _mistake(ACP, "only the average pool", ONLY_ONE, CAT, "avg_pooled"),
]  # fmt: skip

CONV_MODULE_MISTAKES = [
    _mistake("Conv2d", "stride and padding swapped", "forward passes the stride as the "
             "padding and the padding as the stride", "stride=self.stride, padding=self.padding",
             "stride=self.padding, padding=self.stride"),
    _mistake("Conv2d", "bias unused", "forward doesn't add the bias (pass self.bias on to "
             "conv2d)", "self.bias, stride=", "None, stride="),
]  # fmt: skip


# A solution that loops over pixels and channels in Python is correct, and hundreds of times
# slower than the reference (0.1 s of CPU): the probes are small, the limits generous.
LOOPS = Limits(wall=60.0, cpu=30.0)


def _conv_part(part_id: str, title: str, function: str, cases, mistakes, **extra) -> Part:
    return Part(
        part_id,
        title,
        cases,
        function=function,
        checks=[agrees_with("torch.nn.functional", title, CONV_LABELS, CONV_TOLERANCE)]
        + extra.pop("checks", []),
        forbidden_names=FORBIDDEN_NAMES,
        forbidden_ops=FORBIDDEN_OPS,
        mistakes=mistakes,
        tolerance=extra.pop("tolerance", CONV_TOLERANCE),
        labels=CONV_LABELS,
        limits=LOOPS,
        **extra,
    )


INIT_CHECK = init_scale("_initial_weight", "Conv2d's initial weight", _fan_in)
INIT_DRAWS = independent_draws(
    "_initial_weight", "_initial_weight_again", "Conv2d's initial weight"
)
EXACT = {"tolerance": 1.0}  # copies, maxima and means of a few values: no long sums
ASSIGNMENT = Assignment(
    id="convolutions",
    chapters=["convolutions"],
    summary=(
        "2-D convolution with stride and padding, im2col, max and average pooling, a "
        "convolution layer"
    ),
    parts=[
        _conv_part("conv2d", "conv2d", "conv2d", conv_cases, CONV_MISTAKES),
        _conv_part("im2col", "im2col", "im2col", im2col_cases, IM2COL_MISTAKES, **EXACT),
        _conv_part("conv2d_im2col", "conv2d_im2col", "conv2d_im2col", conv_cases,
                   CONV_IM2COL_MISTAKES),
        _conv_part("max_pool2d", "max_pool2d", "max_pool2d", pool_cases(F.max_pool2d),
                   _pool_mistakes("max_pool2d"), **EXACT),
        _conv_part("avg_pool2d", "avg_pool2d", "avg_pool2d", pool_cases(F.avg_pool2d),
                   [*_pool_mistakes("avg_pool2d"), AVG_SUM], **EXACT),
        _conv_part("adaptive_concat_pool", ACP, "adaptive_concat_pool", adaptive_cases,
                   ADAPTIVE_MISTAKES, **EXACT),
        _conv_part("conv_module", "Conv2d", "conv_module", conv_module_cases,
                   CONV_MODULE_MISTAKES, checks=[INIT_CHECK, INIT_DRAWS]),
    ],
)  # fmt: skip
