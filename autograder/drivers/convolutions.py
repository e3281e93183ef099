"""Drivers of the convolutions assignment (run in the sandbox and on the reference).

Every driver makes the probe's tensors leaves that require grad, calls the student's
function or module, backpropagates ``(out * grad_out).sum()`` and returns the output, the
gradients with respect to every input and parameter, and copies of the inputs after the
call (to catch in-place changes). Strides, paddings and kernel sizes arrive as JSON (an int
or a list) and are passed on as an int or a tuple.
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
    set_weights,
)
from .outputs import produces
from .runtime import DriverError

WORDS = {
    "out": "output",
    "grad_x": "gradient with respect to x",
    "grad_weight": "gradient with respect to weight",
    "grad_bias": "gradient with respect to bias",
    "x": "x after the call (was it changed in place?)",
    "weight": "weight after the call (was it changed in place?)",
}
CONVOLUTION = produces(compared=WORDS)
POOLING = produces(compared={k: WORDS[k] for k in ("out", "grad_x", "x")})


def _size(value):
    """JSON's int or list -> int or tuple (what F.conv2d accepts)."""
    return tuple(value) if isinstance(value, list) else value


def _gradients(out, inputs: dict, leaves: dict) -> dict:
    """Backpropagate ``grad_out`` through ``out``: the output and d/d(each of ``leaves``),
    named ``grad_<name>``."""
    backward(out, inputs["grad_out"])
    return {"out": out} | {f"grad_{k}": grad_or_zeros(v) for k, v in leaves.items()}


def _convolution(ns: dict, name: str, inputs: dict, config: dict) -> dict:
    """``<name>(x, weight, bias, stride=, padding=)``: values and gradients."""
    x, weight = leaf(inputs["x"]), leaf(inputs["weight"])
    bias = leaf(inputs["bias"]) if "bias" in inputs else None
    stride, padding = _size(config["stride"]), _size(config["padding"])
    out = returned_tensor(need(ns, name)(x, weight, bias, stride=stride, padding=padding), name)
    leaves = {"x": x, "weight": weight} | ({"bias": bias} if bias is not None else {})
    return _gradients(out, inputs, leaves) | {"x": x, "weight": weight}


@POOLING
def im2col(ns: dict, inputs: dict, config: dict) -> dict:
    """``im2col(x, kernel_size, stride=, padding=)`` -> (N, C * kh * kw, L) and d/dx."""
    x = leaf(inputs["x"])
    kernel = _size(config["kernel_size"])
    stride, padding = _size(config["stride"]), _size(config["padding"])
    cols = need(ns, "im2col")(x, kernel, stride=stride, padding=padding)
    return _gradients(returned_tensor(cols, "im2col"), inputs, {"x": x}) | {"x": x}


def _pool(ns: dict, name: str, inputs: dict, config: dict) -> dict:
    """``<name>(x, kernel_size[, stride])``: values and d/dx."""
    x = leaf(inputs["x"])
    pool = need(ns, name)
    kernel = _size(config["kernel_size"])
    if config.get("stride") is None:  # the default stride is the point of this probe
        out = pool(x, kernel)
    else:
        out = pool(x, kernel, stride=_size(config["stride"]))
    return _gradients(returned_tensor(out, name), inputs, {"x": x}) | {"x": x}


def _calling(name: str, run, declare):
    """The driver of the student's function ``name``: ``run(ns, name, inputs, config)``,
    its outputs declared by ``declare``."""

    def driver(ns: dict, inputs: dict, config: dict) -> dict:
        return run(ns, name, inputs, config)

    driver.__name__ = driver.__qualname__ = name
    driver.__doc__ = run.__doc__.replace("<name>", name)
    return declare(driver)


conv2d = _calling("conv2d", _convolution, CONVOLUTION)
conv2d_im2col = _calling("conv2d_im2col", _convolution, CONVOLUTION)
max_pool2d = _calling("max_pool2d", _pool, POOLING)
avg_pool2d = _calling("avg_pool2d", _pool, POOLING)


@POOLING
def adaptive_concat_pool(ns: dict, inputs: dict, config: dict) -> dict:
    """``AdaptiveConcatPool2d(size)`` (or with its default size) on x: values and d/dx."""
    cls = need(ns, "AdaptiveConcatPool2d")
    size = config.get("size")
    layer = module(cls() if size is None else cls(size), f"AdaptiveConcatPool2d({size or ''})")
    layer = layer.to(device=device_of(config), dtype=dtype_of(config))
    x = leaf(inputs["x"])
    out = returned_tensor(layer(x), "AdaptiveConcatPool2d.forward")
    return _gradients(out, inputs, {"x": x}) | {"x": x}


LAYOUTS = {"weight": "(out_channels, in_channels, kh, kw)", "bias": "(out_channels,)"}


def _conv_parameter(layer: nn.Module, name: str, shape: tuple, what: str) -> nn.Parameter:
    """:func:`~.common.parameter`, after a name and a shape checked with nn.Conv2d's words."""
    value = getattr(layer, name, None)
    if not isinstance(value, torch.Tensor):
        raise DriverError(
            f"{what} has no tensor attribute `{name}`: name the parameters like nn.Conv2d's "
            "(`weight` and `bias`)"
        )
    if tuple(value.shape) != shape:
        raise DriverError(
            f"{what}.{name} has shape {tuple(value.shape)}, expected {shape}: nn.Conv2d's "
            f"{name} is {LAYOUTS[name]}"
        )
    return parameter(layer, name, shape, what)


def _layer(ns: dict, config: dict) -> tuple[nn.Module, str]:
    """A new ``Conv2d`` made with the probe's arguments, and its call as words."""
    c_in, c_out, kernel = (
        config["in_channels"],
        config["out_channels"],
        _size(config["kernel_size"]),
    )
    stride, padding, bias = _size(config["stride"]), _size(config["padding"]), config["bias"]
    what = f"Conv2d({c_in}, {c_out}, {kernel}, stride={stride}, padding={padding}, bias={bias})"
    layer = need(ns, "Conv2d")(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias)
    return module(layer, what), what


def _check_parameters(layer: nn.Module, config: dict, what: str) -> None:
    """nn.Conv2d's parameters: their names, shapes and number (no bias with bias=False)."""
    c_in, c_out, has_bias = config["in_channels"], config["out_channels"], config["bias"]
    kernel = config["kernel_size"]
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    _conv_parameter(layer, "weight", (c_out, c_in, kh, kw), what)
    if has_bias:
        _conv_parameter(layer, "bias", (c_out,), what)
    elif getattr(layer, "bias", None) is not None:
        raise DriverError(
            f"{what} has a bias: with bias=False set self.bias = None, as nn.Conv2d does"
        )
    count = sum(1 for _ in layer.parameters())
    if count != 1 + has_bias:
        raise DriverError(
            f"{what} has {count} parameters, expected {1 + has_bias} (weight"
            f"{' and bias' if has_bias else ''}), as nn.Conv2d"
        )


@produces(compared=WORDS, recorded=("initial_weight", "initial_weight_again"))
def conv_module(ns: dict, inputs: dict, config: dict) -> dict:
    """``Conv2d(in, out, kernel_size, stride=, padding=, bias=)``: parameter names and
    shapes, its initial weights (checked for scale; a second new layer's too, checked to be
    new draws), then values and gradients with the probe's weights."""
    layer, what = _layer(ns, config)
    _check_parameters(layer, config, what)
    result = {"initial_weight": layer.weight.detach().clone()}
    layer = layer.to(device=device_of(config), dtype=dtype_of(config))
    names = ["weight", "bias"] if config["bias"] else ["weight"]
    set_weights([(getattr(layer, name), inputs[name]) for name in names])
    x = leaf(inputs["x"])
    out = returned_tensor(layer(x), f"{what}.forward")
    result |= _gradients(out, inputs, {"x": x} | {n: getattr(layer, n) for n in names})
    again = getattr(_layer(ns, config)[0], "weight", None)
    if isinstance(again, torch.Tensor):
        result["initial_weight_again"] = again.detach().clone()
    return result | {"x": x}
