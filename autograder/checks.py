"""Reusable checks for parts that can't be compared value by value (random draws, training)."""

from __future__ import annotations

import math

import torch

from autograder.compare import widened
from autograder.spec import Case, Check


def flag(key: str, message: str) -> Check:
    """Fail with ``message`` unless the output ``key`` is a true flag."""

    def check(case: Case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
        value = got.get(key)
        ok = isinstance(value, torch.Tensor) and value.numel() == 1 and bool(value.item())
        return [] if ok else [message]

    return check


def _floats(got: dict, key: str, what: str) -> torch.Tensor | list[str]:
    """``got[key]`` flattened to float64, or the failure message when no floats came back."""
    value = got.get(key)
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        return [f"{what}: no floating-point values came back"]
    return value.double().flatten()


def normal_draw(key: str, what: str, std: float, min_count: int = 400) -> Check:
    """The values in ``got[key]`` look like N(0, std): mean and spread in wide bands.

    The bands are many standard errors wide (about 7), so a correct implementation fails
    with negligible probability, while zeros, a wrong scale or a shifted mean are caught.
    """

    def check(case: Case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
        values = _floats(got, key, what)
        if isinstance(values, list) or values.numel() < min_count:
            return values if isinstance(values, list) else []
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

    def check(case: Case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
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


# (rtol, atol) for whole trajectories compared step by step. Float64 runs of a correct update
# rule agree with torch.optim's to about 1e-13 over 150 steps, float32 runs to about 1e-6 on
# well-conditioned problems; these bounds leave a wide margin above that. On CUDA they widen
# as every comparison does (:func:`autograder.compare.widened`).
TRAJECTORY_TOLERANCES = {torch.float64: (1e-9, 1e-10), torch.float32: (1e-4, 1e-5)}


def first_divergence(
    got: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float
) -> tuple[int, float, float] | None:
    """The first row (step) of ``got`` (steps, ...) that leaves ``expected``, with the largest
    error in that row and the largest expected value there; None if every row matches.
    A row with a NaN or an infinity where ``expected`` is finite counts as leaving it."""
    g, e = got.double().reshape(len(got), -1), expected.double().reshape(len(expected), -1)
    error = (g - e).abs()
    bad = (error > atol + rtol * e.abs()) | (torch.isfinite(e) & ~torch.isfinite(g))
    rows = bad.any(dim=1).nonzero()
    if len(rows) == 0:
        return None
    row = int(rows[0])
    finite = torch.isfinite(error[row])
    worst = float(error[row][finite].max()) if bool(finite.any()) else math.inf
    if not bool(finite.all()):
        worst = math.inf
    return row, worst, float(e[row].abs().max())


def trajectory(
    key: str,
    what: str,
    reference: str,
    pytorch: bool = False,
    context=None,
    first_step: int = 0,
    tolerances: dict | None = None,
) -> Check:
    """``got[key]`` (one row per step) follows the expected trajectory: the reference's
    (``expected[key]``), or with ``pytorch`` PyTorch's own run of the part's driver
    (``case.secret["pytorch"][key]``, put there by the grader for a part with ``pytorch=``;
    a KeyError if it is missing, never a silent pass).

    The message names the first step at which the two part ways, so a student can look at
    that step of their update rule. ``context(case)`` describes the probe (problem, dtype,
    hyperparameters: never its values); row ``r`` is step ``r + first_step``.
    """
    tolerances = tolerances or TRAJECTORY_TOLERANCES

    def check(case: Case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
        truth = case.secret["pytorch"][key] if pytorch else expected.get(key)
        value = got.get(key)
        where = f"{what} ({context(case)})" if context else what
        if truth is None:
            return []
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            return [f"{where}: no floating-point values came back"]
        if value.dtype != truth.dtype:
            return [
                f"{where}: dtype {value.dtype}, expected {truth.dtype}: keep the dtype of the "
                "parameters (don't hard-code one)"
            ]
        if tuple(value.shape) != tuple(truth.shape):
            return [
                f"{where}: {len(value)} steps of shape {tuple(value.shape[1:])} came back, "
                f"expected {len(truth)} of shape {tuple(truth.shape[1:])}"
            ]
        rtol, atol = widened(*tolerances.get(truth.dtype, (0.0, 0.0)), truth.dtype, device)
        found = first_divergence(value, truth, rtol, atol)
        if found is None:
            return []
        row, worst, size = found
        step = row + first_step
        if step == 0:
            when = "already at the start, before the first step"
        else:
            when = f"first at step {step} of {len(truth) - 1 + first_step}"
        error = "NaN or infinite values" if math.isinf(worst) else f"largest difference {worst:.3g}"
        return [
            f"{where}: differs from {reference} {when} ({error} where the values reach "
            f"{size:.3g}; tolerance {rtol:g} relative, {atol:g} absolute)"
        ]

    return check


def init_scale(
    key: str, what: str, fan_in, low: float = 0.2, high: float = 2.0, min_count: int = 1000
) -> Check:
    """``got[key]`` looks like a sensible random initialisation for a layer whose outputs sum
    over ``fan_in(case)`` inputs: not constant, mean about 0 and a standard deviation between
    ``low / sqrt(fan_in)`` and ``high / sqrt(fan_in)`` (PyTorch's default uniform init gives
    0.58, Kaiming's normal init 1.41). Skipped on probes with fewer than ``min_count``
    values, where the statistics are too noisy."""

    def check(case: Case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
        values = _floats(got, key, what)
        if isinstance(values, list) or values.numel() < min_count:
            return values if isinstance(values, list) else []
        n = fan_in(case)
        if not bool(torch.isfinite(values).all()):
            return [f"{what}: the initial values contain NaN or infinity"]
        if bool((values == values[0]).all()):
            return [
                f"{what}: every initial value is {float(values[0]):g}; draw them at random "
                "so that different units can learn different things"
            ]
        scale = float(values.std()) * math.sqrt(n)
        if not low <= scale <= high:
            return [
                f"{what}: the initial values have standard deviation {scale:.3g} / sqrt(fan_in) "
                f"(fan_in = {n}); a sensible scale is between {low:g} / sqrt(fan_in) and "
                f"{high:g} / sqrt(fan_in), e.g. U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as PyTorch does"
            ]
        if abs(float(values.mean())) > 7 * float(values.std()) / math.sqrt(values.numel()):
            return [f"{what}: the initial values have mean {float(values.mean()):.3g}, expected 0"]
        return []

    return check


def cross_entropy_below(key: str, threshold: float, what: str, hint: str = "") -> Check:
    """Mean cross-entropy of the logits ``got[key]`` (..., V) against the case's secret
    ``targets`` (...) is below ``threshold`` (computed here, in the trusted process)."""

    def check(case: Case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
        logits, targets = got.get(key), case.secret["targets"]
        shape = (*targets.shape, "vocab_size")
        if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
            return [f"{what}: no logits came back"]
        if logits.dim() != targets.dim() + 1 or logits.shape[:-1] != targets.shape:
            return [f"{what}: logits of shape {tuple(logits.shape)}, expected {shape}"]
        if not bool(torch.isfinite(logits).all()):
            return [f"{what}: some logits are NaN or infinite"]
        flat = logits.double().reshape(-1, logits.shape[-1])
        loss = float(torch.nn.functional.cross_entropy(flat, targets.reshape(-1)))
        if loss >= threshold:
            return [
                f"{what}: validation loss {loss:.3f} (cross-entropy per token), must be below "
                f"{threshold:g}{'; ' + hint if hint else ''}"
            ]
        return []

    return check


# For mistakes that only make sense on some probes (a bias broadcast along the width runs only
# where the width equals the number of channels): put ``"_only_if": ONLY_IF`` in the mistake's
# patch and call ``_only_if(condition)`` in it. Elsewhere the variant raises an exception no
# student code raises, so it is never matched by the kind of error a student's code raised.
ONLY_IF = '''
class MistakeNotApplicable(Exception):
    """This known mistake does not run on this probe."""


def _only_if(condition):
    if not condition:
        raise MistakeNotApplicable()
'''


def accuracy_at_least(key: str, threshold: float, what: str, hint: str = "") -> Check:
    """The share of positions whose highest logit in ``got[key]`` (..., V) is the case's
    secret ``targets`` (...) is at least ``threshold`` (computed here, in the trusted
    process)."""

    def check(case: Case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
        logits, targets = got.get(key), case.secret["targets"]
        if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
            return [f"{what}: no logits came back"]
        if logits.shape[:-1] != targets.shape:
            shape = (*targets.shape, "vocab_size")
            return [f"{what}: logits of shape {tuple(logits.shape)}, expected {shape}"]
        if not bool(torch.isfinite(logits).all()):
            return [f"{what}: some logits are NaN or infinite"]
        accuracy = float((logits.argmax(dim=-1) == targets).double().mean())
        if accuracy < threshold:
            return [
                f"{what}: validation accuracy {accuracy:.1%} (the next token ranked first), "
                f"must be at least {threshold:.0%}{'; ' + hint if hint else ''}"
            ]
        return []

    return check


def trajectory_both(key: str, what: str, name: str, context=None, first_step: int = 0) -> Check:
    """``got[key]`` (one row per step) follows the reference's trajectory and then PyTorch's
    (``name`` being PyTorch's implementation), each difference
    named by its first step as :func:`trajectory` does; one message, the reference's first."""
    kwargs = {"context": context, "first_step": first_step}
    against_reference = trajectory(key, what, "the reference solution's", **kwargs)
    against_pytorch = trajectory(key, what, f"PyTorch's {name}", pytorch=True, **kwargs)

    def check(case: Case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
        return against_reference(case, got, expected, device) or against_pytorch(
            case, got, expected, device
        )

    return check
