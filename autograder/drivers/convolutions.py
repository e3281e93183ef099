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

from .common import backward, device_of, dtype_of, grad_or_zeros, module, need, set_weights
from .runtime import DriverError


def _size(value):
    """JSON's int or list -> int or tuple (what F.conv2d accepts)."""
    return tuple(value) if isinstance(value, list) else value


def _leaf(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().clone().requires_grad_(True)


def _tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise DriverError(f"{what} returned {type(value).__name__}, expected a tensor")
    return value


def _convolution(ns: dict, name: str, inputs: dict, config: dict) -> dict:
    x, weight = _leaf(inputs["x"]), _leaf(inputs["weight"])
    bias = _leaf(inputs["bias"]) if "bias" in inputs else None
    stride, padding = _size(config["stride"]), _size(config["padding"])
    out = need(ns, name)(x, weight, bias, stride=stride, padding=padding)
    out = _tensor(out, name)
    backward(out, inputs["grad_out"])
    result = {"out": out, "grad_x": grad_or_zeros(x), "grad_weight": grad_or_zeros(weight)}
    if bias is not None:
        result["grad_bias"] = grad_or_zeros(bias)
    return result | {"x": x, "weight": weight}


def conv2d(ns: dict, inputs: dict, config: dict) -> dict:
    """``conv2d(x, weight, bias, stride=, padding=)``: values and gradients."""
    return _convolution(ns, "conv2d", inputs, config)


def conv2d_im2col(ns: dict, inputs: dict, config: dict) -> dict:
    """``conv2d_im2col(x, weight, bias, stride=, padding=)``: values and gradients."""
    return _convolution(ns, "conv2d_im2col", inputs, config)


def im2col(ns: dict, inputs: dict, config: dict) -> dict:
    """``im2col(x, kernel_size, stride=, padding=)`` -> (N, C * kh * kw, L) and d/dx."""
    x = _leaf(inputs["x"])
    kernel = _size(config["kernel_size"])
    stride, padding = _size(config["stride"]), _size(config["padding"])
    cols = _tensor(need(ns, "im2col")(x, kernel, stride=stride, padding=padding), "im2col")
    backward(cols, inputs["grad_out"])
    return {"out": cols, "grad_x": grad_or_zeros(x), "x": x}


def _pool(ns: dict, name: str, inputs: dict, config: dict) -> dict:
    x = _leaf(inputs["x"])
    pool = need(ns, name)
    kernel = _size(config["kernel_size"])
    if config.get("stride") is None:  # the default stride is the point of this probe
        out = pool(x, kernel)
    else:
        out = pool(x, kernel, stride=_size(config["stride"]))
    out = _tensor(out, name)
    backward(out, inputs["grad_out"])
    return {"out": out, "grad_x": grad_or_zeros(x), "x": x}


def max_pool2d(ns: dict, inputs: dict, config: dict) -> dict:
    """``max_pool2d(x, kernel_size[, stride])``: values and d/dx."""
    return _pool(ns, "max_pool2d", inputs, config)


def avg_pool2d(ns: dict, inputs: dict, config: dict) -> dict:
    """``avg_pool2d(x, kernel_size[, stride])``: values and d/dx."""
    return _pool(ns, "avg_pool2d", inputs, config)


def adaptive_concat_pool(ns: dict, inputs: dict, config: dict) -> dict:
    """``AdaptiveConcatPool2d(size)`` (or with its default size) on x: values and d/dx."""
    cls = need(ns, "AdaptiveConcatPool2d")
    size = config.get("size")
    layer = module(cls() if size is None else cls(size), f"AdaptiveConcatPool2d({size or ''})")
    layer = layer.to(device=device_of(config), dtype=dtype_of(config))
    x = _leaf(inputs["x"])
    out = _tensor(layer(x), "AdaptiveConcatPool2d.forward")
    backward(out, inputs["grad_out"])
    return {"out": out, "grad_x": grad_or_zeros(x), "x": x}


def _conv_parameter(layer: nn.Module, name: str, shape: tuple, what: str) -> nn.Parameter:
    value = getattr(layer, name, None)
    if not isinstance(value, torch.Tensor):
        raise DriverError(
            f"{what} has no tensor attribute `{name}`: name the parameters like nn.Conv2d's "
            "(`weight` and `bias`)"
        )
    if tuple(value.shape) != shape:
        layout = "(out_channels, in_channels, kh, kw)" if name == "weight" else "(out_channels,)"
        raise DriverError(
            f"{what}.{name} has shape {tuple(value.shape)}, expected {shape}: nn.Conv2d's "
            f"{name} is {layout}"
        )
    if not isinstance(value, nn.Parameter) or not any(p is value for p in layer.parameters()):
        raise DriverError(
            f"{what}.{name} is not registered as a parameter: wrap it in nn.Parameter and "
            f"assign it to self.{name}, so optimizers can find it"
        )
    return value


def conv_module(ns: dict, inputs: dict, config: dict) -> dict:
    """``Conv2d(in, out, kernel_size, stride=, padding=, bias=)``: parameter names and
    shapes, its initial weights (checked for scale), then values and gradients with the
    probe's weights."""
    c_in, c_out, kernel = config["in_channels"], config["out_channels"], config["kernel_size"]
    stride, padding, has_bias = _size(config["stride"]), _size(config["padding"]), config["bias"]
    args = f"{c_in}, {c_out}, {_size(kernel)}, stride={stride}, padding={padding}"
    what = f"Conv2d({args}, bias={has_bias})"
    layer = need(ns, "Conv2d")(c_in, c_out, _size(kernel), stride=stride, padding=padding,
                               bias=has_bias)  # fmt: skip
    layer = module(layer, what)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    weight = _conv_parameter(layer, "weight", (c_out, c_in, kh, kw), what)
    initial = weight.detach().clone()
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
    layer = layer.to(device=device_of(config), dtype=dtype_of(config))
    pairs = [(layer.weight, inputs["weight"])]
    if has_bias:
        pairs.append((layer.bias, inputs["bias"]))
    set_weights(pairs)
    x = _leaf(inputs["x"])
    out = _tensor(layer(x), f"{what}.forward")
    backward(out, inputs["grad_out"])
    result = {"out": out, "grad_x": grad_or_zeros(x), "grad_weight": grad_or_zeros(layer.weight)}
    if has_bias:
        result["grad_bias"] = grad_or_zeros(layer.bias)
    second = need(ns, "Conv2d")(c_in, c_out, _size(kernel), stride=stride, padding=padding,
                                bias=has_bias)  # fmt: skip
    again = getattr(second, "weight", None)  # a second new layer: its draws must be new ones
    if isinstance(again, torch.Tensor):
        result["_initial_weight_again"] = again.detach().clone()
    return result | {"x": x, "_initial_weight": initial}
