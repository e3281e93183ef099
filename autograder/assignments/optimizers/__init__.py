"""Assignment ``optimizers``: a gradient-descent loop, then SGD, RMSprop, Adam and AdamW.

The gradient-descent part is compared with the reference solution's run, loss by loss. Each
optimizer is run on seeded problems (a quadratic bowl, Rosenbrock's valley, a small tanh MLP
whose parameters come as a one-shot generator, with a parameter that never gets a gradient)
for 60 to 100 steps, and its whole parameter trajectory is compared with the one
``torch.optim`` itself produces on the same problem: the part's ``pytorch=`` runs the same
driver with ``torch.optim``'s class in place of the student's, and the trajectory check reads
that run (``case.secret["pytorch"]``) with its own tolerances and step-naming message.
Rosenbrock is probed in float64 only: there float32 runs of two correct implementations drift
apart within a hundred steps. A last probe per optimizer checks that state lives in the
instance: a second optimizer steps a copy of the problem alongside the first (shared state
would mix them), and at step ``RESTART_AT`` a new optimizer takes over the first's
parameters (its state must start empty, as torch.optim's does). Feedback names the first
step at which the trajectories part, and the likely mistake
(:mod:`autograder.assignments.optimizers.mistakes`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from autograder.assignments.optimizers.mistakes import (
    ADAM_MISTAKES,
    ADAMW_MISTAKES,
    LINE_MISTAKES,
    RMSPROP_MISTAKES,
    SGD_MISTAKES,
)
from autograder.checks import (
    TRAJECTORY_TOLERANCES,
    first_divergence,
    flag,
    trajectory,
)
from autograder.compare import tolerance
from autograder.drivers import optimizers as driver
from autograder.probes import DTYPES, randn
from autograder.spec import Assignment, Case, Mistake, Part, PyTorch

F64 = "float64"  # every probe is drawn in float64, then cast to the probe's dtype
TORCH_OPTIMIZERS = ["SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "NAdam",
                    "RAdam", "ASGD", "Rprop", "LBFGS", "SparseAdam", "Adafactor"]  # fmt: skip
FORBIDDEN = [f"optim.{name}" for name in TORCH_OPTIMIZERS] + [
    "optim.sgd", "optim.rmsprop", "optim.adam", "optim.adamw", "optim._functional",
]  # fmt: skip
RESTART_AT = 20  # the probe of state: a new optimizer takes over after this many steps
STATE = {"twin": True, "restart_at": RESTART_AT}
PROBLEM_WORDS = {"bowl": "a quadratic bowl", "rosenbrock": "Rosenbrock's valley",
                 "mlp": "a small tanh MLP"}  # fmt: skip


# ----------------------------------------------------------------- gradient descent
def line_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for n, slope, intercept, lr, steps, dtype in [(40, 3.0, -2.0, 0.1, 30, "float32"),
                                                  (25, -1.5, 4.0, 0.05, 40, "float64"),
                                                  (5, 0.5, 0.5, 0.2, 10, "float32")]:  # fmt: skip
        x = randn(gen, n, dtype=F64, scale=1.5) + 0.5
        y = slope * x + intercept + randn(gen, n, dtype=F64, scale=0.3)
        config = {"lr": lr, "steps": steps, "dtype": dtype}
        cases.append(Case(config, {"x": x.to(DTYPES[dtype]), "y": y.to(DTYPES[dtype])}))
    return cases


def _line_context(case: Case) -> str:
    c = case.config
    return f"fit_line(x, y, lr={c['lr']}, steps={c['steps']}), {c['dtype']}"


# ----------------------------------------------------------------- optimizer problems
def _bowl(gen: torch.Generator) -> dict:
    """0.5 z^T H z, z = (w, u.flatten()) - center: H has eigenvalues from 0.5 to 5."""
    n = 12
    q, _ = torch.linalg.qr(randn(gen, n, n, dtype=F64))
    curvatures = torch.logspace(math.log10(0.5), math.log10(5.0), n, dtype=torch.float64)
    return {
        "w": randn(gen, 6, dtype=F64, scale=2),
        "u": randn(gen, 2, 3, dtype=F64, scale=2),
        "hessian": (q * curvatures) @ q.T,
        "center": randn(gen, n, dtype=F64),
    }


def _rosenbrock(gen: torch.Generator) -> dict:
    """Four start points on the walls of the valley (x in [-1.5, 1.5], y in [-0.5, 2])."""
    low, high = torch.tensor([-1.5, -0.5]), torch.tensor([1.5, 2.0])
    xy = low + (high - low) * torch.rand(4, 2, generator=gen)
    return {"xy": xy.double()}


def _mlp(gen: torch.Generator, frozen: bool) -> dict:
    """A 5 -> 8 -> 1 tanh network and 32 points of a smooth function plus noise."""
    x = randn(gen, 32, 5, dtype=F64)
    y = torch.sin(x[:, :1] * 2) + 0.5 * x[:, 1:2] - x[:, 2:3] * x[:, 3:4]
    y = y + randn(gen, 32, 1, dtype=F64, scale=0.1)
    inputs = {
        "W1": randn(gen, 8, 5, dtype=F64, scale=0.5),
        "b1": randn(gen, 8, dtype=F64, scale=0.1),
        "W2": randn(gen, 1, 8, dtype=F64, scale=0.5),
        "b2": randn(gen, 1, dtype=F64, scale=0.1),
        "X": x,
        "Y": y,
    }
    if frozen:
        inputs["frozen"] = randn(gen, 3, dtype=F64)
    return inputs


def optimizer_cases(probes: list[tuple]):
    """Cases of an optimizer part: (problem, dtype, steps, kwargs[, more config, e.g.
    ``STATE``]) each. Inputs are float64 draws cast to the probe's dtype."""

    def make(gen: torch.Generator) -> list[Case]:
        cases = []
        for problem, dtype, steps, kwargs, *more in probes:
            if problem == "mlp":
                inputs = _mlp(gen, frozen=True)
            else:
                inputs = {"bowl": _bowl, "rosenbrock": _rosenbrock}[problem](gen)
            inputs = {k: v.to(DTYPES[dtype]) for k, v in inputs.items()}
            config = {"problem": problem, "dtype": dtype, "steps": steps, "kwargs": kwargs}
            config |= more[0] if more else {}
            cases.append(Case(config, inputs))
        return cases

    return make


def _context(name: str):
    def describe(case: Case) -> str:
        c = case.config
        text = (
            f"{driver.call_text(name, c['kwargs'])} on {PROBLEM_WORDS[c['problem']]}, "
            f"{c['dtype']}, {c['steps']} steps"
        )
        if c.get("twin"):
            text += f", with a second {name} stepping a copy of the problem alongside"
        if c.get("restart_at"):
            text += f", and a new {name} on the same parameters from step {c['restart_at'] + 1}"
        return text

    return describe


def _still(name: str, key: str):
    """A specific word when the parameters (the output ``key``) never moved at all."""

    def check(case: Case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
        path = got.get(key)
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


def _own_state(name: str, key: str):
    """On the probe with a twin and a restart (every earlier probe passed), name what the
    step at which the trajectory (the output ``key``) leaves torch.optim's points to."""

    def check(case: Case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
        restart, path = case.config.get("restart_at"), got.get(key)
        truth = case.secret["pytorch"][key]
        if restart is None or not isinstance(path, torch.Tensor) or path.shape != truth.shape:
            return []
        rtol, atol = TRAJECTORY_TOLERANCES.get(truth.dtype, (0.0, 0.0))
        widen = tolerance(truth.dtype, device)[0] / tolerance(truth.dtype)[0]
        found = first_divergence(path, truth, rtol * widen, atol * widen)
        if found is None:
            return []
        if found[0] == restart + 1:
            return [
                f"{name}: a new {name} made on parameters another one had stepped continued "
                "from the old one's state (momentum, averages or step count): keep the state "
                "in the instance (self....), not in a class attribute or a global"
            ]
        if found[0] <= restart:
            return [
                f"{name}: two {name} objects stepping two problems side by side disturb each "
                "other: they share state; keep it in the instance (self....), not in a class "
                "attribute or a global"
            ]
        return []

    return check


def optimizer_part(name: str, probes: list[tuple], mistakes: list[Mistake]) -> Part:
    """The part ``name.lower()`` (driver function of that name) grading the class ``name``
    against ``torch.optim.<name>``: its trajectory step by step, then the flags."""
    outputs, reference = getattr(driver, name.lower()).outputs, f"torch.optim.{name}"
    return Part(
        name.lower(),
        name,
        optimizer_cases(probes),
        compare=False,
        # The trajectory check compares with torch.optim's run itself (its own tolerances,
        # naming the step): no generic value-by-value comparison (outputs=()).
        pytorch=PyTorch(reference, {name: getattr(torch.optim, name)}, outputs=()),
        checks=[
            _still(name, outputs.trajectory),
            trajectory(outputs.trajectory, name, reference, pytorch=True, context=_context(name)),
            flag(
                outputs.grads_cleared,
                f"{name}.zero_grad() left a gradient behind: set every p.grad to None (or zero it)",
            ),
            flag(
                outputs.params_kept,
                f"{name}.zero_grad() changed the parameters; it must only clear grads",
            ),
            _own_state(name, outputs.trajectory),
        ],
        forbidden_names=FORBIDDEN,
        uses_optimizers=True,  # subclasses of torch.optim.Optimizer
        # Mistake names unique across the assignment: one name, one variant.
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
    ("bowl", "float64", 40, {"lr": 0.05, "momentum": 0.9}, STATE),
]
RMSPROP_PROBES = [
    ("bowl", "float64", 60, {"lr": 0.01, "alpha": 0.9, "eps": 0.1, "weight_decay": 0.1}),
    ("bowl", "float64", 60, {}),
    ("rosenbrock", "float64", 100, {"lr": 0.005}),
    ("mlp", "float32", 60, {"lr": 0.01, "alpha": 0.95, "eps": 1e-2, "weight_decay": 0.05}),
    ("bowl", "float64", 40, {"lr": 0.01, "alpha": 0.9}, STATE),
]
ADAM_PROBES = [
    ("bowl", "float64", 60, {"lr": 0.05, "betas": [0.8, 0.99], "eps": 1e-3, "weight_decay": 0.1}),
    ("bowl", "float64", 60, {}),
    ("rosenbrock", "float64", 100, {"lr": 0.01}),
    ("mlp", "float32", 60, {"lr": 0.02, "betas": [0.9, 0.95], "eps": 1e-6, "weight_decay": 0.05}),
    ("bowl", "float64", 40, {"lr": 0.05, "betas": [0.8, 0.99]}, STATE),
]
ADAMW_PROBES = [
    ("bowl", "float64", 60, {"lr": 0.05, "betas": [0.8, 0.99], "eps": 1e-3, "weight_decay": 0.5}),
    ("bowl", "float64", 60, {}),
    ("rosenbrock", "float64", 100, {"lr": 0.01, "weight_decay": 0.1}),
    ("mlp", "float32", 60, {"lr": 0.02, "betas": [0.9, 0.95], "weight_decay": 0.2}),
    ("bowl", "float64", 40, {"lr": 0.05, "weight_decay": 0.5}, STATE),
]

ASSIGNMENT = Assignment(
    id="optimizers",
    chapters=["sgd", "optimizers"],
    summary=(
        "a gradient-descent loop, then SGD with momentum, RMSprop, Adam and AdamW that "
        "match `torch.optim`"
    ),
    parts=[
        Part(
            "gradient_descent",
            "fit_line",
            line_cases,
            function="fit_line",
            checks=[
                trajectory(
                    driver.fit_line.outputs.losses,
                    "fit_line: the losses",
                    "the reference solution's",
                    context=_line_context,
                    first_step=1,
                )
            ],
            forbidden_names=["torch.optim", *FORBIDDEN],
            mistakes=LINE_MISTAKES,
        ),
        optimizer_part("SGD", SGD_PROBES, SGD_MISTAKES),
        optimizer_part("RMSprop", RMSPROP_PROBES, RMSPROP_MISTAKES),
        optimizer_part("Adam", ADAM_PROBES, ADAM_MISTAKES),
        optimizer_part("AdamW", ADAMW_PROBES, ADAMW_MISTAKES),
    ],
)
