"""Reusable checks for parts that can't be compared value by value (random draws, training)."""

from __future__ import annotations

import math

import torch

from autograder.spec import Case, Check


def flag(key: str, message: str) -> Check:
    """Fail with ``message`` unless the output ``key`` is a true flag."""

    def check(case: Case, got: dict, expected: dict) -> list[str]:
        value = got.get(key)
        ok = isinstance(value, torch.Tensor) and value.numel() == 1 and bool(value.item())
        return [] if ok else [message]

    return check


def normal_draw(key: str, what: str, std: float, min_count: int = 400) -> Check:
    """The values in ``got[key]`` look like N(0, std): mean and spread in wide bands.

    The bands are many standard errors wide (about 7), so a correct implementation fails
    with negligible probability, while zeros, a wrong scale or a shifted mean are caught.
    """

    def check(case: Case, got: dict, expected: dict) -> list[str]:
        value = got.get(key)
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            return [f"{what}: no floating-point values came back"]
        values = value.double().flatten()
        if values.numel() < min_count:
            return []
        if bool((values == 0).all()):
            return [
                f"{what}: all values are zero; draw them from a normal distribution "
                f"with standard deviation {std:g}"
            ]
        n = values.numel()
        sample_std = float(values.std())
        margin = 7 * std / math.sqrt(2 * n)
        if abs(sample_std - std) > margin:
            return [
                f"{what}: standard deviation {sample_std:.3g}, expected {std:g} "
                f"(mean 0, std {std:g}); check the scale of your random draw"
            ]
        if abs(float(values.mean())) > 7 * std / math.sqrt(n):
            return [f"{what}: mean {float(values.mean()):.3g}, expected about 0"]
        return []

    return check


def rmse_below(key: str, threshold: float, what: str) -> Check:
    """Root-mean-square error of ``got[key]`` against the case's secret targets."""

    def check(case: Case, got: dict, expected: dict) -> list[str]:
        pred = got.get(key)
        targets = case.secret["targets"]
        if not isinstance(pred, torch.Tensor) or pred.shape != targets.shape:
            return [f"{what}: no predictions of the right shape came back"]
        if not bool(torch.isfinite(pred).all()):
            return [f"{what}: some predictions are NaN or infinite"]
        rmse = float((pred.double() - targets.double()).pow(2).mean().sqrt())
        if rmse >= threshold:
            return [
                f"{what}: validation RMSE {rmse:.3f}, must be below {threshold:g}; "
                "train longer, tune the learning rate or weight decay, use y_range"
            ]
        return []

    return check
