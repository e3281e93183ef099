"""Assignment convolutions: the solution scores 100 % (and agrees with torch.nn.functional),
the release scores 0, each wrong submission loses points on the right part with a message
naming the mistake, and correct submissions written differently get full marks."""

from __future__ import annotations

import dataclasses

import pytest

from autograder import compare
from autograder.grade import Grader
from tests.submissions import (
    check_release_scores_zero,
    check_solution_scores_full_marks,
    check_wrong_variant,
    grade,
    replace_in_cell,
    set_cell,
    source_notebook,
)

pytestmark = pytest.mark.task("convolutions")


def test_solution_scores_full_marks(grader, tmp_path):
    check_solution_scores_full_marks(grader, tmp_path, "convolutions", 10)


def test_release_scores_zero_with_not_implemented(grader, tmp_path):
    check_release_scores_zero(grader, tmp_path, "convolutions")


def test_every_mistake_applies_and_changes_some_output(grader):
    """Each known mistake patches the reference cleanly and differs from it on at least one
    probe (else it could never be named); names are unique (the grader caches by name)."""
    names = [m.name for p in grader.assignment.parts for m in p.mistakes]
    assert len(names) == len(set(names))
    for p in grader.assignment.parts:
        for mistake in p.mistakes:
            namespace = grader._mistake_namespace(mistake)
            differs = False
            for case, expected in zip(grader.cases(p), grader.expected(p), strict=True):
                try:
                    wrong = grader.run_driver(namespace, p, case)
                except Exception:  # noqa: BLE001 - a variant that doesn't apply to this probe
                    continue
                if not compare.same_outputs(wrong, expected):
                    differs = True
                    break
            assert differs, (p.id, mistake.name)


CONV = "conv2d-solution"
IM2COL = "im2col-solution"
CONV_IM2COL = "conv2d_im2col-solution"
MAX = "max_pool2d-solution"
AVG = "avg_pool2d-solution"
CONCAT = "adaptive_concat_pool-solution"
MODULE = "conv_module-solution"
EINSUM = 'torch.einsum("nchw,oc->nohw", window, weight[:, :, i, j])'
SIZES = "h_out = (padded.shape[2] - kh) // sh + 1\n    w_out = (padded.shape[3] - kw) // sw + 1"
H_W = "(sh, sw), (ph, pw) = pair(stride), pair(padding)\n    out_channels, _, kh, kw = weight.shape"
CONV_BODY_END = (
    "    if bias is not None:\n        out = out + bias.view(1, -1, 1, 1)\n    return out"
)

WRONG = {
    "kernel flipped with flip()": (
        CONV, H_W, H_W + "\n    weight = weight.flip(2, 3)", "conv2d", "flipped"),
    "output size without + 1": (
        CONV, SIZES,
        "h_out = (x.shape[2] + 2 * ph - kh) // sh\n    w_out = (x.shape[3] + 2 * pw - kw) // sw",
        "conv2d", "one row and one column short"),
    "padding at the bottom right only": (
        CONV, "F.pad(x, (pw, pw, ph, ph))", "F.pad(x, [0, 2 * pw, 0, 2 * ph])", "conv2d",
        "one side only"),
    "padding at the top left only": (
        CONV, "F.pad(x, (pw, pw, ph, ph))", "F.pad(x, (pw, 0, ph, 0))", "conv2d", "one side only"),
    "only the width padded": (
        CONV, "F.pad(x, (pw, pw, ph, ph))", "F.pad(x, (pw, pw))", "conv2d", "only the width"),
    "bias along the width": (
        CONV, "bias.view(1, -1, 1, 1)", "bias", "conv2d", "wrong axis"),
    "bias along the batch": (
        CONV, "bias.view(1, -1, 1, 1)", "bias[:, None, None, None]", "conv2d", "wrong axis"),
    "weight read as (in, out)": (
        CONV, EINSUM, 'torch.einsum("nchw,co->nohw", window, weight[:, :, i, j])', "conv2d",
        "wrong way round"),
    "F.conv2d used": (
        CONV, CONV_BODY_END, "    return F.conv2d(x, weight, bias, stride=stride, padding=padding)",
        "conv2d", "`F.conv2d`"),
    "convolution through a computed name": (
        CONV, CONV_BODY_END,
        '    return getattr([torch][0], "conv" + "2d")(x, weight, bias, stride, padding)', "conv2d",
        "aten::conv2d is not allowed"),  # past the static check (vars(torch)): the guard
    "im2col rows by kernel position": (
        IM2COL, "torch.stack(windows, dim=2)", "torch.stack(windows, dim=1)", "im2col",
        "channel varies slowest"),
    "im2col kernel positions by column": (
        IM2COL, "for i in range(kh)\n        for j in range(kw)",
        "for j in range(kw)\n        for i in range(kh)", "im2col", "column by column"),
    "F.unfold used": (
        IM2COL, "cols = torch.stack(windows, dim=2)",
        "return F.unfold(x, kernel_size, 1, padding, stride)", "im2col", "`F.unfold`"),
    "conv2d_im2col weight flattened channel last": (
        CONV_IM2COL, "weight.reshape(out_channels, -1)",
        "weight.permute(0, 2, 3, 1).reshape(out_channels, -1)", "conv2d_im2col",
        "flattened in a different order"),
    "conv2d_im2col bias along the width": (
        CONV_IM2COL, "bias.view(1, -1, 1, 1)", "bias", "conv2d_im2col", "wrong axis"),
    "max pool stride defaults to 1": (
        MAX, "pair(kernel_size if stride is None else stride)", "pair(stride or 1)",
        "max_pool2d", "defaults to 1"),
    "F.max_pool2d used": (
        MAX, "    out = None\n", "    return F.max_pool2d(x, kernel_size, stride)\n", "max_pool2d",
        "`F.max_pool2d`"),
    "max pooling through nn.MaxPool2d": (
        MAX, "    out = None\n", "    return nn.MaxPool2d(kernel_size, stride)(x)\n",
        "max_pool2d", "`nn.MaxPool2d`"),
    "avg pool stride defaults to 1": (
        AVG, "pair(kernel_size if stride is None else stride)", "pair(stride or 1)",
        "avg_pool2d", "defaults to 1"),
    "avg pool summed": (
        AVG, "return total / (kh * kw)", "return total", "avg_pool2d", "summed, not averaged"),
    "average pool first": (
        CONCAT, "[max_pooled, avg_pooled]", "[avg_pooled, max_pooled]", "adaptive_concat_pool",
        "max pool must come first"),
    "regions cut at the floor": (
        CONCAT, "-(-(a + 1) * h // size)", "(a + 1) * h // size", "adaptive_concat_pool",
        "regions don't match"),
    "adaptive average through F": (
        CONCAT, "means.append(region.mean(dim=(2, 3)))",
        "means.append(F.adaptive_avg_pool2d(region, 1).flatten(2)[..., 0])",
        "adaptive_concat_pool", "`F.adaptive_avg_pool2d`"),
    "weight shaped (in, out)": (
        MODULE, "torch.empty(out_channels, in_channels, kh, kw)",
        "torch.empty(in_channels, out_channels, kh, kw)", "conv_module",
        "(out_channels, in_channels, kh, kw)"),
    "unscaled init": (
        MODULE, "torch.empty(out_channels, in_channels, kh, kw).uniform_(-bound, bound)",
        "torch.randn(out_channels, in_channels, kh, kw)", "conv_module", "standard deviation"),
    "zero init": (
        MODULE, "torch.empty(out_channels, in_channels, kh, kw).uniform_(-bound, bound)",
        "torch.zeros(out_channels, in_channels, kh, kw)", "conv_module",
        "every initial value is 0"),
    "bias kept with bias=False": (
        MODULE, "            self.bias = None",
        "            self.bias = nn.Parameter(torch.zeros(out_channels))", "conv_module",
        "set self.bias = None"),
    "bias not registered": (
        MODULE, "self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))",
        "self.bias = torch.zeros(out_channels)", "conv_module", "not registered as a parameter"),
    "stride and padding swapped in forward": (
        MODULE, "stride=self.stride, padding=self.padding",
        "stride=self.padding, padding=self.stride", "conv_module",
        "stride as the padding"),
    "nn.Conv2d inside": (
        MODULE, "return conv2d(x, self.weight, self.bias, stride=",
        "return nn.Conv2d(1, 1, 1)(x) or conv2d(x, self.weight, self.bias, stride=",
        "conv_module", "`nn.Conv2d`"),
    "Conv2d: initial weight seeded in __init__": (
        MODULE, "        weight = torch.empty(",
        "        torch.manual_seed(1)\n        weight = torch.empty(", "conv_module",
        "hold exactly the same values"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_submission_loses_points_on_the_right_part(grader, tmp_path, name):
    check_wrong_variant(grader, tmp_path, "convolutions", name, WRONG[name])


def test_a_mistake_costs_only_the_parts_that_use_it(grader, tmp_path):
    nb = replace_in_cell(source_notebook("convolutions"), CONV, "bias.view(1, -1, 1, 1)", "bias")
    result = grade(grader, tmp_path, nb)
    failed = {p.id for p in result.parts if not p.passed}
    assert failed == {"conv2d", "conv_module"}, result.to_text()  # Conv2d calls conv2d


LOOPS = '''
def conv2d(x, weight, bias=None, stride=1, padding=0):
    """One output pixel at a time."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    out_channels, _, kh, kw = weight.shape
    padded = torch.zeros(x.shape[0], x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw,
                         dtype=x.dtype, device=x.device)
    padded[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]] = x
    rows = []
    for a in range((padded.shape[2] - kh) // sh + 1):
        row = []
        for b in range((padded.shape[3] - kw) // sw + 1):
            patch = padded[:, :, a * sh:a * sh + kh, b * sw:b * sw + kw]
            row.append((patch.unsqueeze(1) * weight).sum(dim=(2, 3, 4)))
        rows.append(torch.stack(row, dim=-1))
    out = torch.stack(rows, dim=-2)
    return out if bias is None else out + bias[:, None, None]
'''

AS_STRIDED = '''
def conv2d(x, weight, bias=None, stride=1, padding=0):
    """Every window as a strided view, contracted with the kernel in one einsum."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    padded = F.pad(x, (pw, pw, ph, ph)).contiguous()
    n, c, h, w = padded.shape
    kh, kw = weight.shape[2:]
    s = padded.stride()
    shape = (n, c, (h - kh) // sh + 1, (w - kw) // sw + 1, kh, kw)
    windows = padded.as_strided(shape, (s[0], s[1], s[2] * sh, s[3] * sw, s[2], s[3]))
    out = torch.einsum("nchwij,ocij->nohw", windows, weight)
    if bias is not None:
        out += bias.reshape(-1, 1, 1)
    return out
'''

TENSOR_UNFOLD = '''
def conv2d(x, weight, bias=None, stride=1, padding=0):
    """Sliding windows with Tensor.unfold (a view), then tensordot."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    kh, kw = weight.shape[-2:]
    windows = F.pad(x, (pw, pw, ph, ph)).unfold(2, kh, sh).unfold(3, kw, sw)
    out = torch.tensordot(windows, weight, dims=([1, 4, 5], [1, 2, 3])).permute(0, 3, 1, 2)
    return out if bias is None else out + bias.view(1, -1, 1, 1)
'''

VIA_IM2COL = '''
def conv2d(x, weight, bias=None, stride=1, padding=0):
    """conv2d through the notebook's own im2col."""
    return conv2d_im2col(x, weight, bias, stride, padding)
'''

IM2COL_UNFOLD = """
def im2col(x, kernel_size, stride=1, padding=0):
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel_size), pair(stride), pair(padding)
    windows = F.pad(x, (pw, pw, ph, ph)).unfold(2, kh, sh).unfold(3, kw, sw)
    n, c, h_out, w_out = windows.shape[:4]
    return windows.permute(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, h_out * w_out)
"""

IM2COL_GATHER = '''
def im2col(x, kernel_size, stride=1, padding=0):
    """Advanced indexing with row and column index tensors."""
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel_size), pair(stride), pair(padding)
    padded = F.pad(x, (pw, pw, ph, ph))
    h_out = (padded.shape[2] - kh) // sh + 1
    w_out = (padded.shape[3] - kw) // sw + 1
    rows = (torch.arange(kh)[:, None] + sh * torch.arange(h_out)[None, :]).to(x.device)
    cols = (torch.arange(kw)[:, None] + sw * torch.arange(w_out)[None, :]).to(x.device)
    patches = padded[:, :, rows[:, None, :, None], cols[None, :, None, :]]  # N C kh kw Ho Wo
    return patches.reshape(x.shape[0], -1, h_out * w_out)
'''

POOLS_UNFOLD = """
def max_pool2d(x, kernel_size, stride=None):
    kh, kw = pair(kernel_size)
    sh, sw = pair(stride) if stride is not None else (kh, kw)
    return x.unfold(2, kh, sh).unfold(3, kw, sw).amax(dim=(-2, -1))


def avg_pool2d(x, kernel_size, stride=None):
    kh, kw = pair(kernel_size)
    sh, sw = pair(stride) if stride is not None else (kh, kw)
    return x.unfold(2, kh, sh).unfold(3, kw, sw).mean(dim=(-2, -1))
"""

CONCAT_MATH = """
class AdaptiveConcatPool2d(nn.Module):
    def __init__(self, size=1):
        super().__init__()
        self.size = size

    def forward(self, x):
        h, w = x.shape[-2:]
        s = self.size
        maxes = torch.empty(*x.shape[:2], s, s, dtype=x.dtype, device=x.device)
        means = torch.empty_like(maxes)
        for a in range(s):
            for b in range(s):
                region = x[..., math.floor(a * h / s):math.ceil((a + 1) * h / s),
                           math.floor(b * w / s):math.ceil((b + 1) * w / s)]
                flat = region.flatten(2)
                maxes[:, :, a, b] = flat.max(dim=2).values
                means[:, :, a, b] = flat.sum(dim=2) / flat.shape[2]
        return torch.cat((maxes, means), 1)
"""

MODULE_KAIMING = """
class Conv2d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.kernel_size, self.stride, self.padding = pair(kernel_size), stride, padding
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        nn.init.kaiming_normal_(self.weight)
        self.register_parameter("bias", nn.Parameter(torch.zeros(out_channels)) if bias else None)

    def forward(self, x):
        return conv2d_im2col(x, self.weight, self.bias, self.stride, self.padding)
"""

CORRECT_VARIANTS = {
    "conv2d with a loop over output pixels": (CONV, LOOPS, ["conv2d", "conv_module"]),
    "conv2d with as_strided and einsum": (CONV, AS_STRIDED, ["conv2d", "conv_module"]),
    "conv2d with Tensor.unfold and tensordot": (CONV, TENSOR_UNFOLD, ["conv2d"]),
    "conv2d through im2col": (CONV, VIA_IM2COL, ["conv2d"]),
    "im2col with Tensor.unfold": (IM2COL, IM2COL_UNFOLD, ["im2col", "conv2d_im2col"]),
    "im2col with index tensors": (IM2COL, IM2COL_GATHER, ["im2col", "conv2d_im2col"]),
    "pooling with Tensor.unfold": (MAX, POOLS_UNFOLD, ["max_pool2d", "avg_pool2d"]),
    "adaptive pooling with math.floor and ceil": (CONCAT, CONCAT_MATH, ["adaptive_concat_pool"]),
    "Conv2d with Kaiming init over im2col": (MODULE, MODULE_KAIMING, ["conv_module"]),
}


@pytest.mark.parametrize("name", sorted(CORRECT_VARIANTS))
def test_correct_submissions_written_differently_get_full_marks(grader, tmp_path, name):
    cell_id, source, parts = CORRECT_VARIANTS[name]
    nb = set_cell(source_notebook("convolutions"), cell_id, source)
    if name == "pooling with Tensor.unfold":  # both pools now live in the first cell
        nb = set_cell(nb, AVG, "")
    result = grade(grader, tmp_path, nb, only=parts)
    assert result.score == result.max_score, result.to_text()


def test_outputs_are_held_to_torch_functional_too(grader, tmp_path):
    """A result that matches the reference solution is still held to PyTorch's own
    torch.nn.functional.conv2d (run by the same driver on the same probes, in float64): a
    PyTorch that disagreed (here its output shifted by 0.5) fails the solution, once, with
    a message naming it."""
    conv = grader.assignment.part("conv2d")
    functional = conv.pytorch.definitions["conv2d"]
    shifted = {"conv2d": lambda *args, **kwargs: functional(*args, **kwargs) + 0.5}
    part = dataclasses.replace(conv, pytorch=dataclasses.replace(conv.pytorch, definitions=shifted))
    spec = dataclasses.replace(grader.assignment, parts=[part])
    result = grade(
        Grader(spec, device="cpu", sandbox=grader.sandbox),
        tmp_path,
        source_notebook("convolutions"),
        only=["conv2d"],
    )
    messages = next(p for p in result.parts if p.id == "conv2d").messages
    held = [m for m in messages if "compared with PyTorch's" in m]
    assert len(held) == 1, messages
    assert held[0].startswith("conv2d: output compared with PyTorch's torch.nn.functional.conv2d:")
