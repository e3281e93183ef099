"""Assignment batchnorm: the solution scores 100 % (and agrees with torch.var_mean and
nn.BatchNorm2d), the release scores 0, every known mistake fails its own part with its hint
and no other part, correct submissions written in other ways get full marks, other wrong
ones lose points on the right part with a message that teaches, and PyTorch's own layer is
refused however it is reached."""

from __future__ import annotations

import pytest

from autograder import compare
from autograder.assignments import get
from tests.submissions import (
    append_code,
    check_release_scores_zero,
    check_solution_scores_full_marks,
    check_wrong_variant,
    grade,
    part,
    replace_in_cell,
    set_cell,
    source_notebook,
)

pytestmark = pytest.mark.task("batchnorm")

SPEC = get("batchnorm")
MISTAKES = {m.name: (p.id, m) for p in SPEC.parts for m in p.mistakes}
STATS = "batch_statistics-solution"
MODULE = "batchnorm-solution"


def test_solution_scores_full_marks(grader, tmp_path):
    check_solution_scores_full_marks(grader, tmp_path, "batchnorm", 9)


def test_release_scores_zero_with_not_implemented(grader, tmp_path):
    check_release_scores_zero(grader, tmp_path, "batchnorm")


def test_reference_agrees_with_pytorch_on_every_probe(grader):
    """The reference's compared outputs equal PyTorch's (torch.var_mean, nn.BatchNorm2d)
    on every probe: the grader holds students to both."""
    for p in grader.assignment.parts:
        assert p.pytorch is not None, p.id
        for case, expected in zip(grader.cases(p), grader.expected(p), strict=True):
            truth = case.secret["pytorch"]
            compared = [k for k in expected if p.compared(k)]
            assert compared and all(k in truth for k in compared), (p.id, compared)
            for key in compared:
                assert compare.compare_tensor(key, expected[key], truth[key]) is None, (p.id, key)


def _with_mistake(nb, mistake):
    """The source notebook with the mistake's edit made in the cell defining each name."""
    for name, patch in mistake.patch.items():
        if isinstance(patch, str):
            nb = append_code(nb, patch)
            continue
        cell = next(
            c.metadata.nbgrader.grade_id
            for c in nb.cells
            if f"def {name}(" in c.source or f"class {name}(" in c.source
        )
        nb = replace_in_cell(nb, cell, *patch)
    return nb


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_each_known_mistake_fails_its_part_with_its_hint_and_no_other(grader, tmp_path, name):
    part_id, mistake = MISTAKES[name]
    result = grade(grader, tmp_path, _with_mistake(source_notebook("batchnorm"), mistake))
    failed = part(result, part_id)
    assert not failed.passed, result.to_text()
    assert f"Likely mistake: {mistake.hint}" in failed.messages, result.to_text()
    assert all(p.passed for p in result.parts if p.id != part_id), result.to_text()


STATS_RESHAPED = '''
def batch_statistics(x):
    """Channels first, then one row per channel: (C, N*H*W)."""
    rows = x.transpose(0, 1).reshape(x.shape[1], -1)
    mean = rows.sum(dim=1) / rows.shape[1]
    var = ((rows - mean[:, None]) ** 2).mean(dim=1)
    return mean, var
'''

STATS_VAR_MEAN = """
def batch_statistics(x):
    var, mean = torch.var_mean(x, dim=[0, 2, 3], correction=0)
    return mean, var
"""

# Reuses batch_statistics, lerp_ under no_grad, one normalization for both modes, counts
# the batches like PyTorch.
MODULE_LERP = """
class BatchNorm2d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        if self.training:
            mean, var = batch_statistics(x)
            m = x.numel() / x.shape[1]
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * m / (m - 1), self.momentum)
                self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean[None, :, None, None]) * torch.rsqrt(var[None, :, None, None] + self.eps)
        return x_hat * self.weight[:, None, None] + self.bias[:, None, None]
"""

# E[x^2] - E[x]^2 with keepdim, new buffer tensors from detached values each call.
MODULE_REASSIGNED = """
class BatchNorm2d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.full((num_features,), 1.0))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        c, k = self.num_features, self.momentum
        if not self.training:
            mean = self.running_mean.view(1, c, 1, 1)
            var = self.running_var.view(1, c, 1, 1)
        else:
            mean = x.mean(dim=(0, 2, 3), keepdim=True)
            var = (x * x).mean(dim=(0, 2, 3), keepdim=True) - mean * mean
            n = x.shape[0] * x.shape[2] * x.shape[3]
            unbiased = var.detach().view(c) * n / (n - 1)
            self.running_mean = (1 - k) * self.running_mean + k * mean.detach().view(c)
            self.running_var = (1 - k) * self.running_var + k * unbiased
        y = (x - mean) / (var + self.eps).sqrt()
        return y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
"""

# Channels last, torch.var_mean, a no_grad method for the update.
MODULE_CHANNELS_LAST = """
class BatchNorm2d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    @torch.no_grad()
    def _update(self, mean, var, count):
        unbiased = var * count / (count - 1)
        self.running_mean.copy_(torch.lerp(self.running_mean, mean, self.momentum))
        self.running_var.copy_(torch.lerp(self.running_var, unbiased, self.momentum))

    def forward(self, x):
        xt = x.movedim(1, -1)  # (N, H, W, C)
        if self.training:
            var, mean = torch.var_mean(xt.reshape(-1, xt.shape[-1]), dim=0, correction=0)
            self._update(mean, var, xt.numel() // xt.shape[-1])
        else:
            mean, var = self.running_mean, self.running_var
        y = (xt - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias
        return y.movedim(-1, 1)
"""

CORRECT = {
    "reshaped statistics, lerp_ and rsqrt": (STATS_RESHAPED, MODULE_LERP),
    "E[x^2] - E[x]^2 and new buffer tensors": (None, MODULE_REASSIGNED),
    "torch.var_mean, channels last": (STATS_VAR_MEAN, MODULE_CHANNELS_LAST),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_solutions_written_otherwise_get_full_marks(grader, tmp_path, name):
    stats, layer = CORRECT[name]
    nb = set_cell(source_notebook("batchnorm"), MODULE, layer)
    if stats:
        nb = set_cell(nb, STATS, stats)
    result = grade(grader, tmp_path, nb)
    assert result.score == result.max_score == 9, result.to_text()


EVAL_AFFINE = (
    "scale = self.weight / torch.sqrt(self.running_var + self.eps)\n"
    "        shift = self.bias - self.running_mean * scale"
)
WRONG = {
    "statistics returned as (var, mean)": (
        STATS, "return x.mean(dim=dims), x.var(dim=dims, unbiased=False)",
        "return x.var(dim=dims, unbiased=False), x.mean(dim=dims)",
        "batch_statistics", "the per-channel mean"),
    "statistics detached": (
        STATS, "return x.mean(dim=dims), x.var(dim=dims, unbiased=False)",
        "return x.mean(dim=dims).detach(), x.var(dim=dims, unbiased=False).detach()",
        "batch_statistics", "gradient with respect to x"),
    "weight starts at zero": (
        MODULE, "nn.Parameter(torch.ones(num_features))", "nn.Parameter(torch.zeros(num_features))",
        "batchnorm_init", "weight after __init__ (ones"),
    "no affine in training mode": (
        MODULE, "return self.weight.view(shape) * x_hat + self.bias.view(shape)", "return x_hat",
        "batchnorm_train", "outputs after training call 1"),
    "momentum fixed at 0.1": (
        MODULE, "self.eps, self.momentum = eps, momentum", "self.eps, self.momentum = eps, 0.1",
        "batchnorm_train", "running_mean after training call 1"),
    "eps fixed at 1e-5": (
        MODULE, "self.eps, self.momentum = eps, momentum",
        "self.eps, self.momentum = 1e-5, momentum",
        "batchnorm_train", "after training call 1"),
    "m is the batch size": (
        MODULE, "m = x.numel() // x.shape[1]", "m = x.shape[0]",
        "batchnorm_train", "running_var after training call 1"),
    "no affine in evaluation mode": (
        MODULE, EVAL_AFFINE,
        "scale = 1 / torch.sqrt(self.running_var + self.eps)\n"
        "        shift = -self.running_mean * scale",
        "batchnorm_eval", "outputs in evaluation mode"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_submission_loses_points_on_the_right_part(grader, tmp_path, name):
    check_wrong_variant(grader, tmp_path, "batchnorm", name, WRONG[name])


MODULE_PARTS = ["batchnorm_init", "batchnorm_train", "batchnorm_eval"]
HOSTILE = {
    "a subclass of nn.BatchNorm2d": (
        "class BatchNorm2d(nn.BatchNorm2d):\n    pass\n",
        "`nn.BatchNorm2d`",
    ),
    "nn.BatchNorm2d through a computed name": (
        'class BatchNorm2d(getattr([nn][0], "Batch" + "Norm2d")):\n    pass\n',
        "built on PyTorch's BatchNorm2d",
    ),
    "F.batch_norm through a computed name": (
        MODULE_LERP.replace(
            "x_hat = (x - mean[None, :, None, None])",
            'return getattr([F][0], "batch" + "_norm")(x, self.running_mean, self.running_var, '
            "self.weight, self.bias, self.training, self.momentum, self.eps)\n"
            "        x_hat = (x - mean[None, :, None, None])",
        ),
        "is not allowed in this part",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_pytorch_layer_is_refused_however_reached(grader, tmp_path, name):
    source, phrase = HOSTILE[name]
    nb = set_cell(source_notebook("batchnorm"), MODULE, source)
    result = grade(grader, tmp_path, nb, only=MODULE_PARTS[1:])
    for part_id in MODULE_PARTS[1:]:
        failed = part(result, part_id)
        assert not failed.passed and phrase in " ".join(failed.messages), result.to_text()


def test_every_forbidden_operator_prefix_names_real_operators():
    """A misspelt prefix would forbid nothing: each names at least one registered operator,
    and none names one that the reference needs."""
    import torch

    names = torch._C._dispatch_get_all_op_names()
    needed = ("aten::mean", "aten::var", "aten::sqrt", "aten::mul", "aten::add", "aten::sub")
    for part_ in SPEC.parts:
        for prefix in part_.forbidden_ops:
            assert any(n.startswith(prefix) for n in names), prefix
            assert not any(n.startswith(prefix) for n in needed), prefix
