"""Helpers shared by the drivers: contract checks that raise teachable errors."""

from __future__ import annotations

import torch
from torch import nn

from .runtime import DriverError


def need(namespace: dict, name: str):
    """The student's definition ``name``, or a clear error."""
    if name not in namespace:
        raise DriverError(f"`{name}` is not defined")
    return namespace[name]


def dtype_of(config: dict) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64}[config.get("dtype", "float32")]


def device_of(config: dict) -> torch.device:
    return torch.device(config.get("device", "cpu"))


def module(value, what: str) -> nn.Module:
    if not isinstance(value, nn.Module):
        raise DriverError(f"{what} is a {type(value).__name__}, expected an nn.Module")
    return value


def parameter(owner: nn.Module, attribute: str, shape: tuple, what: str) -> nn.Parameter:
    """``owner.<attribute>``: must be a registered nn.Parameter of ``shape``."""
    value = getattr(owner, attribute, None)
    if value is None:
        raise DriverError(f"{what} has no attribute `{attribute}`")
    if not isinstance(value, torch.Tensor):
        raise DriverError(f"{what}.{attribute} is a {type(value).__name__}, expected a tensor")
    if tuple(value.shape) != tuple(shape):
        raise DriverError(
            f"{what}.{attribute} has shape {tuple(value.shape)}, expected {tuple(shape)}"
        )
    if not isinstance(value, nn.Parameter) or not any(p is value for p in owner.parameters()):
        raise DriverError(
            f"{what}.{attribute} is not registered as a parameter (it is not in "
            f"{what}.parameters()): wrap it in nn.Parameter and assign it to self.{attribute}, "
            "so optimizers can find it"
        )
    return value


def set_weights(pairs: list[tuple[nn.Parameter, torch.Tensor]]) -> None:
    """Copy probe weights into the student's parameters (same shapes checked already)."""
    with torch.no_grad():
        for param, value in pairs:
            param.copy_(value)


def grad_or_zeros(param: torch.Tensor) -> torch.Tensor:
    return param.grad if param.grad is not None else torch.zeros_like(param)


def backward(out: torch.Tensor, grad_out: torch.Tensor) -> None:
    """Backpropagate ``grad_out`` through ``out`` when the shapes agree and a graph exists;
    otherwise leave the gradients empty (compared as zeros, with the shape reported)."""
    if out.shape == grad_out.shape and out.requires_grad:
        (out * grad_out).sum().backward()


def leaf(value: torch.Tensor) -> torch.Tensor:
    """A fresh copy of a probe tensor that requires grad (a leaf of its own graph)."""
    return value.detach().clone().requires_grad_(True)


def returned_tensor(value, what: str, shape: tuple | None = None) -> torch.Tensor:
    """``value``, checked to be a tensor (of ``shape`` when given): what ``what`` returned."""
    if not isinstance(value, torch.Tensor):
        raise DriverError(f"{what} returned {type(value).__name__}, expected a tensor")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise DriverError(f"{what} returned shape {tuple(value.shape)}, expected {tuple(shape)}")
    return value


def changed_leaf_in_place(err: BaseException) -> bool:
    """Did autograd refuse an in-place change of a leaf that requires grad?"""
    return "leaf Variable that requires grad" in str(err)
