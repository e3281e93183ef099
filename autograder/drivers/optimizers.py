"""Drivers of the optimizers assignment (run in the sandbox and on the trusted side).

``fit_line`` runs the student's gradient-descent loop on a line. The optimizer drivers build
a seeded problem (a quadratic bowl, Rosenbrock's valley or a small tanh MLP), hand its
parameters to the student's optimizer class and run the usual loop (``zero_grad``, loss,
``backward``, ``step``) for a fixed number of steps, recording every parameter after every
step: the trajectory. The trusted side runs the same driver with ``torch.optim``'s class in
place of the student's (the part's ``pytorch=``), so both trajectories come from the very
same calls. A probe may also ask for a ``twin`` (a second optimizer of the class stepping a
copy of the problem alongside: instances must not share state) and a ``restart_at`` step
(where a new optimizer takes over the same parameters: its state must start empty).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from .common import changed_leaf_in_place, leaf, need
from .outputs import produces
from .runtime import DriverError, describe_exception


def _as_vector(value, what: str, dtype: torch.dtype) -> torch.Tensor:
    """A tensor, or a list of numbers / 0-dim tensors, as a 1-D tensor of ``dtype``."""
    if isinstance(value, torch.Tensor):
        return value.detach().reshape(-1)
    if isinstance(value, list | tuple):
        items = []
        for item in value:
            if isinstance(item, torch.Tensor) and item.numel() == 1:
                items.append(item.detach().reshape(()).to(dtype))
            elif isinstance(item, int | float):
                items.append(torch.tensor(float(item), dtype=dtype))
            else:
                raise DriverError(f"{what} holds a {type(item).__name__}; expected numbers")
        return torch.stack(items) if items else torch.zeros(0, dtype=dtype)
    raise DriverError(f"{what} is a {type(value).__name__}, expected a tensor or a list")


def _as_scalar(value, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise DriverError(f"{what} has shape {tuple(value.shape)}, expected a single number")
        return value.detach().reshape(())
    raise DriverError(f"{what} is a {type(value).__name__}, expected a 0-dim tensor")


@produces(
    compared={
        "a": "the returned a",
        "b": "the returned b",
        "x": "x after the call (was it changed in place?)",
        "y": "y after the call (was it changed in place?)",
    },
    recorded=("losses",),
)
def fit_line(ns: dict, inputs: dict, config: dict) -> dict:
    """``fit_line(x, y, lr, steps) -> (a, b, losses)``; also x and y (n,) after the call.
    The losses (steps,) are checked step by step, by the part's check."""
    x, y = inputs["x"], inputs["y"]
    result = need(ns, "fit_line")(x, y, config["lr"], config["steps"])
    if not isinstance(result, tuple | list) or len(result) != 3:
        raise DriverError("fit_line should return a tuple (a, b, losses)")
    a, b, losses = result
    return {
        "a": _as_scalar(a, "the returned a"),
        "b": _as_scalar(b, "the returned b"),
        "losses": _as_vector(losses, "the returned losses", x.dtype),
        "x": x,
        "y": y,
    }


# ----------------------------------------------------------------- problems
def _bowl(inputs: dict):
    """A quadratic bowl 0.5 z^T H z over z = (w, u.flatten()) - center; two parameters."""
    params = [leaf(inputs["w"]), leaf(inputs["u"])]
    hessian, center = inputs["hessian"], inputs["center"]

    def loss():
        z = torch.cat([params[0], params[1].reshape(-1)]) - center
        return 0.5 * (z @ hessian @ z)

    return params, iter(params), loss


def _rosenbrock(inputs: dict):
    """Rosenbrock's valley, one (x, y) start point per row of a (k, 2) parameter, summed."""
    params = [leaf(inputs["xy"])]

    def loss():
        x, y = params[0][:, 0], params[0][:, 1]
        return ((1 - x) ** 2 + 100 * (y - x**2) ** 2).sum()

    return params, iter(params), loss


def _mlp(inputs: dict):
    """A tanh MLP (inputs -> hidden -> 1) fitted to (X, Y) by mean squared error. Its
    parameters are handed over as ``model.parameters()``, a one-shot generator, plus an
    unused ``frozen`` tensor (its .grad stays None) when the probe has one."""
    w1, w2 = inputs["W1"], inputs["W2"]
    model = nn.Sequential(nn.Linear(w1.shape[1], w1.shape[0]), nn.Tanh(), nn.Linear(w2.shape[1], 1))
    model = model.to(device=w1.device, dtype=w1.dtype)
    with torch.no_grad():
        for param, key in zip(model.parameters(), ("W1", "b1", "W2", "b2"), strict=True):
            param.copy_(inputs[key])
    params = list(model.parameters())
    handed = model.parameters()
    if "frozen" in inputs:
        frozen = leaf(inputs["frozen"])
        params.append(frozen)
        handed = itertools.chain(handed, [frozen])

    def loss():
        return ((model(inputs["X"]) - inputs["Y"]) ** 2).mean()

    return params, handed, loss


PROBLEMS = {"bowl": _bowl, "rosenbrock": _rosenbrock, "mlp": _mlp}


# ----------------------------------------------------------------- the loop
def call_text(name: str, kwargs: dict) -> str:
    """How the optimizer was made, e.g. ``Adam(params, lr=0.01, betas=(0.8, 0.99))``."""
    args = ["params"] + [
        f"{k}={tuple(v) if isinstance(v, list) else v!r}" for k, v in kwargs.items()
    ]
    return f"{name}({', '.join(args)})"


def _flat(params: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in params]).clone()


def _call(call: str, method, err_hint: str) -> None:
    """``method()``, with a teaching message for the usual crashes of an update rule."""
    try:
        method()
    except RuntimeError as err:
        if changed_leaf_in_place(err) and "in-place" in str(err):
            raise DriverError(
                f"{call}.{method.__name__}() changed a parameter in place while autograd was "
                "recording: do the update inside `with torch.no_grad():`"
            ) from err
        raise
    except (AttributeError, TypeError) as err:
        if "NoneType" not in str(err):
            raise
        raise DriverError(
            f"{call}.{method.__name__}() failed on a gradient that is None: "
            f"{describe_exception(err)}; {err_hint}"
        ) from err


NONE_GRAD_HINTS = {
    "zero_grad": "every p.grad is None until the first backward(): skip those (or simply "
    "set p.grad = None)",
    "step": "a parameter that took no part in the loss keeps .grad = None: skip it, as "
    "torch.optim does",
}


def run_optimizer(ns: dict, name: str, inputs: dict, config: dict) -> dict:
    """Run ``name(params, **kwargs)`` for ``steps`` steps of the usual training loop.

    Returns ``trajectory`` (steps + 1, n): every parameter value, flattened, before the
    first step and after each step; ``grads_cleared``: whether ``zero_grad()`` left every
    gradient None or zero; ``params_kept``: whether it left the parameters alone.
    """
    kwargs = dict(config.get("kwargs", {}))
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    call = call_text(name, config.get("kwargs", {}))

    def make(handed):
        try:
            optimizer = need(ns, name)(handed, **kwargs)
        except TypeError as err:
            if "argument" not in str(err):
                raise
            raise DriverError(
                f"{call} raised TypeError: {err}; keep the signature as given"
            ) from err
        for method in ("step", "zero_grad"):
            if not callable(getattr(optimizer, method, None)):
                raise DriverError(f"{call} has no method {method}()")
        return optimizer

    params, handed, loss = PROBLEMS[config["problem"]](inputs)
    optimizer = make(handed)
    twin, twin_params = None, []
    if config.get("twin"):  # the same problem again, as other tensors
        twin_params, twin_handed, twin_loss = PROBLEMS[config["problem"]](inputs)
        twin = make(twin_handed)

    def flat() -> torch.Tensor:
        return _flat(params + twin_params)

    trajectory = [flat()]
    for step in range(config["steps"]):
        if step == config.get("restart_at"):
            optimizer = make(iter(params))
        _call(call, optimizer.zero_grad, NONE_GRAD_HINTS["zero_grad"])
        loss().backward()
        _call(call, optimizer.step, NONE_GRAD_HINTS["step"])
        if twin is not None:
            _call(call, twin.zero_grad, NONE_GRAD_HINTS["zero_grad"])
            twin_loss().backward()
            _call(call, twin.step, NONE_GRAD_HINTS["step"])
        trajectory.append(flat())
    loss().backward()
    before = _flat(params)
    _call(call, optimizer.zero_grad, NONE_GRAD_HINTS["zero_grad"])
    cleared = all(p.grad is None or not bool(p.grad.any()) for p in params)
    return {
        "trajectory": torch.stack(trajectory),
        "grads_cleared": torch.tensor(cleared),
        "params_kept": torch.tensor(torch.allclose(before, _flat(params), 0, 0, equal_nan=True)),
    }


def _driver(name: str):
    """The driver of the part ``name.lower()``: :func:`run_optimizer` on the class ``name``.
    Its outputs are read by the part's checks only (the trajectory step by step, against
    torch.optim's run of this same driver; the flags as flags): none is compared value by
    value with the reference."""

    def run(ns: dict, inputs: dict, config: dict) -> dict:
        return run_optimizer(ns, name, inputs, config)

    run.__name__ = run.__qualname__ = name.lower()
    return produces(recorded=("trajectory", "grads_cleared", "params_kept"))(run)


sgd, rmsprop, adam, adamw = (_driver(name) for name in ("SGD", "RMSprop", "Adam", "AdamW"))
