"""Assignment regularization: the solution scores 100 %, the release 0, wrong submissions
lose points on the right part with a message naming the mistake, and correct submissions
written differently (other ways of drawing the mask or the weights) get full marks."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from autograder.assignments import get
from autograder.grade import Grader
from tests.submissions import (
    check_release_scores_zero,
    check_solution_scores_full_marks,
    check_wrong_variant,
    grade,
    part,
    replace_in_cell,
    set_cell,
    source_notebook,
    write,
)

pytestmark = pytest.mark.task("regularization")


def test_solution_scores_full_marks(grader, tmp_path):
    check_solution_scores_full_marks(grader, tmp_path, "regularization", 7)


def test_release_scores_zero_with_not_implemented(grader, tmp_path):
    check_release_scores_zero(grader, tmp_path, "regularization")


DROP = "dropout-solution"
MODULE = "dropout_module-solution"
INIT = "kaiming_normal-solution"
SCALED = "return x * keep / (1 - p)"
MASK = "keep = torch.rand_like(x) >= p"
CHECK_P = (
    '    if not 0 <= p <= 1:\n'
    '        raise ValueError(f"dropout probability must be between 0 and 1, got {p}")\n'
)  # fmt: skip
MODULE_CHECK_P = (
    '        if not 0 <= p <= 1:\n'
    '            raise ValueError(f"dropout probability must be between 0 and 1, got {p}")\n'
    '        self.p = p\n'
)  # fmt: skip
STD = "std = math.sqrt(2.0) / math.sqrt(fan_in)"
FAN_IN = "fan_in = w.shape[1] * math.prod(w.shape[2:])"
MODULE_INIT = """    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability must be between 0 and 1, got {p}")
        self.p = p
"""

# name: (cell, old, new, part that must fail, phrase its messages must contain)
WRONG = {
    "dropout: kept values not scaled": (
        DROP, SCALED, "return x * keep", "dropout", "they are not scaled"),
    "dropout: multiplied by 1 - p": (
        DROP, SCALED, "return x * keep * (1 - p)", "dropout", "multiplied by 1 - p"),
    "dropout: divided by p": (DROP, SCALED, "return x * keep / p", "dropout", "divided by p"),
    "dropout: p is the keep probability": (
        DROP, MASK, "keep = torch.rand_like(x) < p", "dropout", "not of keeping it"),
    "dropout: training flag ignored": (
        DROP, "if not training or p == 0:", "if p == 0:", "dropout",
        "dropout(x, p, training=False) (must return x unchanged)"),
    "dropout: one mask for every row": (
        DROP, MASK, "keep = torch.rand(x.shape[-1:], dtype=x.dtype) >= p", "dropout",
        "every row of x gets the same mask"),
    "dropout: whole rows dropped": (
        DROP, MASK, "keep = torch.rand(x.shape[:1] + (1,) * (x.dim() - 1)) >= p", "dropout",
        "whole rows are kept or dropped together"),
    "dropout: input changed in place": (
        DROP, SCALED, "return x.mul_(keep).div_(1 - p)", "dropout", "changed x in place"),
    "dropout: NaN at p = 1": (
        DROP, "    if p == 1:\n        return x * 0.0\n", "", "dropout",
        "(everything dropped: must return zeros)"),
    "dropout: no check of p": (DROP, CHECK_P, "", "dropout", "was accepted; raise a ValueError"),
    "dropout: wrong exception": (
        DROP, "raise ValueError(", "raise TypeError(", "dropout", "but not a ValueError"),
    "dropout: reseeded at every call": (
        DROP, MASK, "torch.manual_seed(0)\n    " + MASK, "dropout",
        "two calls dropped exactly the same elements"),
    "dropout: a fixed number dropped": (
        DROP, MASK,
        "drop = torch.randperm(x.numel())[: round(p * x.numel())]\n"
        "    keep = torch.ones(x.numel(), dtype=torch.bool)\n"
        "    keep[drop] = False\n"
        "    keep = keep.view(x.shape)", "dropout",
        "was exactly 128 in every call; each element must be dropped independently"),
    "dropout: count spread too little": (
        DROP, MASK,
        "u = torch.rand(x.shape)\n"
        "    k = round(p * x.numel()) + int(torch.randint(-1, 2, ()))\n"
        "    keep = (u.flatten().argsort().argsort() >= k).view(x.shape)", "dropout",
        "varied too little from call to call"),
    "dropout: every third call reuses the last mask": (
        DROP, MASK,
        "global LAST, CALLS\n"
        "    CALLS = globals().get('CALLS', 0) + 1\n"
        "    if CALLS % 3 == 0 and LAST.shape == x.shape:\n"
        "        keep = LAST\n"
        "    else:\n"
        "        keep = LAST = torch.rand_like(x) >= p", "dropout",
        "different masks in 300 calls"),
    "dropout: a tenth of the last mask carried over": (
        DROP, MASK,
        "global LAST\n"
        "    keep = torch.rand_like(x) >= p\n"
        "    last = globals().get('LAST')\n"
        "    if last is not None and last.shape == x.shape:\n"
        "        keep = torch.where(torch.rand_like(x) < 0.1, last, keep)\n"
        "    LAST = keep", "dropout", "consecutive calls dropped the same elements"),
    "dropout: one mask shared by the channels": (
        DROP, MASK,
        "shape = (x.shape[0], 1, *x.shape[2:]) if x.dim() >= 3 else x.shape\n"
        "    keep = torch.rand(shape, dtype=x.dtype) >= p", "dropout",
        "elements are dropped or kept together"),
    "dropout: gradient blocked": (
        DROP, SCALED, "return x.detach() * keep / (1 - p)", "dropout", "no gradient reaches x"),
    "dropout: float32 hard-coded": (
        DROP, SCALED, "return (x * keep / (1 - p)).float()", "dropout",
        "dtype torch.float32, expected torch.float64"),
    "dropout: F.dropout used": (
        DROP, MASK + "\n    " + SCALED, "return torch.nn.functional.dropout(x, p)", "dropout",
        "functional.dropout"),
    "Dropout: training flag ignored": (
        MODULE, "return dropout(x, self.p, self.training)", "return dropout(x, self.p)",
        "dropout_module", "after .eval() (must return x unchanged)"),
    "Dropout: a flag of its own": (
        MODULE, "return dropout(x, self.p, self.training)",
        "return dropout(x, self.p, getattr(self, 'on', True))", "dropout_module",
        "after .eval() (must return x unchanged)"),
    "Dropout: mask drawn once": (
        MODULE, "return dropout(x, self.p, self.training)",
        "if not self.training:\n            return x\n"
        "        if not hasattr(self, 'mask'):\n"
        "            self.mask = torch.rand_like(x) >= self.p\n"
        "        return x * self.mask / (1 - self.p)",
        "dropout_module", "every call must work on its own input"),
    "Dropout: mask cached per input shape": (
        MODULE, "return dropout(x, self.p, self.training)",
        "if not self.training:\n            return x\n"
        "        if getattr(self, 'mask', None) is None or self.mask.shape != x.shape:\n"
        "            self.mask = torch.rand_like(x) >= self.p\n"
        "        return x * self.mask / (1 - self.p) if self.p < 1 else x * 0",
        "dropout_module", "two calls dropped exactly the same elements"),
    "Dropout: two stored masks taken in turn": (
        MODULE, "return dropout(x, self.p, self.training)",
        "if not self.training:\n            return x\n"
        "        masks = self.__dict__.setdefault('masks', {})\n"
        "        if x.shape not in masks:\n"
        "            masks[x.shape] = [torch.rand_like(x) >= self.p for _ in range(2)]\n"
        "        self.calls = getattr(self, 'calls', 0) + 1\n"
        "        keep = masks[x.shape][self.calls % 2]\n"
        "        return x * keep / (1 - self.p) if self.p < 1 else x * 0",
        "dropout_module", "only 2 different masks in 300 calls"),
    "Dropout: evaluation mode honoured once": (
        MODULE, "return dropout(x, self.p, self.training)",
        "if not self.training and not getattr(self, 'seen_eval', False):\n"
        "            self.seen_eval = True\n"
        "            return x\n"
        "        return dropout(x, self.p)",
        "dropout_module", "it did not return its input unchanged in evaluation mode"),
    "Dropout: invalid p clamped": (
        MODULE, MODULE_CHECK_P, "        self.p = min(max(p, 0.0), 1.0)\n", "dropout_module",
        "was accepted; raise a ValueError"),
    "Dropout: not an nn.Module": (
        MODULE, "class Dropout(nn.Module):", "class Dropout:", "dropout_module",
        "expected an nn.Module"),
    "kaiming: fan-out": (
        INIT, FAN_IN, "fan_in = w.shape[0] * math.prod(w.shape[2:])", "kaiming_normal",
        "the fan-out"),
    "kaiming: no gain": (
        INIT, STD, "std = 1 / math.sqrt(fan_in)", "kaiming_normal", "gain sqrt(2) is missing"),
    "kaiming: gain 2": (INIT, STD, "std = 2 / math.sqrt(fan_in)", "kaiming_normal", "gain is 2"),
    "kaiming: variance as std": (
        INIT, STD, "std = 2.0 / fan_in", "kaiming_normal", "used as the standard deviation"),
    "kaiming: receptive field missing": (
        INIT, FAN_IN, "fan_in = w.shape[1]", "kaiming_normal", "receptive field"),
    "kaiming: uniform": (
        INIT, "w.normal_(0.0, std)", "w.uniform_(-std * math.sqrt(3), std * math.sqrt(3))",
        "kaiming_normal", "not a uniform one"),
    "kaiming: new tensor returned": (
        INIT, "    with torch.no_grad():\n        w.normal_(0.0, std)\n    return w",
        "    return torch.randn(w.shape, dtype=w.dtype) * std", "kaiming_normal",
        "did not fill w in place"),
    "kaiming: no no_grad": (
        INIT, "    with torch.no_grad():\n        w.normal_(0.0, std)",
        "    w.normal_(0.0, std)", "kaiming_normal", "inside `with torch.no_grad():`"),
    "kaiming: torch.nn.init used": (
        INIT, "        w.normal_(0.0, std)", "        nn.init.kaiming_normal_(w)",
        "kaiming_normal", "init.kaiming_normal_"),
    "kaiming: reseeded at every call": (
        INIT, "        w.normal_(0.0, std)",
        "        torch.manual_seed(0)\n        w.normal_(0.0, std)", "kaiming_normal",
        "hold exactly the same values"),
    "kaiming: one row repeated": (
        INIT, "        w.normal_(0.0, std)",
        "        w.copy_(torch.randn(w.shape[1:], dtype=w.dtype) * std)", "kaiming_normal",
        "hold exactly the same values"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_submission_loses_points_on_the_right_part(grader, tmp_path, name):
    check_wrong_variant(grader, tmp_path, "regularization", name, WRONG[name])


def test_a_wrong_init_costs_only_its_part(grader, tmp_path):
    nb = replace_in_cell(
        source_notebook("regularization"), INIT, STD, "std = 1 / math.sqrt(fan_in)"
    )
    result = grade(grader, tmp_path, nb)
    assert not part(result, "kaiming_normal").passed
    assert part(result, "dropout").passed and part(result, "dropout_module").passed


def test_a_wrong_dropout_function_costs_the_module_that_uses_it(grader, tmp_path):
    nb = replace_in_cell(source_notebook("regularization"), DROP, SCALED, "return x * keep")
    result = grade(grader, tmp_path, nb)
    assert not part(result, "dropout").passed and not part(result, "dropout_module").passed
    assert part(result, "kaiming_normal").passed


HELD_TO_PYTORCH = {
    "dropout": "dropout(x, p, training=False) (must return x unchanged) compared with "
    "PyTorch's F.dropout",
    "dropout_module": "Dropout(p)(x) after .eval() (must return x unchanged) compared with "
    "PyTorch's nn.Dropout",
}


def test_dropout_is_held_to_pytorchs_own_too(tmp_path):
    """The deterministic outputs are held to F.dropout's and nn.Dropout's as well as to the
    reference's: a reference that disagrees with PyTorch (here: x doubled in evaluation mode)
    fails its own solution on both dropout parts, and the message names PyTorch's."""
    spec = get("regularization")
    broken = replace_in_cell(source_notebook("regularization"), DROP,
                             "        return x\n", "        return x * 2\n")  # fmt: skip
    folder = tmp_path / "solutions" / "regularization"
    folder.mkdir(parents=True)
    path = write(broken, folder, "regularization.ipynb")
    with Grader(dataclasses.replace(spec, root=tmp_path), device="cpu") as grader:
        result = grader.grade(path, only=["dropout", "dropout_module"])
    for part_id, words in HELD_TO_PYTORCH.items():
        assert words in part(result, part_id).messages[0], result.to_text()


def test_pytorchs_own_dropout_and_kaiming_pass_every_check(grader):
    """The statistical and structural checks test the contract, not our reference's draws:
    F.dropout's and nn.Dropout's own outputs (the drivers run on them by ``pytorch=``) and
    nn.init.kaiming_normal_'s pass every check of their parts, on every probe."""
    spec = grader.assignment
    for graded in [spec.part("dropout"), spec.part("dropout_module"), spec.part("kaiming_normal")]:
        for case, expected in zip(grader.cases(graded), grader.expected(graded), strict=True):
            if graded.id == "kaiming_normal":
                torch.manual_seed(case.config["seed"])
                namespace = {"kaiming_normal_": torch.nn.init.kaiming_normal_}
                got = graded.run(namespace, dict(case.inputs), case.config)
            else:
                got = case.secret["pytorch"]
            assert graded.checks, graded.id
            problems = [m for check in graded.checks for m in check(case, got, expected, "cpu")]
            assert problems == [], (graded.id, case.config, problems)


DROPOUT_BERNOULLI = '''
def dropout(x, p, training=True):
    """Mask from torch.bernoulli, scaled once, zeros at p = 1 with torch.zeros_like."""
    if p < 0 or p > 1:
        raise ValueError("p must be in [0, 1]")
    if not training:
        return x.clone()
    if p == 1:
        return torch.zeros_like(x)
    mask = torch.bernoulli(torch.full_like(x, 1 - p))
    return x * (mask * (1.0 / (1 - p)))
'''
DROPOUT_WHERE = '''
def dropout(x, p, training=True):
    """torch.where on rand < p."""
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"invalid p={p}")
    if not training or p == 0:
        return x
    drop = torch.rand(x.shape, device=x.device) < p
    return torch.where(drop, torch.zeros_like(x), x / (1 - p)) if p < 1 else x * 0
'''
DROPOUT_BERNOULLI_INPLACE_MASK = '''
def dropout(x, p, training=True):
    """An empty tensor filled by bernoulli_, checked with an assert-free comparison."""
    if p != p or p < 0.0 or p > 1.0:
        raise ValueError("dropout probability has to be between 0 and 1")
    if training and p > 0:
        keep = x.new_empty(x.shape).bernoulli_(1 - p)
        return x * keep / (1 - p) if p < 1 else x * keep
    return x
'''
MODULE_INLINE = '''
class Dropout(nn.Module):
    """Its own mask, not the function; p checked when called."""

    def __init__(self, p=0.5):
        super().__init__()
        self.p = float(p)

    def forward(self, x):
        if not 0 <= self.p <= 1:
            raise ValueError("p out of range")
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x * 0
        keep = (torch.rand_like(x) > self.p).to(x.dtype)
        return x * keep / (1 - self.p)
'''
KAIMING_RANDN = '''
def kaiming_normal_(w):
    """randn times std, copied in; fan-in from the first output unit's weights."""
    fan_in = w[0].numel()
    std = (2 / fan_in) ** 0.5
    with torch.no_grad():
        w.copy_(torch.randn(w.shape, dtype=w.dtype, device=w.device) * std)
    return w
'''
KAIMING_INIT_NORMAL = '''
def kaiming_normal_(w):
    """nn.init.normal_ with the computed std (only the Kaiming helpers are off limits)."""
    receptive_field = 1
    for size in w.shape[2:]:
        receptive_field *= size
    return nn.init.normal_(w, mean=0.0, std=math.sqrt(2 / (w.size(1) * receptive_field)))
'''
KAIMING_DATA = '''
def kaiming_normal_(w):
    """Standard normal on .data, then scaled."""
    fan_in = w.shape[1] * int(torch.tensor(w.shape[2:]).prod())
    w.data.normal_().mul_(math.sqrt(2.0 / fan_in))
    return w
'''

DROPOUT_RAND_LESS = '''
def dropout(x, p, training=True):
    """rand < p marks the dropped elements; the kept ones scaled by masked_fill."""
    if not 0.0 <= p <= 1.0:
        raise ValueError("p must be a probability")
    if not training or p == 0.0:
        return x
    dropped = torch.rand(x.shape, dtype=torch.float64, device=x.device) < p
    return (x / (1 - p)).masked_fill(dropped, 0.0) if p < 1.0 else torch.zeros_like(x)
'''
MODULE_STATELESS = '''
class Dropout(nn.Module):
    """Stateless: every call draws from a fresh empty tensor's uniform_, compared to p."""

    def __init__(self, p=0.5):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(p)
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = torch.empty_like(x).uniform_() >= self.p
        return torch.where(keep, x / max(1 - self.p, 1e-12), torch.zeros_like(x))
'''

MODULE_RECORDS_MASK = '''
class Dropout(nn.Module):
    """torch.bernoulli on a tensor of keep probabilities; the last mask is kept for
    inspection but never reused."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError("p must be in [0, 1]")
        self.p = p
        self.last_mask = None

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        self.last_mask = torch.bernoulli(torch.full_like(x, 1 - self.p))
        return x * self.last_mask / (1 - self.p) if self.p < 1 else x * self.last_mask
'''

CORRECT_VARIANTS = {
    "dropout with rand < p": (DROP, DROPOUT_RAND_LESS),
    "Dropout recording its last mask": (MODULE, MODULE_RECORDS_MASK),
    "Dropout, stateless, with uniform_ and torch.where": (MODULE, MODULE_STATELESS),
    "dropout with torch.bernoulli": (DROP, DROPOUT_BERNOULLI),
    "dropout with torch.where": (DROP, DROPOUT_WHERE),
    "dropout with bernoulli_": (DROP, DROPOUT_BERNOULLI_INPLACE_MASK),
    "Dropout with its own mask": (MODULE, MODULE_INLINE),
    "kaiming with randn * std": (INIT, KAIMING_RANDN),
    "kaiming with nn.init.normal_": (INIT, KAIMING_INIT_NORMAL),
    "kaiming on .data": (INIT, KAIMING_DATA),
}


@pytest.mark.parametrize("name", sorted(CORRECT_VARIANTS))
def test_correct_submissions_written_differently_get_full_marks(grader, tmp_path, name):
    cell_id, source = CORRECT_VARIANTS[name]
    nb = set_cell(source_notebook("regularization"), cell_id, source)
    affected = {DROP: ["dropout", "dropout_module"], MODULE: ["dropout_module"]}
    result = grade(grader, tmp_path, nb, only=affected.get(cell_id, ["kaiming_normal"]))
    assert result.score == result.max_score, result.to_text()


@pytest.mark.parametrize("shift", [1, 2, 3])
def test_the_statistical_checks_pass_other_draws(grader, tmp_path, shift):
    """Other random draws (the stream shifted inside the submission) still pass: the bands
    are wide enough, not tuned to one lucky draw."""
    nb = replace_in_cell(source_notebook("regularization"), DROP, MASK,
                         f"torch.rand({7 * shift})\n    {MASK}")  # fmt: skip
    nb = replace_in_cell(nb, INIT, "w.normal_(0.0, std)",
                         f"torch.rand({7 * shift})\n        w.normal_(0.0, std)")  # fmt: skip
    result = grade(grader, tmp_path, nb)
    assert result.score == result.max_score, result.to_text()
