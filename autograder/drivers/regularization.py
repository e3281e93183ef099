"""Drivers of the regularization assignment (run in the sandbox and on the trusted side).

No two implementations of dropout draw the same mask, so the drivers return the random
draws under keys starting with "_" (not compared with the reference; the assignment's
checks test them statistically and structurally) next to the deterministic outputs that are
compared: the identity when not training or at p = 0, zeros at p = 1, the input after the
calls. Invalid probabilities are tried too, and the outcome is returned as a code:
0 nothing raised, 1 ValueError, 2 another exception. For the law of the draws (not only
their mean), each driver also calls dropout ``config["law_calls"]`` times on one small
input and returns every call's "dropped" decisions (``_law``: (calls, *x_law.shape), 0/1);
the module's calls go to one ``Dropout`` object, with calls on another batch size and
in evaluation mode in between.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import device_of, dtype_of, grad_or_zeros, module, need
from .runtime import DriverError, describe_exception

INVALID_P = (-0.1, 1.5)


def _tensor(value, what: str, like: torch.Tensor) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise DriverError(f"{what} returned {type(value).__name__}, expected a tensor")
    if tuple(value.shape) != tuple(like.shape):
        raise DriverError(
            f"{what} returned shape {tuple(value.shape)}, expected {tuple(like.shape)} "
            "(the shape of x)"
        )
    return value


ALL_DROPPED = ": with p = 1 every element is dropped, so return zeros (don't divide by 1 - p)"


def _call(what: str, function, *args, hint: str = "") -> torch.Tensor:
    """``function(*args)``, with a message that names the call when it raises."""
    try:
        return function(*args)
    except (DriverError, NotImplementedError):
        raise
    except Exception as err:  # noqa: BLE001 - any exception of the student's code
        raise DriverError(f"{what} raised {describe_exception(err)}{hint}") from err


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
    leaf = x.clone().requires_grad_(True)
    try:
        out = _tensor(function(leaf), what, x)
    except RuntimeError as err:
        if "leaf Variable that requires grad" in str(err):
            raise DriverError(
                f"{what} changed x in place; leave x unchanged and return a new tensor"
            ) from err
        raise
    if out.requires_grad:
        out.sum().backward()
    return out, grad_or_zeros(leaf)


AGAIN = (
    ": it ran on earlier inputs of other shapes; every call must work on its own input "
    "(draw the mask for this call's x; don't keep one from an earlier call)"
)


def _decisions(what: str, function, x: torch.Tensor) -> torch.Tensor:
    """Which elements of ``x`` (no zeros) ``function(x)`` dropped: 0/1 of x's shape."""
    return (_tensor(_call(what, function, x, hint=AGAIN), what, x) == 0).to(torch.uint8)


def _law(what: str, function, x: torch.Tensor, calls: int) -> dict:
    if not calls:
        return {}
    return {"_law": torch.stack([_decisions(what, function, x) for _ in range(calls)])}


def dropout(ns: dict, inputs: dict, config: dict) -> dict:
    """``dropout(x, p)``, ``dropout(x, p, training=False)``, p = 0 and p = 1, two more draws,
    a draw with the gradient, and the invalid probabilities."""
    fn = need(ns, "dropout")
    x, p = inputs["x"], config["p"]
    call = f"dropout(x, p={p})"
    out1 = _tensor(_call(call, fn, x, p), call, x)
    out2 = _tensor(_call(call, fn, x, p), call, x)
    eval_call = f"dropout(x, p={p}, training=False)"
    eval_out = _tensor(_call(eval_call, fn, x, p, False), eval_call, x)
    p0 = _tensor(_call("dropout(x, p=0.0)", fn, x, 0.0), "dropout(x, p=0.0)", x)
    p1 = _tensor(_call("dropout(x, p=1.0)", fn, x, 1.0, hint=ALL_DROPPED), "dropout(x, p=1.0)", x)
    out_g, grad = _with_grad(call, lambda leaf: fn(leaf, p), x)
    return {
        "x": x,
        "eval_out": eval_out,
        "p0_out": p0,
        "p1_out": p1,
        "_out1": out1,
        "_out2": out2,
        "_out_grad": out_g,
        "_grad": grad,
        "_raises_low": _raises(lambda: fn(x.clone(), INVALID_P[0])),
        "_raises_high": _raises(lambda: fn(x.clone(), INVALID_P[1])),
    } | _law(call, lambda v: fn(v, p), inputs["x_law"], config.get("law_calls", 0))


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
            out = _tensor(_call(f"{call} after .eval()", layer, x, hint=AGAIN), call, x)
            identity = identity and bool(torch.equal(out, x))
            layer.train()
    return {"_law": torch.stack(drops), "_law_eval_identity": torch.tensor(identity)}


def dropout_module(ns: dict, inputs: dict, config: dict) -> dict:
    """``Dropout(p)`` as made (training mode), after ``.eval()`` and after ``.train()`` again;
    ``Dropout(0.0)``, ``Dropout(1.0)``, a draw with the gradient, and invalid p."""
    x, p = inputs["x"], config["p"]
    call = f"Dropout({p})(x)"
    layer = _layer(ns, p)
    out1 = _tensor(_call(call, layer, x), call, x)
    out2 = _tensor(_call(call, layer, x), call, x)
    layer.eval()
    eval_out = _tensor(_call(f"{call} after .eval()", layer, x), call, x)
    layer.train()
    out3 = _tensor(_call(f"{call} after .train()", layer, x), call, x)
    out_g, grad = _with_grad(call, layer, x)
    p0 = _tensor(_call("Dropout(0.0)(x)", _layer(ns, 0.0), x), "Dropout(0.0)(x)", x)
    p1 = _tensor(
        _call("Dropout(1.0)(x)", _layer(ns, 1.0), x, hint=ALL_DROPPED), "Dropout(1.0)(x)", x
    )

    def invalid(q: float):
        return lambda: need(ns, "Dropout")(q)(x.clone())

    return {
        "x": x,
        "eval_out": eval_out,
        "p0_out": p0,
        "p1_out": p1,
        "_out1": out1,
        "_out2": out2,
        "_out_train_again": out3,
        "_out_grad": out_g,
        "_grad": grad,
        "_raises_low": _raises(invalid(INVALID_P[0])),
        "_raises_high": _raises(invalid(INVALID_P[1])),
    } | _module_law(layer, inputs, config)


def kaiming_normal(ns: dict, inputs: dict, config: dict) -> dict:
    """``kaiming_normal_(w)`` on a weight of the probe's shape (a plain tensor or an
    nn.Parameter) filled with 7s: the values, and whether w itself was filled and returned;
    then on a second weight (``_w_again``), for the independence of the calls' draws."""
    fn = need(ns, "kaiming_normal_")
    shape = tuple(config["shape"])
    w = torch.full(shape, 7.0, dtype=dtype_of(config), device=device_of(config))
    if config.get("parameter"):
        w = nn.Parameter(w)
    call = f"kaiming_normal_(w) with w of shape {shape}"
    try:
        result = fn(w)
    except RuntimeError as err:
        if "leaf Variable that requires grad" in str(err):
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
        "_w": w.detach(),
        "_w_again": again,
        "_returned_w": torch.tensor(result is w),
        "_filled": torch.tensor(not bool((w.detach() == 7.0).any())),
        "_still_parameter": torch.tensor(kept_parameter),
    }
