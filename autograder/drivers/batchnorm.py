"""Drivers of the batch-normalization assignment (run in the sandbox, on the reference and on
PyTorch's own ``nn.BatchNorm2d``).

``batch_statistics`` calls the student's function on ``x`` (N, C, H, W) and backpropagates a
weighted sum of the mean and the variance (C,) each. The three ``batchnorm_*`` drivers build
the student's ``BatchNorm2d(C[, eps=..., momentum=...])``: ``batchnorm_init`` checks what
``__init__`` registers; ``batchnorm_train`` and ``batchnorm_eval`` first give the module the
probe's weight, bias and running statistics (whatever it registered them as: registration
is ``batchnorm_init``'s business), so each part sees only its own mistakes.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import (
    backward,
    device_of,
    dtype_of,
    grad_or_zeros,
    leaf,
    module,
    need,
    parameter,
    returned_tensor,
)
from .outputs import produces
from .runtime import DriverError

CALLS = 3  # at most this many training calls per probe
STATE = ("weight", "bias", "running_mean", "running_var")
BUFFERS = STATE[2:]
# PyTorch's normalization modules, refused inside a student's module (a subclass of
# nn.BatchNorm2d reached through a computed name would inherit its __init__).
TORCH_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def _pair(value, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise DriverError(f"{what} returned {type(value).__name__}, expected a pair (mean, var)")
    return returned_tensor(value[0], f"{what} (mean)"), returned_tensor(value[1], f"{what} (var)")


@produces(
    compared={
        "mean": "the per-channel mean",
        "var": "the per-channel variance",
        "grad_x": "gradient with respect to x (through the mean and the variance)",
    }
)
def batch_statistics(ns: dict, inputs: dict, config: dict) -> dict:
    """``mean, var = batch_statistics(x)``: both, and the gradient of a weighted sum of them."""
    x = leaf(inputs["x"])
    mean, var = _pair(need(ns, "batch_statistics")(x), "batch_statistics(x)")
    weights = torch.cat([inputs["grad_mean"], inputs["grad_var"]])
    if mean.shape == var.shape == inputs["grad_mean"].shape:
        backward(torch.cat([mean, var]), weights)
    return {"mean": mean.detach(), "var": var.detach(), "grad_x": grad_or_zeros(x)}


def _build(ns: dict, config: dict) -> tuple[nn.Module, str]:
    """The student's module for the probe's channels (and eps, momentum when given)."""
    channels = config["channels"]
    kwargs = {k: config[k] for k in ("eps", "momentum") if k in config}
    what = f"BatchNorm2d({', '.join([str(channels), *(f'{k}={v}' for k, v in kwargs.items())])})"
    model = module(need(ns, "BatchNorm2d")(channels, **kwargs), what)
    for sub in model.modules():
        if isinstance(sub, TORCH_NORMS) and not type(sub).__module__.startswith("torch."):
            raise DriverError(
                f"{what} is built on PyTorch's {type(sub).__mro__[1].__name__}: build the "
                "layer yourself from means, variances and square roots"
            )
    return model.to(device=device_of(config), dtype=dtype_of(config)), what


def _put(model: nn.Module, name: str, value: torch.Tensor, what: str) -> torch.Tensor:
    """Give ``model.<name>`` the probe's ``value`` (a fresh tensor; a trainable parameter for
    the weight and the bias), whatever the student registered it as."""
    current = getattr(model, name, None)
    if not isinstance(current, torch.Tensor):
        raise DriverError(
            f"{what} has no tensor attribute `{name}`: name the parameters and buffers like "
            f"nn.BatchNorm2d's ({', '.join(STATE)})"
        )
    if tuple(current.shape) != tuple(value.shape):
        raise DriverError(
            f"{what}.{name} has shape {tuple(current.shape)}, expected {tuple(value.shape)}"
        )
    value = value.detach().clone()
    if name not in BUFFERS:
        setattr(model, name, nn.Parameter(value))
    elif name in model._parameters:  # a buffer registered as a parameter: batchnorm_init says so
        model._parameters[name] = nn.Parameter(value, requires_grad=current.requires_grad)
    else:
        setattr(model, name, value)
    return getattr(model, name)


def _load(model: nn.Module, inputs: dict, what: str, names=STATE) -> dict:
    return {name: _put(model, name, inputs[name], what) for name in names}


def _buffers(model: nn.Module, what: str, suffix: str = "") -> dict:
    result = {}
    for name in BUFFERS:
        value = getattr(model, name, None)
        result[name + suffix] = returned_tensor(value, f"{what}.{name}").detach().clone()
    return result


INIT_WORDS = {"weight": "ones", "bias": "zeros", "running_mean": "zeros", "running_var": "ones"}


@produces(
    compared={n: f"{n} after __init__ ({w}, like nn.BatchNorm2d's)" for n, w in INIT_WORDS.items()}
)
def batchnorm_init(ns: dict, inputs: dict, config: dict) -> dict:
    """A new module's weight, bias and running statistics, after ``.to(dtype)``, checked to
    be registered: parameters for the weight and the bias, buffers for the statistics."""
    model, what = _build(ns, config)
    shape = (config["channels"],)
    result = {n: parameter(model, n, shape, what).detach().clone() for n in ("weight", "bias")}
    buffers = dict(model.named_buffers(recurse=False))
    trained = sorted(n for n, _ in model.named_parameters() if n not in ("weight", "bias"))
    if trained:
        raise DriverError(
            f"{what} has parameters {trained} besides weight and bias: the running statistics "
            "are not trained; register them as buffers (self.register_buffer(name, tensor)), "
            "which are saved and moved with the module but not given to optimizers"
        )
    for name in BUFFERS:
        if name not in buffers:
            raise DriverError(
                f"{what}.{name} is not a registered buffer: create it with "
                f"self.register_buffer({name!r}, ...), so that it is saved in the state_dict "
                "and moved by .to() with the parameters"
            )
    return result | _buffers(model, what)


TRAIN_WORDS = {
    "out": "outputs",
    "grad_x": "gradient with respect to x",
    "grad_weight": "gradient of weight",
    "grad_bias": "gradient of bias",
    "running_mean": "running_mean",
    "running_var": "running_var",
}
TRAIN_OUTPUTS = tuple(
    (f"{name}{i}", f"{words} after training call {i + 1}")
    for i in range(CALLS)
    for name, words in TRAIN_WORDS.items()
)


def _step(model, inputs: dict, key: str, params: dict, what: str) -> dict:
    """One call on ``inputs[x<key>]`` and a backward pass of ``grad_out<key>``."""
    for name in ("weight", "bias"):
        params[name].grad = None
    x = leaf(inputs[f"x{key}"])
    out = returned_tensor(model(x), f"{what}.forward", x.shape)
    backward(out, inputs[f"grad_out{key}"])
    grads = {f"grad_{n}{key}": grad_or_zeros(params[n]).clone() for n in ("weight", "bias")}
    return {f"out{key}": out.detach(), f"grad_x{key}": grad_or_zeros(x)} | grads


@produces(compared=TRAIN_OUTPUTS, recorded=("detached",))
def batchnorm_train(ns: dict, inputs: dict, config: dict) -> dict:
    """Training mode: calls on ``x0``, ``x1``, ... (same channels, other shapes), each with
    its backward pass; outputs, gradients and the running statistics after each call."""
    model, what = _build(ns, config)
    params = _load(model, inputs, what)
    model.train()
    result, detached = {}, True
    for i in range(config["calls"]):
        result |= _step(model, inputs, str(i), params, f"{what} (training mode)")
        result |= _buffers(model, what, str(i))
        detached &= all(getattr(model, n).grad_fn is None for n in BUFFERS)
    return result | {"detached": torch.tensor(detached)}


@produces(
    compared={
        "out": "outputs in evaluation mode",
        "grad_x": "gradient with respect to x in evaluation mode",
        "grad_weight": "gradient of weight in evaluation mode",
        "grad_bias": "gradient of bias in evaluation mode",
        "running_mean": "running_mean after a call in evaluation mode (it must not change)",
        "running_var": "running_var after a call in evaluation mode (it must not change)",
    }
)
def batchnorm_eval(ns: dict, inputs: dict, config: dict) -> dict:
    """Evaluation mode (``model.eval()``) with the probe's running statistics: the output,
    its gradients, and the running statistics afterwards."""
    model, what = _build(ns, config)
    params = _load(model, inputs, what)
    model.eval()
    result = _step(model, inputs, "", params, f"{what} (evaluation mode)")
    return result | _buffers(model, what)
