"""Drivers of the schedules assignment (run in the sandbox and on the trusted side).

``find_lr`` runs the student's learning-rate finder on a seeded least-squares problem in
float64 (a linear model and an endless stream of mini-batches) and records the rates and the
smoothed losses it returns; ``suggest_lr`` reads two rates off a finder's curve.
``one_cycle`` and ``sgdr`` call the student's schedule at every step of a probe and record
the rate (and the momentum) of each step. On the trusted side the
same drivers run on the reference and on thin adapters over PyTorch's ``OneCycleLR`` and
``CosineAnnealingWarmRestarts``, so every trajectory comes from the very same calls.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import need
from .outputs import produces
from .runtime import DriverError


def _number(value, what: str) -> float:
    """A Python number, or a one-element tensor, as a float; a clear error otherwise."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise DriverError(f"{what} has shape {tuple(value.shape)}, expected a single number")
        if value.dtype != torch.float64 and value.is_floating_point():
            raise DriverError(
                f"{what} is a {value.dtype} tensor, which rounds it at about 1e-7: return "
                "Python floats (or float64)"
            )
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DriverError(f"{what} is a {type(value).__name__}, expected a number")
    return float(value)


def _series(value, what: str) -> torch.Tensor:
    """A list of numbers (or a 1-D float64 tensor) as a float64 tensor (n,)."""
    if isinstance(value, torch.Tensor):
        if value.dim() != 1:
            raise DriverError(f"{what} have shape {tuple(value.shape)}, expected one value a step")
        if value.is_floating_point() and value.dtype != torch.float64:
            raise DriverError(
                f"{what} are a {value.dtype} tensor, which rounds them at about 1e-7: return "
                "lists of Python floats (or float64 tensors)"
            )
        return value.detach().to(torch.float64).cpu()
    if not isinstance(value, list | tuple):
        raise DriverError(f"{what} is a {type(value).__name__}, expected a list of numbers")
    return torch.tensor([_number(v, f"an entry of {what}") for v in value], dtype=torch.float64)


def _pair(value, what: str, pair: str) -> tuple:
    """A pair (described as ``pair``) returned by ``what``; a clear error otherwise."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise DriverError(f"{what} returned {type(value).__name__}, expected {pair}")
    return tuple(value)


# ----------------------------------------------------------------- the finder
def _batches(x: torch.Tensor, y: torch.Tensor, size: int):
    """Endless mini-batches of (x, y) rows, in order, starting again at the end."""
    while True:
        for start in range(0, len(x), size):
            yield x[start : start + size], y[start : start + size]


@produces(recorded=("rates", "losses"))
def find_lr(ns: dict, inputs: dict, config: dict) -> dict:
    """``find_lr(model, batches, loss_fn, start, end, n_steps, beta) -> (rates, losses)`` on
    a linear model (inputs -> 1) fitted by mean squared error, float64. Returns both (n,)."""
    weight, bias = inputs["weight"], inputs["bias"]
    model = nn.Linear(weight.shape[1], 1).to(device=weight.device, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(weight)
        model.bias.copy_(bias)
    batches = _batches(inputs["x"], inputs["y"], config["batch_size"])
    kwargs = {k: config[k] for k in ("start", "end", "n_steps", "beta") if k in config}
    result = need(ns, "find_lr")(model, batches, nn.functional.mse_loss, **kwargs)
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise DriverError("find_lr should return a pair (rates, losses)")
    rates = _series(result[0], "the rates find_lr returned")
    losses = _series(result[1], "the losses find_lr returned")
    if len(rates) == 0:
        raise DriverError("find_lr returned no rates: record the rate and the loss of every step")
    if len(rates) != len(losses):
        raise DriverError(
            f"find_lr returned {len(rates)} rates and {len(losses)} losses: one of each a step"
        )
    return {"rates": rates, "losses": losses}


@produces(
    compared={
        "cautious": "the cautious rate (a tenth of the rate at the lowest loss)",
        "bold": "the bold rate (the steepest fall before the lowest loss)",
    }
)
def suggest_lr(ns: dict, inputs: dict, config: dict) -> dict:
    """``suggest_lr(rates, losses) -> (cautious, bold)`` on a finder's curve, rates and
    losses float64 (n,): both rates as 0-dim float64 tensors."""
    result = need(ns, "suggest_lr")(inputs["rates"].clone(), inputs["losses"].clone())
    cautious, bold = _pair(result, "suggest_lr", "(cautious, bold)")
    return {
        "cautious": torch.tensor(_number(cautious, "the cautious rate"), dtype=torch.float64),
        "bold": torch.tensor(_number(bold, "the bold rate"), dtype=torch.float64),
    }


# ----------------------------------------------------------------- the schedules
def schedule_kwargs(config: dict) -> dict:
    """The keyword arguments a probe passes to the schedule (lists back to tuples)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config["kwargs"].items()}


@produces(recorded=("rates", "momenta"))
def one_cycle(ns: dict, inputs: dict, config: dict) -> dict:
    """``one_cycle(step, peak, total, **kwargs) -> (rate, momentum)`` at every step of
    ``total``: rates (total,) and momenta (total,), float64."""
    schedule, kwargs = need(ns, "one_cycle"), schedule_kwargs(config)
    rates, momenta = [], []
    for step in range(config["total"]):
        rate, momentum = _pair(
            schedule(step, config["peak"], config["total"], **kwargs),
            "one_cycle",
            "(rate, momentum)",
        )
        rates.append(_number(rate, f"the rate at step {step}"))
        momenta.append(_number(momentum, f"the momentum at step {step}"))
    return {
        "rates": torch.tensor(rates, dtype=torch.float64),
        "momenta": torch.tensor(momenta, dtype=torch.float64),
    }


@produces(recorded=("rates",))
def sgdr(ns: dict, inputs: dict, config: dict) -> dict:
    """``sgdr(step, peak, first_cycle, **kwargs) -> (rate, None)`` at every step of the probe
    (whole steps, or fractions of a step): rates (n,), float64."""
    schedule, kwargs = need(ns, "sgdr"), schedule_kwargs(config)
    rates = []
    for step in config["steps"]:
        rate, momentum = _pair(
            schedule(step, config["peak"], config["first_cycle"], **kwargs), "sgdr", "(rate, None)"
        )
        if momentum is not None:
            raise DriverError(f"sgdr returned a momentum of {momentum!r}: return (rate, None)")
        rates.append(_number(rate, f"the rate at step {step}"))
    return {"rates": torch.tensor(rates, dtype=torch.float64)}
