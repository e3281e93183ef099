"""Assignment optimizers: the solution scores 100 % and agrees with torch.optim, the release
scores 0, wrong submissions lose points on the right part with a message naming the mistake
(and the step where the trajectory leaves PyTorch's), and correct submissions written
differently get full marks."""

from __future__ import annotations

import pytest
import torch

from autograder.assignments import get, optimizers
from autograder.checks import TRAJECTORY_TOLERANCES, first_divergence, trajectory
from autograder.drivers.runtime import load_statements
from autograder.spec import Case
from tests.submissions import (
    check_release_scores_zero,
    check_solution_scores_full_marks,
    check_wrong_variant,
    grade,
    part,
    replace_in_cell,
    set_cell,
    source_notebook,
)

pytestmark = pytest.mark.task("optimizers")

OPTIMIZER_PARTS = ["sgd", "rmsprop", "adam", "adamw"]


def test_solution_scores_full_marks(grader, tmp_path):
    check_solution_scores_full_marks(grader, tmp_path, "optimizers", 10)


def test_release_scores_zero_with_not_implemented(grader, tmp_path):
    check_release_scores_zero(grader, tmp_path, "optimizers")


@pytest.mark.parametrize("part_id", OPTIMIZER_PARTS)
def test_reference_agrees_with_torch_optim(grader, part_id):
    """The expected side is torch.optim itself; the reference must follow it closely."""
    spec = grader.assignment.part(part_id)
    for case, expected in zip(grader.cases(spec), grader.expected(spec), strict=True):
        ours, theirs = expected["trajectory"], case.secret["pytorch"]["trajectory"]
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        rtol, atol = (1e-12, 1e-13) if ours.dtype == torch.float64 else (1e-5, 1e-6)
        assert first_divergence(ours, theirs, rtol, atol) is None, case.config
        moved = (theirs[-1] - theirs[0]).abs().max()
        assert moved > 0.03, f"{case.config}: the probe barely moves the parameters"


@pytest.mark.parametrize("part_id", OPTIMIZER_PARTS)
def test_probes_are_well_conditioned(grader, part_id):
    """Rounding-sized changes of a probe must not be amplified along the trajectory, or two
    correct implementations (which round differently) would part ways: perturb every input
    by a relative 1e-10 (float64) or 1e-6 (float32) and rerun torch.optim."""
    spec = grader.assignment.part(part_id)
    gen = torch.Generator().manual_seed(0)
    for case, _ in zip(grader.cases(spec), grader.expected(spec), strict=True):
        size = 1e-10 if case.config["dtype"] == "float64" else 1e-6
        inputs = {k: v * (1 + size * torch.randn(v.shape, generator=gen, dtype=v.dtype))
                  for k, v in case.inputs.items()}  # fmt: skip
        perturbed = spec.run(dict(spec.pytorch.definitions), inputs, case.config)["trajectory"]
        truth = case.secret["pytorch"]["trajectory"]
        growth = float((perturbed.double() - truth.double()).abs().max()) / size
        assert growth < 100, f"{case.config}: a perturbation grows {growth:.3g}-fold"


def test_trajectory_check_reads_pytorchs_run_of_the_driver():
    """The optimizer parts' trajectory check reads the output of PyTorch's run (the part's
    ``pytorch=``), names the first step that leaves it, and never runs without it."""
    truth = torch.linspace(1, 2, 40, dtype=torch.float64).reshape(10, 4)
    check = trajectory("trajectory", "SGD", "torch.optim.SGD", pytorch=True)
    case = Case({}, secret={"pytorch": {"trajectory": truth}})
    assert check(case, {"trajectory": truth.clone()}, {}) == []
    off = truth.clone()
    off[3:] += 1e-6
    (message,) = check(case, {"trajectory": off}, {"trajectory": off})
    assert "SGD: differs from torch.optim.SGD first at step 3 of 9" in message, message
    with pytest.raises(KeyError):
        check(Case({}), {"trajectory": truth}, {})
    for spec in get("optimizers").parts[1:]:
        assert spec.pytorch.definitions == {spec.title: getattr(torch.optim, spec.title)}
        assert "trajectory" in spec.outputs.recorded  # held to torch.optim by the check only


@pytest.mark.parametrize("part_id", [p.id for p in get("optimizers").parts])
def test_every_mistake_applies_to_the_reference_and_differs(grader, part_id):
    """Each mistake patch applies, loads and changes the result on some probe."""
    spec = grader.assignment.part(part_id)
    for mistake in spec.mistakes:
        namespace, failures = load_statements(grader.reference_extraction.statements())
        assert not failures
        for source in grader.mistake_sources(mistake):  # raises if a patch does not apply
            exec(compile(source, f"<mistake {mistake.name}>", "exec"), namespace)
        differs = False
        for case, expected in zip(grader.cases(spec), grader.expected(spec), strict=True):
            try:
                wrong = grader.run_driver(namespace, spec, case)
            except Exception:  # noqa: BLE001 - a mistake may crash, which differs
                differs = True
                break
            key = "trajectory" if "trajectory" in wrong else "losses"
            rtol, atol = TRAJECTORY_TOLERANCES[expected[key].dtype]
            if wrong[key].shape != expected[key].shape or first_divergence(
                wrong[key], expected[key], rtol, atol
            ):
                differs = True
                break
        assert differs, f"{part_id}: mistake {mistake.name!r} is indistinguishable on the probes"


LINE = "gradient_descent-solution"
BASE = "base-solution"
SGD_CELL, RMS_CELL, ADAM_CELL, ADAMW_CELL = (
    "sgd-solution", "rmsprop-solution", "adam-solution", "adamw-solution")  # fmt: skip

SGD_FROM_ZERO = """
                if self.momentum != 0:
                    if self.buffers[i] is None:
                        self.buffers[i] = torch.zeros_like(p)
                    self.buffers[i].mul_(self.momentum).add_((1 - self.momentum) * grad)
                    grad = self.buffers[i]"""
SGD_DECAY_LATE = """
                grad = p.grad
                if self.momentum != 0:
                    if self.buffers[i] is None:
                        self.buffers[i] = grad.clone()
                    else:
                        self.buffers[i].mul_(self.momentum).add_(grad)
                    grad = self.buffers[i]
                p -= self.lr * (grad + self.weight_decay * p)"""
SGD_MOMENTUM = """
                if self.momentum != 0:
                    if self.buffers[i] is None:
                        self.buffers[i] = grad.clone()
                    else:
                        self.buffers[i].mul_(self.momentum).add_(grad)
                    grad = self.buffers[i]"""
SGD_DECAY = "grad = p.grad + self.weight_decay * p\n"

# name: (cell, old, new, part that must fail, phrase its messages must contain)
WRONG = {
    "fit_line: grads never zeroed": (
        LINE, "            a.grad.zero_()\n            b.grad.zero_()\n", "",
        "gradient_descent", "not cleared after each update"),
    "fit_line: summed loss": (
        LINE, "** 2).mean()", "** 2).sum()", "gradient_descent", "sum of the squared errors"),
    "fit_line: gradient ascent": (
        LINE, "a -= lr * a.grad\n            b -= lr * b.grad",
        "a += lr * a.grad\n            b += lr * b.grad", "gradient_descent", "uphill"),
    "fit_line: torch.optim used": (
        LINE, "    losses = []\n",
        "    losses = []\n    opt = torch.optim.SGD([a, b], lr=lr)\n", "gradient_descent",
        "torch.optim"),
    "fit_line: loss after the update": (
        LINE, "        losses.append(loss.detach())",
        "        losses.append(((a * x + b - y) ** 2).mean().detach())", "gradient_descent",
        "first at step 1 of"),
    "SGD: dampened momentum": (
        SGD_CELL, "self.buffers[i].mul_(self.momentum).add_(grad)",
        "self.buffers[i].mul_(self.momentum).add_((1 - self.momentum) * grad)", "sgd",
        "no dampening"),
    "SGD: buffer from zero": (
        SGD_CELL, SGD_MOMENTUM, SGD_FROM_ZERO, "sgd", "start as the first gradient"),
    "SGD: weight decay after momentum": (
        SGD_CELL, "\n                " + SGD_DECAY + SGD_MOMENTUM.lstrip("\n") + "\n"
        "                p -= self.lr * grad", SGD_DECAY_LATE, "sgd", "after the momentum buffer"),
    "SGD: weight decay ignored": (
        SGD_CELL, "p.grad + self.weight_decay * p", "p.grad", "sgd", "weight_decay is ignored"),
    "SGD: torch's SGD subclassed": (
        SGD_CELL, "class SGD(BaseOptimizer):", "class SGD(torch.optim.SGD):", "sgd",
        "optim.SGD"),
    "SGD: no no_grad": (
        SGD_CELL, "        with torch.no_grad():\n", "        if True:\n", "sgd",
        "torch.no_grad()"),
    "SGD: name rebound": (
        SGD_CELL, "p -= self.lr * grad", "p = p - self.lr * grad", "sgd",
        "never changed the parameters"),
    "SGD: None grads not skipped": (
        SGD_CELL, "                if p.grad is None:\n                    continue\n", "", "sgd",
        "gradient that is None"),
    "base: generator kept": (
        BASE, "self.params = list(params)", "self.params = params", "sgd", "one-shot generator"),
    "base: zero_grad does nothing": (
        BASE, "p.grad = None", "pass", "adam", "zero_grad() left a gradient behind"),
    "base: zero_grad makes zero gradients": (
        BASE, "p.grad = None", "p.grad = torch.zeros_like(p)", "sgd",
        "even one that never had a gradient"),
    "base: zero_grad makes zero gradients, seen by AdamW": (
        BASE, "p.grad = None", "p.grad = torch.zeros_like(p)", "adamw",
        "zero_grad() may be giving them a zero gradient"),
    "Adam: one step count for all parameters, advanced per parameter": (
        ADAM_CELL, "self.steps[i] += 1\n                t = self.steps[i]",
        "self.steps[0] += 1\n                t = self.steps[0]", "adam",
        "advances once per parameter"),
    "base: zero_grad without None check": (
        BASE, "p.grad = None", "p.grad.zero_()", "rmsprop", "gradient that is None"),
    "RMSprop: eps inside the root": (
        RMS_CELL, "(square_avg.sqrt() + self.eps)", "(square_avg + self.eps).sqrt()", "rmsprop",
        "inside the square root"),
    "RMSprop: alpha swapped": (
        RMS_CELL, "square_avg.mul_(self.alpha).add_((1 - self.alpha) * grad**2)",
        "square_avg.mul_(1 - self.alpha).add_(self.alpha * grad**2)", "rmsprop",
        "alpha and 1 - alpha are swapped"),
    "RMSprop: float32 state": (
        RMS_CELL, "torch.zeros_like(p)", "torch.zeros(p.shape)", "rmsprop", "torch.zeros_like(p)"),
    "RMSprop: no square root": (
        RMS_CELL, "square_avg.sqrt() + self.eps", "square_avg + self.eps", "rmsprop",
        "square root (the RMS)"),
    "Adam: no bias correction": (
        ADAM_CELL, "avg_hat = exp_avg / (1 - beta1**t)\n"
        "                avg_sq_hat = exp_avg_sq / (1 - beta2**t)",
        "avg_hat = exp_avg\n                avg_sq_hat = exp_avg_sq", "adam", "no bias correction"),
    "Adam: eps inside the root": (
        ADAM_CELL, "(avg_sq_hat.sqrt() + self.eps)", "(avg_sq_hat + self.eps).sqrt()", "adam",
        "inside the square root"),
    "Adam: decoupled weight decay": (
        ADAM_CELL, "return grad + self.weight_decay * p",
        "p.mul_(1 - self.lr * self.weight_decay)\n        return grad", "adam", "L2 penalty"),
    "Adam: betas swapped": (
        ADAM_CELL, "beta1, beta2 = self.betas", "beta2, beta1 = self.betas", "adam",
        "beta1 and beta2 are swapped"),
    "Adam: step counted from 0": (
        ADAM_CELL, "self.steps[i] += 1\n                t = self.steps[i]",
        "t = self.steps[i]\n                self.steps[i] += 1", "adam",
        "the step count t is 0 at the first step"),
    "Adam: efficient form with eps before correction": (
        ADAM_CELL, "p -= self.lr * avg_hat / (avg_sq_hat.sqrt() + self.eps)",
        "p -= self.lr * (1 - beta2**t) ** 0.5 / (1 - beta1**t) * exp_avg / "
        "(exp_avg_sq.sqrt() + self.eps)", "adam", "before the bias correction"),
    "AdamW: L2 penalty": (
        ADAMW_CELL, "p.mul_(1 - self.lr * self.weight_decay)\n        return grad",
        "return grad + self.weight_decay * p", "adamw", "AdamW decouples it"),
    "AdamW: decay without lr": (
        ADAMW_CELL, "p.mul_(1 - self.lr * self.weight_decay)", "p.mul_(1 - self.weight_decay)",
        "adamw", "scaled by the learning rate"),
    "AdamW: default weight decay 0": (
        ADAMW_CELL, "weight_decay=1e-2)", "weight_decay=0.0)", "adamw",
        "default weight_decay is 1e-2"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_submission_loses_points_on_the_right_part(grader, tmp_path, name):
    check_wrong_variant(grader, tmp_path, "optimizers", name, WRONG[name])


def test_feedback_names_the_first_divergent_step(grader, tmp_path):
    nb = replace_in_cell(source_notebook("optimizers"), ADAM_CELL, "beta1, beta2 = self.betas",
                         "beta2, beta1 = self.betas")  # fmt: skip
    result = grade(grader, tmp_path, nb, only=["adam"])
    text = result.parts[0].messages[0]
    assert "differs from torch.optim.Adam first at step 2 of 60" in text, text
    assert (
        "Adam(params, lr=0.05, betas=(0.8, 0.99), eps=0.001, weight_decay=0.1) on a "
        "quadratic bowl, float64, 60 steps" in text
    ), text


def test_a_mistake_in_the_base_class_costs_every_optimizer(grader, tmp_path):
    nb = replace_in_cell(source_notebook("optimizers"), BASE, "p.grad = None", "pass")
    result = grade(grader, tmp_path, nb)
    assert part(result, "gradient_descent").passed
    for part_id in OPTIMIZER_PARTS:
        assert not part(result, part_id).passed, result.to_text()


def test_decoupled_decay_of_parameters_without_gradients_is_caught(grader, tmp_path):
    nb = replace_in_cell(
        source_notebook("optimizers"),
        ADAMW_CELL,
        "        super().__init__(params, lr, betas, eps, weight_decay)",
        "        super().__init__(params, lr, betas, eps, weight_decay)\n\n"
        "    def step(self):\n"
        "        with torch.no_grad():\n"
        "            for p in self.params:\n"
        "                p.mul_(1 - self.lr * self.weight_decay)\n"
        "        Adam.step(self)",
    )
    nb = replace_in_cell(nb, ADAMW_CELL, "        p.mul_(1 - self.lr * self.weight_decay)\n"
                         "        return grad", "        return grad")  # fmt: skip
    result = grade(grader, tmp_path, nb, only=["adamw"])
    assert not result.parts[0].passed
    assert "are decayed too; skip them" in " ".join(result.parts[0].messages), result.to_text()


# Correct submissions written differently: (cell, full new source).
SGD_VELOCITY = '''
class SGD(BaseOptimizer):
    """Momentum written as a velocity: v = momentum * v - lr * g; p += v."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.velocity = {}

    @torch.no_grad()
    def step(self):
        for p in self.params:
            if p.grad is None:
                continue
            g = p.grad.add(p, alpha=self.weight_decay) if self.weight_decay else p.grad
            if not self.momentum:
                p.add_(g, alpha=-self.lr)
                continue
            v = self.velocity.get(id(p))
            v = -self.lr * g if v is None else self.momentum * v - self.lr * g
            self.velocity[id(p)] = v
            p.add_(v)
'''
SGD_TORCH_BASE = '''
class SGD(torch.optim.Optimizer):
    """Built on torch.optim.Optimizer: param_groups, self.state and its zero_grad."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad + group["weight_decay"] * p
                if group["momentum"]:
                    state = self.state[p]
                    if "buf" not in state:
                        state["buf"] = d_p.clone()
                    else:
                        state["buf"].mul_(group["momentum"]).add_(d_p)
                    d_p = state["buf"]
                p.add_(d_p, alpha=-group["lr"])
'''
ADAM_STATE_DICT = '''
class Adam(BaseOptimizer):
    """State in a dict keyed by id(p), created lazily; torch's arrangement of the update."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.state = {}

    def decay(self, p, grad):
        return grad.add(p, alpha=self.weight_decay)

    def step(self):
        b1, b2 = self.betas
        for p in self.params:
            if p.grad is None:
                continue
            s = self.state.setdefault(id(p), {"t": 0, "m": torch.zeros_like(p),
                                              "v": torch.zeros_like(p)})
            g = self.decay(p.data, p.grad)
            s["t"] += 1
            s["m"].lerp_(g, 1 - b1)
            s["v"].mul_(b2).addcmul_(g, g, value=1 - b2)
            step_size = self.lr / (1 - b1 ** s["t"])
            denom = (s["v"].sqrt() / math.sqrt(1 - b2 ** s["t"])).add_(self.eps)
            p.data.addcdiv_(s["m"], denom, value=-step_size)
'''
ADAMW_STANDALONE = '''
class AdamW:
    """Not a subclass: everything written out, weight decay applied to p.data."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        self.params = [p for p in params]
        self.lr, self.betas, self.eps, self.wd = lr, betas, eps, weight_decay
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = [0 for _ in self.params]

    def zero_grad(self):
        for p in self.params:
            if p.grad is not None:
                p.grad.detach_()
                p.grad.zero_()

    def step(self):
        b1, b2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            p.data.mul_(1 - self.lr * self.wd)
            self.t[i] += 1
            self.m[i] = b1 * self.m[i] + (1 - b1) * p.grad
            self.v[i] = b2 * self.v[i] + (1 - b2) * p.grad * p.grad
            m_hat = self.m[i] / (1 - b1 ** self.t[i])
            v_hat = self.v[i] / (1 - b2 ** self.t[i])
            p.data -= self.lr * m_hat / (torch.sqrt(v_hat) + self.eps)
'''
RMSPROP_ADDCMUL = '''
class RMSprop(BaseOptimizer):
    """torch-style in-place calls; grads zeroed rather than set to None."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(params)
        self.lr, self.alpha, self.eps, self.weight_decay = lr, alpha, eps, weight_decay
        self.square_avgs = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            if p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self):
        for p, avg in zip(self.params, self.square_avgs):
            if p.grad is None:
                continue
            grad = p.grad if self.weight_decay == 0 else p.grad.add(p, alpha=self.weight_decay)
            avg.mul_(self.alpha).addcmul_(grad, grad, value=1 - self.alpha)
            p.addcdiv_(grad, avg.sqrt().add_(self.eps), value=-self.lr)
'''
LINE_BY_HAND = '''
def fit_line(x, y, lr, steps):
    """Gradients derived by hand, no autograd; losses as a list of Python floats."""
    a = torch.tensor(0.0, dtype=x.dtype)
    b = torch.tensor(0.0, dtype=x.dtype)
    losses = []
    for _ in range(steps):
        error = a * x + b - y
        losses.append((error**2).mean().item())
        grad_a = 2 * (error * x).mean()
        grad_b = 2 * error.mean()
        a = a - lr * grad_a
        b = b - lr * grad_b
    return a, b, losses
'''

ADAM_GLOBAL_STEP = '''
class Adam(BaseOptimizer):
    """One step count for the optimizer; weight decay added to p.grad in place."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def decay(self, p, grad):
        return grad.add_(p, alpha=self.weight_decay)

    @torch.no_grad()
    def step(self):
        self.t += 1
        beta1, beta2 = self.betas
        correction1, correction2 = 1 - beta1**self.t, 1 - beta2**self.t
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is not None:
                g = self.decay(p, p.grad)
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).add_(g * g, alpha=1 - beta2)
                p.sub_(self.lr * (m / correction1) / ((v / correction2).sqrt() + self.eps))
'''

CORRECT_VARIANTS = {
    "SGD as a velocity, state keyed by id": (SGD_CELL, SGD_VELOCITY),
    "SGD on torch.optim.Optimizer": (SGD_CELL, SGD_TORCH_BASE),
    "Adam with a state dict, torch's arrangement": (ADAM_CELL, "import math\n" + ADAM_STATE_DICT),
    "AdamW standalone": (ADAMW_CELL, ADAMW_STANDALONE),
    "Adam with one step count": (ADAM_CELL, ADAM_GLOBAL_STEP),
    "RMSprop with addcmul_ and zeroed grads": (RMS_CELL, RMSPROP_ADDCMUL),
    "fit_line by hand": (LINE, LINE_BY_HAND),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CORRECT_VARIANTS))
def test_correct_submissions_written_differently_get_full_marks(grader, tmp_path, name):
    cell_id, source = CORRECT_VARIANTS[name]
    nb = set_cell(source_notebook("optimizers"), cell_id, source)
    affected = {LINE: ["gradient_descent"], SGD_CELL: ["sgd"], RMS_CELL: ["rmsprop"],
                ADAM_CELL: ["adam", "adamw"], ADAMW_CELL: ["adamw"]}  # fmt: skip
    result = grade(grader, tmp_path, nb, only=affected[cell_id])
    assert result.score == result.max_score, result.to_text()


def test_decorated_step_and_zeroing_zero_grad(grader, tmp_path):
    nb = replace_in_cell(source_notebook("optimizers"), BASE, "p.grad = None",
                         "if p.grad is not None:\n                p.grad.zero_()")  # fmt: skip
    nb = replace_in_cell(nb, SGD_CELL, "    def step(self):\n", "    @torch.no_grad()\n"
                         "    def step(self):\n")  # fmt: skip
    result = grade(grader, tmp_path, nb)
    assert result.score == result.max_score, result.to_text()


SGD_CELL = "sgd-solution"
SGD_BUFFERS = """                    if self.buffers[i] is None:
                        self.buffers[i] = grad.clone()
                    else:
                        self.buffers[i].mul_(self.momentum).add_(grad)
                    grad = self.buffers[i]"""
SGD_ON_THE_PARAMETER = """                    buf = getattr(p, "momentum_buffer", None)
                    if buf is None:
                        buf = grad.clone()
                    else:
                        buf.mul_(self.momentum).add_(grad)
                    p.momentum_buffer = buf
                    grad = buf"""
STATE_VARIANTS = {
    "momentum stored on the parameter": (
        SGD_BUFFERS, SGD_ON_THE_PARAMETER, "continued from the old one's state"),
    "buffers in a class attribute": (
        "        self.buffers = [None] * len(self.params)",
        "        SGD.buffers = [None] * len(self.params)", "they share state"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(STATE_VARIANTS))
def test_state_outside_the_instance_loses_the_part(grader, tmp_path, name):
    """State kept on the parameters or in the class passes probes that make one optimizer
    at a time; a second optimizer alongside, and a new one on the same parameters, fail."""
    old, new, phrase = STATE_VARIANTS[name]
    nb = replace_in_cell(source_notebook("optimizers"), SGD_CELL, old, new)
    result = grade(grader, tmp_path, nb, only=["sgd"])
    failed = part(result, "sgd")
    text = " ".join(failed.messages)
    assert not failed.passed, text
    assert phrase in text and "first at step" in text, text
    assert f"from step {optimizers.RESTART_AT + 1}" in text, text
