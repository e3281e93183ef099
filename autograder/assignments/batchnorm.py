"""Assignment ``batchnorm``: batch statistics, then ``BatchNorm2d`` from scratch.

Every part is held to the reference solution and to PyTorch (``torch.var_mean`` for the
statistics, ``nn.BatchNorm2d`` for the layer), values and gradients, in float32 and float64.
The probes' channels have scales from a few thousandths to a few units, so that a variance
near ``eps`` shows where ``eps`` goes, and their means are a few scales away from zero.
Shapes include a batch of one with several positions (training mode needs two values per
channel), one position per image, a single channel and odd sizes. The module's parts each
see only their own mistakes: the training and evaluation drivers set the weight, the bias
and the running statistics from the probe, so a wrong ``__init__`` costs Part 2 only, and
evaluation starts from the probe's running statistics, not from training calls.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from autograder.checks import flag
from autograder.drivers import batchnorm as driver
from autograder.probes import DTYPES, randn, uniform
from autograder.spec import Assignment, Case, Mistake, Part, PyTorch

FORBIDDEN_NAMES = [
    "nn.BatchNorm1d", "nn.BatchNorm2d", "nn.BatchNorm3d", "nn.LazyBatchNorm2d",
    "nn.SyncBatchNorm", "nn.InstanceNorm2d", "nn.LayerNorm", "nn.GroupNorm",
    "F.batch_norm", "F.instance_norm", "F.layer_norm", "F.group_norm", "torch.batch_norm",
    "torch.native_batch_norm", "torch.instance_norm", "torch.layer_norm", "torch.group_norm",
    "torch.batch_norm_stats", "torch.batch_norm_elemt", "torch.batch_norm_update_stats",
]  # fmt: skip
# The operators behind them, refused at run time however they are reached.
FORBIDDEN_OPS = [
    "aten::batch_norm", "aten::_batch_norm", "aten::native_batch_norm",
    "aten::_native_batch_norm", "aten::cudnn_batch_norm", "aten::miopen_batch_norm",
    "aten::quantized_batch_norm", "aten::instance_norm", "aten::layer_norm",
    "aten::native_layer_norm", "aten::group_norm", "aten::native_group_norm",
]  # fmt: skip


def _images(gen: torch.Generator, shape: tuple, scales: torch.Tensor, dtype: str):
    """x of ``shape`` (N, C, H, W): channel c has spread ``scales[c]`` and a mean a few
    spreads from zero (drawn in float64, then cast)."""
    view = (1, -1, 1, 1)
    offsets = randn(gen, shape[1], dtype="float64") * 2 * scales
    x = randn(gen, *shape, dtype="float64") * scales.view(view) + offsets.view(view)
    return x.to(DTYPES[dtype])


def _scales(gen: torch.Generator, channels: int) -> torch.Tensor:
    """Per-channel spreads, log-uniform in [0.003, 3], the first one 0.003: a variance near
    the default eps."""
    scales = uniform(gen, channels, low=math.log(0.003), high=math.log(3.0), dtype="float64")
    scales = scales.exp()
    scales[0] = 0.003
    return scales


def statistics_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for shape, dtype in [
        ((4, 3, 5, 6), "float32"),
        ((1, 2, 3, 4), "float64"),  # a batch of one: the positions still count
        ((7, 1, 1, 3), "float32"),  # one channel, one row
        ((3, 5, 2, 2), "float64"),
        ((2, 4, 3, 1), "float32"),  # N != C: statistics over the wrong dimensions show
    ]:
        x = _images(gen, shape, _scales(gen, shape[1]), dtype)
        grads = {k: randn(gen, shape[1], dtype=dtype) for k in ("grad_mean", "grad_var")}
        cases.append(Case({"dtype": dtype}, {"x": x} | grads))
    return cases


def _affine(gen: torch.Generator, channels: int, dtype: str) -> dict:
    """A random weight (0.5 to 1.5) and bias: the defaults would hide a mix-up."""
    return {
        "weight": uniform(gen, channels, low=0.5, high=1.5, dtype=dtype),
        "bias": randn(gen, channels, dtype=dtype),
    }


def _running(gen: torch.Generator, channels: int, dtype: str, tiny: bool = False) -> dict:
    """Running statistics to start from; with ``tiny``, the first variance is near eps."""
    var = uniform(gen, channels, low=0.5, high=2.0, dtype=dtype)
    if tiny:
        var[0] = 2e-5
    return {"running_mean": randn(gen, channels, dtype=dtype), "running_var": var}


def init_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case({"channels": 3, "dtype": "float32"}),
        Case({"channels": 6, "dtype": "float64", "eps": 1e-3, "momentum": 0.2}),
        Case({"channels": 1, "dtype": "float32"}),
    ]


def train_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for channels, dtype, options, shapes in [
        (3, "float32", {}, [(4, 3, 5, 5), (2, 3, 3, 7), (6, 3, 2, 2)]),
        (4, "float64", {"eps": 1e-3, "momentum": 0.3}, [(1, 4, 3, 4), (3, 4, 1, 5), (2, 4, 4, 1)]),
        (2, "float32", {"eps": 0.1, "momentum": 0.5}, [(5, 2, 1, 2), (1, 2, 2, 2), (3, 2, 3, 3)]),
        (5, "float64", {}, [(2, 5, 3, 3), (3, 5, 2, 3)]),
        (1, "float32", {"momentum": 0.9}, [(3, 1, 2, 1)]),
    ]:  # fmt: skip
        scales = _scales(gen, channels)
        inputs = _affine(gen, channels, dtype) | _running(gen, channels, dtype)
        for i, shape in enumerate(shapes):
            inputs[f"x{i}"] = _images(gen, shape, scales, dtype)
            inputs[f"grad_out{i}"] = randn(gen, *shape, dtype=dtype)
        config = {"channels": channels, "dtype": dtype, "calls": len(shapes)} | options
        cases.append(Case(config, inputs))
    return cases


def eval_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for channels, dtype, options, shape in [
        (3, "float32", {}, (4, 3, 5, 5)),
        (4, "float64", {"eps": 1e-3}, (1, 4, 1, 1)),  # one image of one pixel
        (2, "float32", {"eps": 0.1}, (2, 2, 3, 1)),
        (6, "float64", {}, (3, 6, 2, 3)),
    ]:
        inputs = _affine(gen, channels, dtype) | _running(gen, channels, dtype, tiny=True)
        inputs |= {
            "x": randn(gen, *shape, dtype=dtype),
            "grad_out": randn(gen, *shape, dtype=dtype),
        }
        cases.append(Case({"channels": channels, "dtype": dtype} | options, inputs))
    return cases


def _torch_statistics(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch's ``torch.var_mean`` in the exercise's contract: (mean, biased var), (C,)."""
    var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=0)
    return mean, var


# ----------------------------------------------------------------------------- mistakes
BIASED = "m = N*H*W, the number of values per channel (x.var(..., unbiased=False))"


def _stats_mistake(name: str, hint: str, old: str, new: str) -> Mistake:
    return Mistake(f"batch_statistics: {name}", f"batch_statistics: {hint}", {
        "batch_statistics": (old, new)})  # fmt: skip


DIMS = "dims = (0, 2, 3)"
# Statistics over the wrong dimensions, in batch_statistics and in BatchNorm2d alike.
WRONG_DIMS = [
    ("per example", "the statistics are taken per example (over H and W only, as instance "
     "normalization does); batch normalization takes them over the batch and every "
     "position, dims (0, 2, 3)", "dims = (2, 3)"),
    ("over the channels", "the statistics are taken over the channels of each example (as "
     "layer normalization does); batch normalization keeps the channels apart: dims "
     "(0, 2, 3), one per channel", "dims = (1, 2, 3)"),
]  # fmt: skip
STATISTICS_MISTAKES = [
    _stats_mistake(
        "unbiased variance",
        "the variance is the unbiased one (divided by m - 1); batch normalization divides by "
        f"{BIASED}",
        "x.var(dim=dims, unbiased=False)", "x.var(dim=dims)"),
    *(_stats_mistake(name, hint, DIMS, new) for name, hint, new in WRONG_DIMS),
    _stats_mistake(
        "batch only",
        "the statistics are taken over the batch only; each channel's also take in every "
        "position (H and W): dims (0, 2, 3)",
        DIMS, "dims = 0"),
]  # fmt: skip

UPDATE = (
    "                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)\n"
    "                self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased)"
)
NORMALISE = "x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)"
EVAL_SCALE = "scale = self.weight / torch.sqrt(self.running_var + self.eps)"
UNBIASED = (
    "the normalization uses the unbiased variance (divided by m - 1); it divides by the "
    f"biased one, by {BIASED}; only the running variance is the unbiased one"
)
EPS = (
    "eps is added outside the square root: the layer divides by sqrt(var + eps), which "
    "matters when a channel's variance is near eps"
)


def _module_mistake(name: str, hint: str, old: str, new: str) -> Mistake:
    return Mistake(f"BatchNorm2d: {name}", f"BatchNorm2d: {hint}", {"BatchNorm2d": (old, new)})


INIT_MISTAKES = [
    _module_mistake(
        "parameters not registered",
        "weight and bias are plain tensors: wrap them in nn.Parameter, so that they are in "
        "parameters() and optimizers train them",
        "nn.Parameter(torch.ones(num_features))",
        "torch.ones(num_features, requires_grad=True)",
    ),
    _module_mistake(
        "statistics as parameters",
        "the running statistics are parameters; they are not trained: register them as "
        "buffers (self.register_buffer)",
        'self.register_buffer("running_mean", torch.zeros(num_features))',
        "self.running_mean = nn.Parameter(torch.zeros(num_features), requires_grad=False)",
    ),
    _module_mistake(
        "statistics as plain attributes",
        "the running statistics are plain attributes: register them as buffers "
        "(self.register_buffer), or .to() won't move them and state_dict() won't save them",
        'self.register_buffer("running_var", torch.ones(num_features))',
        "self.running_var = torch.ones(num_features)",
    ),
]

TRAIN_MISTAKES = [
    _module_mistake("unbiased variance to normalise", UNBIASED,
                    "x.var(dim=dims, unbiased=False)", "x.var(dim=dims)"),
    _module_mistake("normalised with the running variance's value", UNBIASED,
                    NORMALISE, NORMALISE.replace("var.view(shape)", "unbiased.view(shape)")),
    _module_mistake(
        "biased running variance",
        "running_var is updated with the biased variance; PyTorch keeps the unbiased one, "
        "the batch's variance times m / (m - 1)",
        "self.momentum * unbiased)", "self.momentum * var)"),
    _module_mistake(
        "momentum the wrong way round",
        "the momentum weighs the old value: in PyTorch's convention it is the weight of the "
        "new one, new = (1 - momentum) * old + momentum * batch value",
        UPDATE, UPDATE.replace("mul_(1 - self.momentum).add_(self.momentum *",
                               "mul_(self.momentum).add_((1 - self.momentum) *")),
    _module_mistake(
        "running statistics replaced", "the running statistics are replaced by the batch's; "
        "they are running averages: new = (1 - momentum) * old + momentum * batch value",
        UPDATE, UPDATE.replace("mul_(1 - self.momentum).add_(self.momentum *", "copy_(1 *")),
    _module_mistake("eps outside the square root", EPS, NORMALISE,
                    NORMALISE.replace("torch.sqrt(var.view(shape) + self.eps)",
                                      "(torch.sqrt(var.view(shape)) + self.eps)")),
    _module_mistake(
        "weight and bias swapped", "weight and bias are swapped: y = weight * x_hat + bias",
        "return self.weight.view(shape) * x_hat + self.bias.view(shape)",
        "return self.bias.view(shape) * x_hat + self.weight.view(shape)"),
    *(_module_mistake(name, hint, DIMS, new) for name, hint, new in WRONG_DIMS),
    _module_mistake(
        "running statistics not detached",
        "the running statistics keep their autograd history: update them under "
        "torch.no_grad() (or from detached values), or every batch's graph stays alive",
        "with torch.no_grad():  # statistics", "if True:  # statistics"),
]  # fmt: skip

EVAL_MISTAKES = [
    _module_mistake(
        "batch statistics in evaluation mode",
        "evaluation mode still uses the batch's statistics (and updates the running ones): "
        "after .eval(), normalise with running_mean and running_var (check self.training)",
        "if self.training:", "if True:"),
    _module_mistake(
        "running statistics updated in evaluation mode",
        "the running statistics change in evaluation mode: update them only in training mode",
        "        # evaluation: a fixed",
        "        with torch.no_grad():\n"
        "            mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)\n"
        "            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)\n"
        "            self.running_var.mul_(1 - self.momentum).add_(self.momentum * var)\n"
        "        # evaluation: a fixed"),
    _module_mistake("eps outside the square root in evaluation mode", EPS, EVAL_SCALE,
                    EVAL_SCALE.replace("torch.sqrt(self.running_var + self.eps)",
                                       "(torch.sqrt(self.running_var) + self.eps)")),
    _module_mistake(
        "running variance not square-rooted",
        "evaluation mode divides by the running variance; divide by its square root, "
        "sqrt(running_var + eps), the standard deviation",
        EVAL_SCALE, EVAL_SCALE.replace("torch.sqrt(self.running_var + self.eps)",
                                       "(self.running_var + self.eps)")),
]  # fmt: skip

BATCHNORM2D = PyTorch("nn.BatchNorm2d", {"BatchNorm2d": nn.BatchNorm2d})


def _module_part(part_id: str, title: str, cases, mistakes: list[Mistake], **extra) -> Part:
    """A part graded on the student's ``BatchNorm2d``; ``title`` says which side of it."""
    return Part(
        part_id,
        title,
        cases,
        names=["BatchNorm2d"],
        pytorch=BATCHNORM2D,
        forbidden_names=FORBIDDEN_NAMES,
        forbidden_ops=FORBIDDEN_OPS,
        mistakes=mistakes,
        **extra,
    )


ASSIGNMENT = Assignment(
    id="batchnorm",
    chapters=["batchnorm"],
    summary=(
        "the per-channel batch statistics and a BatchNorm2d layer: learned weight and bias, "
        "running averages with momentum, training and evaluation modes"
    ),
    parts=[
        Part(
            "batch_statistics",
            "batch_statistics",
            statistics_cases,
            pytorch=PyTorch("torch.var_mean", {"batch_statistics": _torch_statistics}),
            forbidden_names=FORBIDDEN_NAMES,
            forbidden_ops=FORBIDDEN_OPS,
            mistakes=STATISTICS_MISTAKES,
        ),
        _module_part(
            "batchnorm_init", "BatchNorm2d: parameters and buffers", init_cases, INIT_MISTAKES
        ),
        _module_part(
            "batchnorm_train",
            "BatchNorm2d in training mode",
            train_cases,
            TRAIN_MISTAKES,
            checks=[
                flag(
                    driver.batchnorm_train.outputs.detached,
                    "BatchNorm2d: the running statistics came back with an autograd history "
                    "(a grad_fn): update them under torch.no_grad()",
                )
            ],
        ),
        _module_part("batchnorm_eval", "BatchNorm2d in evaluation mode", eval_cases, EVAL_MISTAKES),
    ],
)
