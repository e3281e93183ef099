"""Drivers of the regularization assignment (run in the sandbox and on the trusted side).

No two implementations of dropout draw the same mask, so the drivers record the random
draws (declared ``recorded``: not compared with the reference; the assignment's checks test
them statistically and structurally) next to the deterministic outputs that are compared:
the identity when not training or at p = 0, zeros at p = 1, the input after the calls.
Invalid probabilities are tried too, and the outcome is recorded as a code: 0 nothing
raised, 1 ValueError, 2 another exception. For the law of the draws (not only their mean),
each driver also calls dropout ``config["law_calls"]`` times on one small input and records
every call's "dropped" decisions (``law``: (calls, *x_law.shape), 0/1);
the module's calls go to one ``Dropout`` object, with calls on another batch size and
in evaluation mode in between.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import (
    changed_leaf_in_place,
    device_of,
    dtype_of,
    grad_or_zeros,
    leaf,
    module,
    need,
    returned_tensor,
)
from .outputs import produces
from .runtime import DriverError, describe_exception

INVALID_P = (-0.1, 1.5)
# Recorded by both dropout drivers: three draws, the gradient of the last, the codes of the
# invalid probabilities, the decisions of the repeated calls.
DRAWS = ("out1", "out2", "out_grad", "grad", "raises_low", "raises_high", "law")
CHANGED_X = "x after the calls (was it changed in place?)"


ALL_DROPPED = ": with p = 1 every element is dropped, so return zeros (don't divide by 1 - p)"


def _call(what: str, function, *args, hint: str = "") -> torch.Tensor:
    """``function(*args)``, with a message that names the call when it raises."""
    try:
        return function(*args)
    except (DriverError, NotImplementedError):
        raise
    except Exception as err:  # noqa: BLE001 - any exception of the student's code
        raise DriverError(f"{what} raised {describe_exception(err)}{hint}") from err


def _output(what: str, function, x: torch.Tensor, *args, hint: str = "") -> torch.Tensor:
    """``function(x, *args)`` (see :func:`_call`), checked to be a tensor of x's shape."""
    return returned_tensor(_call(what, function, x, *args, hint=hint), what, x.shape)


def _raises(function) -> torch.Tensor:
    try:
        function()
    except ValueError:
        return torch.tensor(1)
    except Exception:  # noqa: BLE001 - the wrong kind of error
        return torch.tensor(2)
    return torch.tensor(0)


def _with_grad(what: str, function, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``function(x)`` on a copy of ``x`` that requires grad; the output and d(sum)/dx."""
    x_leaf = leaf(x)
    try:
        out = returned_tensor(function(x_leaf), what, x.shape)
    except RuntimeError as err:
        if changed_leaf_in_place(err):
            raise DriverError(
                f"{what} changed x in place; leave x unchanged and return a new tensor"
            ) from err
        raise
    if out.requires_grad:
        out.sum().backward()
    return out, grad_or_zeros(x_leaf)


AGAIN = (
    ": it ran on earlier inputs of other shapes; every call must work on its own input "
    "(draw the mask for this call's x; don't keep one from an earlier call)"
)


def _decisions(what: str, function, x: torch.Tensor) -> torch.Tensor:
    """Which elements of ``x`` (no zeros) ``function(x)`` dropped: 0/1 of x's shape."""
    return (_output(what, function, x, hint=AGAIN) == 0).to(torch.uint8)


def _results(x: torch.Tensor, fixed: tuple, draws: dict, invalid) -> dict:
    """What a dropout driver returns: x after the calls, the ``fixed`` outputs (in
    evaluation mode, at p = 0, at p = 1), the ``draws``, and the codes of ``invalid(p)()``
    for each invalid p (called last, after every draw)."""
    eval_out, p0, p1 = fixed
    low, high = (_raises(invalid(q)) for q in INVALID_P)
    compared = {"x": x, "eval_out": eval_out, "p0_out": p0, "p1_out": p1}
    return compared | draws | {"raises_low": low, "raises_high": high}


def _law(what: str, function, x: torch.Tensor, calls: int) -> dict:
    if not calls:
        return {}
    return {"law": torch.stack([_decisions(what, function, x) for _ in range(calls)])}


@produces(
    compared={
        "x": CHANGED_X,
        "eval_out": "dropout(x, p, training=False) (must return x unchanged)",
        "p0_out": "dropout(x, p=0.0) (nothing dropped: must return x unchanged)",
        "p1_out": "dropout(x, p=1.0) (everything dropped: must return zeros)",
    },
    recorded=DRAWS,
)
def dropout(ns: dict, inputs: dict, config: dict) -> dict:
    """``dropout(x, p)``, ``dropout(x, p, training=False)``, p = 0 and p = 1, two more draws,
    a draw with the gradient, and the invalid probabilities."""
    fn = need(ns, "dropout")
    x, p = inputs["x"], config["p"]
    call = f"dropout(x, p={p})"
    out1 = _output(call, fn, x, p)
    out2 = _output(call, fn, x, p)
    eval_call = f"dropout(x, p={p}, training=False)"
    eval_out = _output(eval_call, fn, x, p, False)
    p0 = _output("dropout(x, p=0.0)", fn, x, 0.0)
    p1 = _output("dropout(x, p=1.0)", fn, x, 1.0, hint=ALL_DROPPED)
    out_g, grad = _with_grad(call, lambda leaf: fn(leaf, p), x)
    draws = {"out1": out1, "out2": out2, "out_grad": out_g, "grad": grad}
    return _results(x, (eval_out, p0, p1), draws, lambda q: lambda: fn(x.clone(), q)) | _law(
        call, lambda v: fn(v, p), inputs["x_law"], config.get("law_calls", 0)
    )


def _layer(ns: dict, p: float) -> nn.Module:
    made = _call(f"Dropout({p})", need(ns, "Dropout"), p)
    return module(made, f"Dropout({p})")


def _module_law(layer: nn.Module, inputs: dict, config: dict) -> dict:
    """``config["law_calls"]`` training calls of the same ``layer`` on ``x_law``; every
    seventh is followed by a call on ``x_other`` (another batch size), every eleventh by
    one in evaluation mode (must return its input) and ``.train()`` again."""
    calls = config.get("law_calls", 0)
    if not calls:
        return {}
    x, other, p = inputs["x_law"], inputs["x_other"], config["p"]
    call = f"Dropout({p})(x)"
    drops, identity = [], True
    layer.train()
    for index in range(calls):
        drops.append(_decisions(call, layer, x))
        if index % 7 == 3:
            _decisions(f"{call} on another batch size", layer, other)
        if index % 11 == 5:
            layer.eval()
            out = _output(f"{call} after .eval()", layer, x, hint=AGAIN)
            identity = identity and bool(torch.equal(out, x))
            layer.train()
    return {"law": torch.stack(drops), "law_eval_identity": torch.tensor(identity)}


@produces(
    compared={
        "x": CHANGED_X,
        "eval_out": "Dropout(p)(x) after .eval() (must return x unchanged)",
        "p0_out": "Dropout(0.0)(x) (nothing dropped: must return x unchanged)",
        "p1_out": "Dropout(1.0)(x) (everything dropped: must return zeros)",
    },
    recorded=(*DRAWS, "out_train_again", "law_eval_identity"),
)
def dropout_module(ns: dict, inputs: dict, config: dict) -> dict:
    """``Dropout(p)`` as made (training mode), after ``.eval()`` and after ``.train()`` again;
    ``Dropout(0.0)``, ``Dropout(1.0)``, a draw with the gradient, and invalid p."""
    x, p = inputs["x"], config["p"]
    call = f"Dropout({p})(x)"
    layer = _layer(ns, p)
    out1 = _output(call, layer, x)
    out2 = _output(call, layer, x)
    layer.eval()
    eval_out = _output(f"{call} after .eval()", layer, x)
    layer.train()
    out3 = _output(f"{call} after .train()", layer, x)
    out_g, grad = _with_grad(call, layer, x)
    p0 = _output("Dropout(0.0)(x)", _layer(ns, 0.0), x)
    p1 = _output("Dropout(1.0)(x)", _layer(ns, 1.0), x, hint=ALL_DROPPED)

    def invalid(q: float):
        return lambda: need(ns, "Dropout")(q)(x.clone())

    draws = {"out1": out1, "out2": out2, "out_train_again": out3, "out_grad": out_g, "grad": grad}
    return _results(x, (eval_out, p0, p1), draws, invalid) | _module_law(layer, inputs, config)


@produces(recorded=("w", "w_again", "returned_w", "filled", "still_parameter"))
def kaiming_normal(ns: dict, inputs: dict, config: dict) -> dict:
    """``kaiming_normal_(w)`` on a weight of the probe's shape (a plain tensor or an
    nn.Parameter) filled with 7s: the values, and whether w itself was filled and returned;
    then on a second weight (``w_again``), for the independence of the calls' draws."""
    fn = need(ns, "kaiming_normal_")
    shape = tuple(config["shape"])
    w = torch.full(shape, 7.0, dtype=dtype_of(config), device=device_of(config))
    if config.get("parameter"):
        w = nn.Parameter(w)
    call = f"kaiming_normal_(w) with w of shape {shape}"
    try:
        result = fn(w)
    except RuntimeError as err:
        if changed_leaf_in_place(err):
            raise DriverError(
                f"{call}, an nn.Parameter, changed it in place while autograd was recording: "
                "fill it inside `with torch.no_grad():`, as torch.nn.init does"
            ) from err
        raise
    if not isinstance(w, torch.Tensor) or tuple(w.shape) != shape:
        raise DriverError(f"{call} changed the shape of w")
    kept_parameter = not config.get("parameter") or (
        isinstance(w, nn.Parameter) and w.requires_grad and w.grad_fn is None
    )
    again = torch.full(shape, 7.0, dtype=dtype_of(config), device=device_of(config))
    with torch.no_grad():
        fn(again)  # a second call: its draws must be new ones
    return {
        "w": w.detach(),
        "w_again": again,
        "returned_w": torch.tensor(result is w),
        "filled": torch.tensor(not bool((w.detach() == 7.0).any())),
        "still_parameter": torch.tensor(kept_parameter),
    }
