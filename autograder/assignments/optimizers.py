"""Assignment ``optimizers``: a gradient-descent loop, then SGD, RMSprop, Adam and AdamW.

The gradient-descent part is compared with the reference solution's run, loss by loss. Each
optimizer is run on seeded problems (a quadratic bowl, Rosenbrock's valley, a small tanh MLP
whose parameters come as a one-shot generator, with a parameter that never gets a gradient)
for 80 to 150 steps, and its whole parameter trajectory is compared with the one
``torch.optim`` itself produces on the same problem, computed here when the probes are made.
Rosenbrock is probed in float64 only: there float32 runs of two correct implementations drift
apart within a hundred steps. Feedback names the first step at which the trajectories part.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from autograder.assignments.checks import flag, trajectory
from autograder.drivers import optimizers as driver
from autograder.spec import Assignment, Case, Mistake, Part

DTYPES = {"float32": torch.float32, "float64": torch.float64}
TORCH_OPTIMIZERS = ["SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "NAdam",
                    "RAdam", "ASGD", "Rprop", "LBFGS", "SparseAdam", "Adafactor"]  # fmt: skip
FORBIDDEN = [f"optim.{name}" for name in TORCH_OPTIMIZERS] + [
    "optim.sgd", "optim.rmsprop", "optim.adam", "optim.adamw", "optim._functional",
]  # fmt: skip
PROBLEM_WORDS = {"bowl": "a quadratic bowl", "rosenbrock": "Rosenbrock's valley",
                 "mlp": "a small tanh MLP"}  # fmt: skip
RELOAD = ("", "")  # re-run a definition unchanged, so it picks up a patched base class


# ----------------------------------------------------------------- gradient descent
def line_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for n, slope, intercept, lr, steps, dtype in [(40, 3.0, -2.0, 0.1, 30, "float32"),
                                                  (25, -1.5, 4.0, 0.05, 40, "float64"),
                                                  (5, 0.5, 0.5, 0.2, 10, "float32")]:  # fmt: skip
        x = torch.randn(n, generator=gen, dtype=torch.float64) * 1.5 + 0.5
        y = slope * x + intercept + 0.3 * torch.randn(n, generator=gen, dtype=torch.float64)
        config = {"lr": lr, "steps": steps, "dtype": dtype}
        cases.append(Case(config, {"x": x.to(DTYPES[dtype]), "y": y.to(DTYPES[dtype])}))
    return cases


def _line_context(case: Case) -> str:
    c = case.config
    return f"fit_line(x, y, lr={c['lr']}, steps={c['steps']}), {c['dtype']}"


LINE_MISTAKES = [
    Mistake(
        "grads not zeroed",
        "fit_line: the gradients are not cleared after each update, so they add up over the "
        "steps; zero a.grad and b.grad (or set them to None) after each update",
        {"fit_line": ("a.grad.zero_()\n            b.grad.zero_()", "pass")},
    ),
    Mistake(
        "sum instead of mean",
        "fit_line: the loss is the sum of the squared errors; use their mean",
        {"fit_line": ("** 2).mean()", "** 2).sum()")},
    ),
    Mistake(
        "gradient ascent",
        "fit_line: the parameters move along the gradient, uphill; subtract lr * grad",
        {
            "fit_line": (
                "a -= lr * a.grad\n            b -= lr * b.grad",
                "a += lr * a.grad\n            b += lr * b.grad",
            )
        },  # fmt: skip
    ),
    Mistake(
        "b never updated",
        "fit_line: b is never updated; step both a and b",
        {"fit_line": ("b -= lr * b.grad", "pass")},
    ),
]


# ----------------------------------------------------------------- optimizer problems
def _bowl(gen: torch.Generator) -> dict:
    """0.5 z^T H z, z = (w, u.flatten()) - center: H has eigenvalues from 0.5 to 5."""
    n = 12
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    curvatures = torch.logspace(math.log10(0.5), math.log10(5.0), n, dtype=torch.float64)
    return {
        "w": 2 * torch.randn(6, generator=gen, dtype=torch.float64),
        "u": 2 * torch.randn(2, 3, generator=gen, dtype=torch.float64),
        "hessian": (q * curvatures) @ q.T,
        "center": torch.randn(n, generator=gen, dtype=torch.float64),
    }


def _rosenbrock(gen: torch.Generator) -> dict:
    """Four start points on the walls of the valley (x in [-1.5, 1.5], y in [-0.5, 2])."""
    low, high = torch.tensor([-1.5, -0.5]), torch.tensor([1.5, 2.0])
    xy = low + (high - low) * torch.rand(4, 2, generator=gen)
    return {"xy": xy.double()}


def _mlp(gen: torch.Generator, frozen: bool) -> dict:
    """A 5 -> 8 -> 1 tanh network and 32 points of a smooth function plus noise."""
    x = torch.randn(32, 5, generator=gen, dtype=torch.float64)
    y = torch.sin(x[:, :1] * 2) + 0.5 * x[:, 1:2] - x[:, 2:3] * x[:, 3:4]
    y = y + 0.1 * torch.randn(32, 1, generator=gen, dtype=torch.float64)
    inputs = {
        "W1": 0.5 * torch.randn(8, 5, generator=gen, dtype=torch.float64),
        "b1": 0.1 * torch.randn(8, generator=gen, dtype=torch.float64),
        "W2": 0.5 * torch.randn(1, 8, generator=gen, dtype=torch.float64),
        "b2": 0.1 * torch.randn(1, generator=gen, dtype=torch.float64),
        "X": x,
        "Y": y,
    }
    if frozen:
        inputs["frozen"] = torch.randn(3, generator=gen, dtype=torch.float64)
    return inputs


def optimizer_cases(name: str, probes: list[tuple]):
    """Cases for optimizer ``name``: (problem, dtype, steps, kwargs) each. The trajectory of
    ``torch.optim.<name>`` on the probe goes into the case's secret."""

    def make(gen: torch.Generator) -> list[Case]:
        cases = []
        for problem, dtype, steps, kwargs in probes:
            if problem == "mlp":
                inputs = _mlp(gen, frozen=True)
            else:
                inputs = {"bowl": _bowl, "rosenbrock": _rosenbrock}[problem](gen)
            inputs = {k: v.to(DTYPES[dtype]) for k, v in inputs.items()}
            config = {"problem": problem, "dtype": dtype, "steps": steps, "kwargs": kwargs}
            case = Case(config, inputs)
            case.secret["trajectory"] = torch_trajectory(name, case)
            cases.append(case)
        return cases

    return make


def torch_trajectory(name: str, case: Case) -> torch.Tensor:
    """The trajectory of ``torch.optim.<name>`` on the case: the expected side."""
    inputs = {k: v.clone() for k, v in case.inputs.items()}
    namespace = {name: getattr(torch.optim, name)}
    return driver.run_optimizer(namespace, name, inputs, case.config)["trajectory"]


def _context(name: str):
    def describe(case: Case) -> str:
        c = case.config
        return (
            f"{driver.call_text(name, c['kwargs'])} on {PROBLEM_WORDS[c['problem']]}, "
            f"{c['dtype']}, {c['steps']} steps"
        )

    return describe


def _still(name: str):
    """A specific word when the parameters never moved at all."""

    def check(case: Case, got: dict, expected: dict) -> list[str]:
        path = got.get("trajectory")
        if not isinstance(path, torch.Tensor) or path.dim() != 2 or len(path) < 2:
            return []
        if bool((path == path[0]).all()):
            return [
                f"{name}: step() never changed the parameters: update each one in place "
                "(p -= ..., p.add_(...)) inside torch.no_grad(); assigning p = p - ... only "
                "rebinds a local name"
            ]
        return []

    return check


def _zero_grad_checks(name: str) -> list:
    return [
        flag(
            "grads_cleared",
            f"{name}.zero_grad() left a gradient behind: set every p.grad to None (or zero it)",
        ),
        flag("params_kept", f"{name}.zero_grad() changed the parameters; it must only clear grads"),
    ]


def _common_mistakes(names: list[str]) -> list[Mistake]:
    """Mistakes in BaseOptimizer, which every optimizer inherits."""
    reload = {n: RELOAD for n in names}
    return [
        Mistake(
            "generator stored",
            "params can be a one-shot generator (model.parameters()): store list(params); "
            "a generator kept as it is is empty the second time it is read",
            {"BaseOptimizer": ("self.params = list(params)", "self.params = params")} | reload,
        ),
        Mistake(
            "zero_grad does nothing",
            "zero_grad() does not clear the gradients, so they add up across steps: set every "
            "p.grad to None (or zero it)",
            {"BaseOptimizer": ("p.grad = None", "pass")} | reload,
        ),
    ]


def _float32_state(cls: str, old: str) -> Mistake:
    return Mistake(
        "float32 state",
        f"{cls}: the running averages are float32 whatever the parameter's dtype: make them "
        "with torch.zeros_like(p) (the parameter's dtype and device)",
        {cls: (old, old.replace("torch.zeros_like(p)", "torch.zeros(p.shape)"))},
    )


def optimizer_part(name: str, title: str, probes: list[tuple], mistakes: list[Mistake]) -> Part:
    return Part(
        name.lower(),
        title,
        [name],
        name.lower(),
        optimizer_cases(name, probes),
        compare=False,
        checks=[
            _still(name),
            trajectory(
                "trajectory",
                name,
                f"torch.optim.{name}",
                secret_key="trajectory",
                context=_context(name),
            ),
            *_zero_grad_checks(name),
        ],
        forbidden_names=FORBIDDEN,
        # The grader caches a mistake's namespace by name: keep names unique per assignment.
        mistakes=[replace(m, name=f"{name}: {m.name}") for m in mistakes],
    )


# Per optimizer: every hyperparameter set on a bowl first (float64 names the first step
# exactly), the defaults, Rosenbrock (float64 only), then the MLP in float32 with its
# parameters as a generator and one parameter that never gets a gradient.
SGD_PROBES = [
    ("bowl", "float64", 60, {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.1}),
    ("bowl", "float64", 60, {"lr": 0.05}),
    ("rosenbrock", "float64", 100, {"lr": 2e-4, "momentum": 0.9}),
    ("mlp", "float32", 60, {"lr": 0.2, "momentum": 0.5, "weight_decay": 0.05}),
]
RMSPROP_PROBES = [
    ("bowl", "float64", 60, {"lr": 0.01, "alpha": 0.9, "eps": 0.1, "weight_decay": 0.1}),
    ("bowl", "float64", 60, {}),
    ("rosenbrock", "float64", 100, {"lr": 0.005}),
    ("mlp", "float32", 60, {"lr": 0.01, "alpha": 0.95, "eps": 1e-2, "weight_decay": 0.05}),
]
ADAM_PROBES = [
    ("bowl", "float64", 60, {"lr": 0.05, "betas": [0.8, 0.99], "eps": 1e-3, "weight_decay": 0.1}),
    ("bowl", "float64", 60, {}),
    ("rosenbrock", "float64", 100, {"lr": 0.01}),
    ("mlp", "float32", 60, {"lr": 0.02, "betas": [0.9, 0.95], "eps": 1e-6, "weight_decay": 0.05}),
]
ADAMW_PROBES = [
    ("bowl", "float64", 60, {"lr": 0.05, "betas": [0.8, 0.99], "eps": 1e-3, "weight_decay": 0.5}),
    ("bowl", "float64", 60, {}),
    ("rosenbrock", "float64", 100, {"lr": 0.01, "weight_decay": 0.1}),
    ("mlp", "float32", 60, {"lr": 0.02, "betas": [0.9, 0.95], "weight_decay": 0.2}),
]

SGD_DECAY_AFTER_MOMENTUM = """
class SGD(BaseOptimizer):

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params)
        self.lr, self.momentum, self.weight_decay = (lr, momentum, weight_decay)
        self.buffers = [None] * len(self.params)

    def step(self):
        with torch.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                grad = p.grad
                if self.momentum != 0:
                    if self.buffers[i] is None:
                        self.buffers[i] = grad.clone()
                    else:
                        self.buffers[i].mul_(self.momentum).add_(grad)
                    grad = self.buffers[i]
                p -= self.lr * (grad + self.weight_decay * p)
"""

SGD_MISTAKES = [
    Mistake(
        "dampened momentum",
        "SGD: the momentum buffer is updated as momentum * buf + (1 - momentum) * grad; "
        "torch.optim.SGD (no dampening) adds the whole gradient: buf = momentum * buf + grad",
        {"SGD": (".add_(grad)", ".add_((1 - self.momentum) * grad)")},
    ),
    Mistake(
        "buffer from zero",
        "SGD: the momentum buffer must start as the first gradient itself (buf = grad at the "
        "first step), then buf = momentum * buf + grad; here it starts at zero and each "
        "gradient is scaled by (1 - momentum)",
        {
            "SGD": (
                "self.buffers[i] = grad.clone()\n                    else:\n"
                "                        self.buffers[i].mul_(self.momentum).add_(grad)",
                "self.buffers[i] = (1 - self.momentum) * grad\n                    else:\n"
                "                        self.buffers[i].mul_(self.momentum).add_("
                "(1 - self.momentum) * grad)",
            )
        },  # fmt: skip
    ),
    Mistake(
        "weight decay after momentum",
        "SGD: the weight decay is added after the momentum buffer; torch.optim.SGD adds "
        "weight_decay * p to the gradient before it enters the buffer",
        {"SGD": SGD_DECAY_AFTER_MOMENTUM},
    ),
    Mistake(
        "no weight decay",
        "SGD: weight_decay is ignored; add weight_decay * p to the gradient",
        {"SGD": ("p.grad + self.weight_decay * p", "p.grad")},
    ),
    *_common_mistakes(["SGD"]),
]

RMSPROP_MISTAKES = [
    Mistake(
        "eps inside the root",
        "RMSprop: eps is added inside the square root; torch.optim.RMSprop adds it to the "
        "root: sqrt(s) + eps",
        {"RMSprop": ("(square_avg.sqrt() + self.eps)", "(square_avg + self.eps).sqrt()")},
    ),
    Mistake(
        "alpha swapped",
        "RMSprop: alpha and 1 - alpha are swapped: the running average keeps alpha of its old "
        "value and adds (1 - alpha) times the new squared gradient",
        {
            "RMSprop": (
                "square_avg.mul_(self.alpha).add_((1 - self.alpha) * grad**2)",
                "square_avg.mul_(1 - self.alpha).add_(self.alpha * grad**2)",
            )
        },  # fmt: skip
    ),
    Mistake(
        "no square root",
        "RMSprop: the step is divided by the running average of the squared gradient itself; "
        "divide by its square root (the RMS)",
        {"RMSprop": ("square_avg.sqrt() + self.eps", "square_avg + self.eps")},
    ),
    Mistake(
        "decoupled decay",
        "RMSprop: weight_decay is an L2 penalty added to the gradient (grad + weight_decay * "
        "p), as in torch.optim.RMSprop, not a shrinking of the parameter",
        {
            "RMSprop": (
                "grad = p.grad + self.weight_decay * p",
                "p.mul_(1 - self.lr * self.weight_decay)\n                grad = p.grad",
            )
        },
    ),
    Mistake(
        "no weight decay",
        "RMSprop: weight_decay is ignored; add weight_decay * p to the gradient",
        {"RMSprop": ("p.grad + self.weight_decay * p", "p.grad")},
    ),
    _float32_state("RMSprop", "self.square_avgs = [torch.zeros_like(p) for p in self.params]"),
    *_common_mistakes(["RMSprop"]),
]


def _adam_mistakes(cls: str) -> list[Mistake]:
    """Mistakes in Adam's update, which AdamW inherits (patched in Adam, AdamW reloaded)."""
    reload = {"AdamW": RELOAD} if cls == "AdamW" else {}

    def adam(old: str, new: str) -> dict:
        return {"Adam": (old, new)} | reload

    return [
        Mistake(
            "no bias correction",
            f"{cls}: no bias correction: divide the running averages by (1 - beta1**t) and "
            "(1 - beta2**t), t counting this parameter's steps from 1",
            adam(
                "avg_hat = exp_avg / (1 - beta1**t)\n"
                "                avg_sq_hat = exp_avg_sq / (1 - beta2**t)",
                "avg_hat = exp_avg\n                avg_sq_hat = exp_avg_sq",
            ),  # fmt: skip
        ),
        Mistake(
            "first moment corrected only",
            f"{cls}: only the average of the gradient is bias-corrected; divide the average of "
            "its square by (1 - beta2**t) too",
            adam("avg_sq_hat = exp_avg_sq / (1 - beta2**t)", "avg_sq_hat = exp_avg_sq"),
        ),
        Mistake(
            "eps inside the root",
            f"{cls}: eps is added inside the square root; torch.optim adds it to the root of "
            "the corrected average: sqrt(v_hat) + eps",
            adam("(avg_sq_hat.sqrt() + self.eps)", "(avg_sq_hat + self.eps).sqrt()"),
        ),
        Mistake(
            "eps before correction",
            f"{cls}: eps is added to sqrt(v) before the bias correction; add it after: "
            "sqrt(v / (1 - beta2**t)) + eps",
            adam(
                "avg_sq_hat = exp_avg_sq / (1 - beta2**t)\n"
                "                p -= self.lr * avg_hat / (avg_sq_hat.sqrt() + self.eps)",
                "p -= self.lr * avg_hat / ((exp_avg_sq.sqrt() + self.eps) / (1 - beta2**t) ** 0.5)",
            ),  # fmt: skip
        ),
        Mistake(
            "step counted from 0",
            f"{cls}: the step count t is 0 at the first step, so 1 - beta ** t is zero and the "
            "bias correction divides by zero: count t from 1 (increment it before using it)",
            adam(
                "self.steps[i] += 1\n                t = self.steps[i]",
                "t = self.steps[i]\n                self.steps[i] += 1",
            ),  # fmt: skip
        ),
        Mistake(
            "betas swapped",
            f"{cls}: beta1 and beta2 are swapped: beta1 (0.9) averages the gradient, beta2 "
            "(0.999) its square",
            adam("beta1, beta2 = self.betas", "beta2, beta1 = self.betas"),
        ),
        _float32_state_adam(cls),
        *_common_mistakes(["Adam", "AdamW"] if cls == "AdamW" else ["Adam"]),
    ]


def _float32_state_adam(cls: str) -> Mistake:
    old = "[torch.zeros_like(p) for p in self.params]"
    mistake = Mistake(
        "float32 state",
        f"{cls}: the running averages are float32 whatever the parameter's dtype: make them "
        "with torch.zeros_like(p) (the parameter's dtype and device)",
        {"Adam": (old, old.replace("torch.zeros_like(p)", "torch.zeros(p.shape)"))},
    )
    if cls == "AdamW":
        mistake.patch["AdamW"] = RELOAD
    return mistake


ADAM_MISTAKES = [
    *_adam_mistakes("Adam"),
    Mistake(
        "decoupled decay in Adam",
        "Adam: weight_decay is an L2 penalty added to the gradient (grad + weight_decay * p), "
        "as in torch.optim.Adam; shrinking the parameter directly is AdamW's decoupled decay",
        {
            "Adam": (
                "return grad + self.weight_decay * p",
                "p.mul_(1 - self.lr * self.weight_decay)\n        return grad",
            )
        },  # fmt: skip
    ),
    Mistake(
        "no weight decay",
        "Adam: weight_decay is ignored; add weight_decay * p to the gradient",
        {"Adam": ("return grad + self.weight_decay * p", "return grad")},
    ),
]

ADAMW_DECAY_AFTER = """
class AdamW(Adam):

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)

    def decay(self, p, grad):
        return grad

    def step(self):
        super().step()
        with torch.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p.mul_(1 - self.lr * self.weight_decay)
"""

ADAMW_DECAY_WITHOUT_GRAD = """
class AdamW(Adam):

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)

    def decay(self, p, grad):
        return grad

    def step(self):
        with torch.no_grad():
            for p in self.params:
                p.mul_(1 - self.lr * self.weight_decay)
        super().step()
"""

ADAMW_MISTAKES = [
    Mistake(
        "L2 instead of decoupled",
        "AdamW: the weight decay is added to the gradient (an L2 penalty, which is Adam's); "
        "AdamW decouples it: shrink the parameter, p <- p * (1 - lr * weight_decay), and "
        "leave the gradient alone",
        {
            "AdamW": (
                "p.mul_(1 - self.lr * self.weight_decay)\n        return grad",
                "return grad + self.weight_decay * p",
            )
        },  # fmt: skip
    ),
    Mistake(
        "decay without lr",
        "AdamW: the decoupled decay is scaled by the learning rate: p <- p * (1 - lr * "
        "weight_decay), not p * (1 - weight_decay)",
        {"AdamW": ("p.mul_(1 - self.lr * self.weight_decay)", "p.mul_(1 - self.weight_decay)")},
    ),
    Mistake(
        "decay after the update",
        "AdamW: the parameter is shrunk after the Adam update; torch.optim.AdamW shrinks it "
        "first, p <- p * (1 - lr * weight_decay), then applies the update",
        {"AdamW": ADAMW_DECAY_AFTER},
    ),
    Mistake(
        "decay without gradient",
        "AdamW: parameters whose .grad is None are decayed too; skip them entirely, as "
        "torch.optim does",
        {"AdamW": ADAMW_DECAY_WITHOUT_GRAD},
    ),
    Mistake(
        "default weight decay 0",
        "AdamW: the default weight_decay is 1e-2 (as in torch.optim.AdamW), not 0",
        {"AdamW": ("weight_decay=1e-2)", "weight_decay=0.0)")},
    ),
    *_adam_mistakes("AdamW"),
]

ASSIGNMENT = Assignment(
    id="optimizers",
    notebook="optimizers.ipynb",
    driver="optimizers",
    parts=[
        Part(
            "gradient_descent",
            "fit_line",
            ["fit_line"],
            "fit_line",
            line_cases,
            checks=[
                trajectory(
                    "_losses",
                    "fit_line: the losses",
                    "the reference solution's",
                    context=_line_context,
                    first_step=1,
                )
            ],
            forbidden_names=["torch.optim", *FORBIDDEN],
            mistakes=LINE_MISTAKES,
            labels={
                "a": "the returned a",
                "b": "the returned b",
                "x": "x after the call (was it changed in place?)",
                "y": "y after the call (was it changed in place?)",
            },
        ),
        optimizer_part("SGD", "SGD", SGD_PROBES, SGD_MISTAKES),
        optimizer_part("RMSprop", "RMSprop", RMSPROP_PROBES, RMSPROP_MISTAKES),
        optimizer_part("Adam", "Adam", ADAM_PROBES, ADAM_MISTAKES),
        optimizer_part("AdamW", "AdamW", ADAMW_PROBES, ADAMW_MISTAKES),
    ],
)
