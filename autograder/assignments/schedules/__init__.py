"""Assignment schedules: a learning-rate finder, its rules of thumb, one-cycle and SGDR.

The finder is compared with the reference solution on seeded least-squares problems in
float64 (rates and smoothed losses, step by step, and where it stops); the rules of thumb
(``suggest_lr``) on finder-like curves. The two schedules are compared, step by step, with
the reference and with PyTorch's ``OneCycleLR`` and ``CosineAnnealingWarmRestarts``, each
driven through a thin adapter to the exercise's contract over a dummy optimizer. Feedback
names the first step at which a trajectory parts from the expected one.
"""

from __future__ import annotations

import functools

import torch

from autograder.checks import trajectory, trajectory_both
from autograder.drivers import schedules as driver
from autograder.probes import randn, uniform
from autograder.spec import Assignment, Case, Part, PyTorch

from .mistakes import FINDER_MISTAKES, ONE_CYCLE_MISTAKES, SGDR_MISTAKES, SUGGEST_MISTAKES

FORBIDDEN = ["optim.lr_scheduler"] + [
    f"lr_scheduler.{name}"
    for name in ("OneCycleLR", "CosineAnnealingWarmRestarts", "CosineAnnealingLR", "ExponentialLR",
                 "LambdaLR", "MultiplicativeLR", "CyclicLR", "SequentialLR", "LRScheduler")
]  # fmt: skip


# ----------------------------------------------------------------- PyTorch, to the contract
def _dummy_optimizer(lr: float) -> torch.optim.SGD:
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr, momentum=0.9)


@functools.cache
def _one_cycle_settings(peak, total, warmup, div, final_div, momenta) -> tuple:
    """(rate, momentum) at every step of ``OneCycleLR`` over a dummy SGD: what the
    optimizer holds before each step."""
    optimizer = _dummy_optimizer(peak)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=peak, total_steps=total, pct_start=warmup, div_factor=div,
        final_div_factor=final_div, max_momentum=momenta[0], base_momentum=momenta[1],
    )  # fmt: skip
    settings = []
    for step in range(total):
        settings.append((optimizer.param_groups[0]["lr"], optimizer.param_groups[0]["momentum"]))
        if step < total - 1:  # OneCycleLR refuses a step past total_steps
            optimizer.step()
            scheduler.step()
    return tuple(settings)


def torch_one_cycle(step, peak, total, warmup=0.3, div=25.0, final_div=1e4, momenta=(0.95, 0.85)):
    """The exercise's ``one_cycle``, computed by PyTorch's ``OneCycleLR``."""
    return _one_cycle_settings(peak, total, warmup, div, final_div, tuple(momenta))[step]


def torch_sgdr(step, peak, first_cycle, mult=2, eta_min=0.0):
    """The exercise's ``sgdr``, computed by PyTorch's ``CosineAnnealingWarmRestarts``: a
    whole step by calling ``step()`` that many times, a fraction by ``step(epoch)``."""
    optimizer = _dummy_optimizer(peak)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        optimizer, T_0=first_cycle, T_mult=mult, eta_min=eta_min
    )
    for _ in range(step if isinstance(step, int) else 0):
        optimizer.step()
        scheduler.step()
    if not isinstance(step, int):
        optimizer.step()
        scheduler.step(step)
    return optimizer.param_groups[0]["lr"], None


# ----------------------------------------------------------------- probes
def finder_cases(gen: torch.Generator) -> list[Case]:
    """Least-squares problems y = x w + noise (float64, 4 features) and finder settings: the
    defaults (the loss blows up), a short run that never blows up (it must stop at n_steps),
    and a fast ramp with heavy smoothing."""
    settings = [
        {},
        {"start": 1e-3, "end": 0.05, "n_steps": 30, "beta": 0.8},
        {"start": 1e-2, "end": 100.0, "n_steps": 40, "beta": 0.95},
    ]
    cases = []
    for kwargs in settings:
        x = randn(gen, 64, 4, dtype="float64")
        y = x @ randn(gen, 4, 1, dtype="float64") + 0.1 * randn(gen, 64, 1, dtype="float64")
        inputs = {"x": x, "y": y, "weight": randn(gen, 1, 4, dtype="float64", scale=0.1),
                  "bias": torch.zeros(1, dtype=torch.float64)}  # fmt: skip
        cases.append(Case({"batch_size": 8, **kwargs}, inputs))
    return cases


def suggest_cases(gen: torch.Generator) -> list[Case]:
    """Finder-like curves over rates growing by a constant factor (or not): a noisy fall
    and a blow-up; a curve still falling at its end; a spike after the lowest loss whose
    fall is steeper than any before it; rates on an uneven ramp."""
    cases = []
    for n, blow_up, spike, even in [(60, True, False, True), (40, False, False, True),
                                    (50, True, True, True), (45, True, False, False)]:  # fmt: skip
        if even:
            rates = torch.logspace(-4, 1, n, dtype=torch.float64)
        else:
            rates = torch.sort(uniform(gen, n, low=1e-4, high=1.0, dtype="float64")).values
        x = torch.linspace(0, 1, n, dtype=torch.float64)
        losses = 2.0 - torch.tanh(6 * (x - 0.4)) + 0.02 * randn(gen, n, dtype="float64")
        if blow_up:
            losses = losses + torch.exp(12 * (x - 0.85))
        else:  # still falling at the end: the lowest loss is the last
            losses = losses - 2 * x
        if spike:
            losses[-8] += 3.0
        cases.append(Case({}, {"rates": rates, "losses": losses}))
    return cases


def one_cycle_cases(gen: torch.Generator) -> list[Case]:
    """Run lengths even, odd and tiny; warm-ups ending on a step and between two steps."""
    settings = [
        (100, {}),
        (37, {"warmup": 0.25}),
        (7, {}),
        (50, {"warmup": 0.4, "div": 10.0, "final_div": 100.0, "momenta": [0.9, 0.8]}),
        (24, {"warmup": 0.5}),
    ]
    peaks = uniform(gen, len(settings), low=0.05, high=1.0, dtype="float64").tolist()
    return [
        Case({"peak": peak, "total": total, "kwargs": kwargs})
        for peak, (total, kwargs) in zip(peaks, settings, strict=True)
    ]


def sgdr_cases(gen: torch.Generator) -> list[Case]:
    """Cycles constant (mult 1), doubling (the default) and tripling, floors 0 and above 0,
    whole steps and fractions of a step (as ``scheduler.step(epoch + i / iters)``)."""
    quarters = [i / 4 for i in range(84)]
    settings = [
        (10, {"mult": 1}, list(range(40))),
        (5, {"eta_min": 0.01}, list(range(75))),
        (3, {"mult": 2, "eta_min": 0.001}, quarters),
        (4, {"mult": 3}, list(range(60))),
        (6, {}, list(range(50))),
        (2, {"mult": 1, "eta_min": 0.02}, [0.3 * i for i in range(30)]),
    ]
    peaks = uniform(gen, len(settings), low=0.05, high=1.0, dtype="float64").tolist()
    return [
        Case({"peak": peak, "first_cycle": first, "kwargs": kwargs, "steps": steps})
        for peak, (first, kwargs, steps) in zip(peaks, settings, strict=True)
    ]


def _finder_context(case: Case) -> str:
    c = case.config
    kwargs = ", ".join(f"{k}={c[k]!r}" for k in ("start", "end", "n_steps", "beta") if k in c)
    return f"find_lr(model, batches, loss_fn{', ' + kwargs if kwargs else ''})"


def _schedule_context(name: str, length: str):
    def describe(case: Case) -> str:
        c = case.config
        kwargs = "".join(f", {k}={v!r}" for k, v in driver.schedule_kwargs(c).items())
        return f"{name}(step, peak, {length}={c.get(length)}{kwargs})"

    return describe


def _sgdr_context(case: Case) -> str:
    text = _schedule_context("sgdr", "first_cycle")(case)
    steps = case.config["steps"]
    if all(isinstance(s, int) for s in steps):
        return text
    return f"{text}, called at steps n * {steps[1]:g} for n = 0, 1, 2, ...; the steps named are n"


STOP_RULE = (
    "the run stops, before updating the model, at the first step whose smoothed loss is more "
    "than four times the best of the earlier steps (or is not finite), and after n_steps at most"
)
_FINDER_TRAJECTORIES = [
    trajectory(key, f"find_lr: the {words}", "the reference solution's", context=_finder_context)
    for key, words in ((driver.find_lr.outputs.rates, "rates"),
                       (driver.find_lr.outputs.losses, "smoothed losses"))
]  # fmt: skip


def finder_steps(case: Case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
    """The rates and smoothed losses follow the reference's step by step (the first step that
    differs named) for as long as both ran; then the two runs stop at the same step."""
    rates, losses = driver.find_lr.outputs.rates, driver.find_lr.outputs.losses
    if rates not in got or rates not in expected:
        return []
    n, want = len(got[rates]), len(expected[rates])
    common = {k: v[: min(n, want)] for k, v in expected.items()}
    shared = {k: got[k][: min(n, want)] for k in (rates, losses) if k in got}
    for check in _FINDER_TRAJECTORIES:
        problems = check(case, shared, common, device)
        if problems:
            return problems
    if n != want:
        return [
            f"find_lr: the run stopped after {n} steps, expected {want} "
            f"({_finder_context(case)}); "
            f"the steps before agree: {STOP_RULE}"
        ]
    return []


# ----------------------------------------------------------------- the parts
def schedule_part(function: str, cases, torch_name: str, adapter, context, mistakes) -> Part:
    """A schedule's part: every output of its driver (the rates, the momenta) held step by
    step to the reference's and to PyTorch's ``torch_name``, run through ``adapter`` (bound
    to the student's name ``function``)."""
    return Part(
        function,
        function,
        cases,
        pytorch=PyTorch(torch_name, {function: adapter}),
        checks=[
            trajectory_both(key, f"{function}: the {key}", torch_name, context=context)
            for key in getattr(driver, function).outputs.recorded
        ],
        forbidden_names=FORBIDDEN,
        mistakes=mistakes,
    )


ASSIGNMENT = Assignment(
    id="schedules",
    chapters=["schedules"],
    summary="a learning-rate finder and its two rules of thumb, one-cycle and SGDR "
    "schedules, held to PyTorch's OneCycleLR and CosineAnnealingWarmRestarts step by step",
    parts=[
        Part(
            "find_lr",
            "find_lr",
            finder_cases,
            checks=[finder_steps],
            forbidden_names=FORBIDDEN,
            mistakes=FINDER_MISTAKES,
            uses_optimizers=True,  # torch.optim.SGD in the student's finder
        ),
        Part("suggest_lr", "suggest_lr", suggest_cases, mistakes=SUGGEST_MISTAKES),
        schedule_part(
            "one_cycle",
            one_cycle_cases,
            "OneCycleLR",
            torch_one_cycle,
            _schedule_context("one_cycle", "total"),
            ONE_CYCLE_MISTAKES,
        ),
        schedule_part(
            "sgdr",
            sgdr_cases,
            "CosineAnnealingWarmRestarts",
            torch_sgdr,
            _sgdr_context,
            SGDR_MISTAKES,
        ),
    ],
)
