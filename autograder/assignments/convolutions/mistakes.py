"""The convolutions assignment's known mistakes, each an edit of the reference solution.

A mistake's name and hint start with the definition it is in (``conv2d: ...``). Mistakes
that can run only on some probes (a bias broadcast along the width needs W_out == O) carry
a guard (:data:`autograder.checks.ONLY_IF`): elsewhere the variant raises an exception no
student code raises, so it is named only where it runs silently.
"""

from __future__ import annotations

from autograder.checks import ONLY_IF
from autograder.spec import Mistake


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
IM2COL_CALL = "cols = im2col(x, (kh, kw), stride, padding)"
EINSUM = 'out = out + torch.einsum("nchw,oc->nohw", window, weight[:, :, i, j])'
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


MAX_POOL_MISTAKES = _pool_mistakes("max_pool2d")
AVG_POOL_MISTAKES = [
    *_pool_mistakes("avg_pool2d"),
    _mistake("avg_pool2d", "sum", "the windows are summed, not averaged: divide by kh * kw",
             "return total / (kh * kw)", "return total"),
]  # fmt: skip

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
