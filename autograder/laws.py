"""Test random draws against their law, with false-failure rates bounded, not estimated.

A contract such as "each element is dropped independently with probability p, afresh at
every call" is a law, not a mean: code that drops an exact count every time, or reuses one
mask across rows or calls, has the right mean and the wrong law. The checks here look at
many calls at once (a ``(calls, positions)`` tensor of 0/1 decisions, or of signs of
continuous draws) and test statistics whose distribution under the contract is exact:

- the spread of the number of ones across calls against its binomial value (a fixed count
  spreads too little, decisions taken together spread too much);
- the spread of each position's count across calls (some positions favoured);
- the agreement of disjoint pairs of positions and of calls (``p^2 + (1 - p)^2`` for
  independent decisions, 1/2 for the signs of independent symmetric draws);
- no two calls drawing exactly the same decisions.

Each statistic is a sum of independent, identically distributed terms with a known finite
distribution, so its tails are bounded by Chernoff's inequality computed from that
distribution exactly, ``P(S >= s) <= inf_t E[exp(t X)]^n exp(-t s)``: no normal
approximation. Every tail is cut at ``ALPHA`` = 1e-9, so a correct submission fails one of
the at most 16 tails of a probe with probability below 1.6e-8 and one of the five probes of
a part below 1e-7 (the contract's 1e-6 per part, with room). The probes are seeded, so a
grade is also deterministic.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from autograder.spec import Check

ALPHA = 1e-9  # per tail
_T_GRID = torch.logspace(-4, 2.5, 400, dtype=torch.float64)


@lru_cache(maxsize=256)
def sum_band(values: tuple, probs: tuple, count: int, alpha: float = ALPHA) -> tuple[float, float]:
    """``(low, high)`` with P(S < low) <= alpha and P(S > high) <= alpha, where S is the sum
    of ``count`` independent draws of a variable taking ``values`` with ``probs``."""
    v = torch.tensor(values, dtype=torch.float64)
    logp = torch.tensor(probs, dtype=torch.float64).clamp_min(1e-300).log()
    spread = float((v - (v * logp.exp()).sum()).abs().max()) or 1.0
    t = (_T_GRID / spread)[:, None]  # (grid, 1)
    log_alpha = math.log(alpha)
    up = count * torch.logsumexp(t * v + logp, dim=1) - log_alpha  # (grid,)
    down = log_alpha - count * torch.logsumexp(-t * v + logp, dim=1)
    return float((down / t[:, 0]).max()), float((up / t[:, 0]).min())


def binomial_pmf(n: int, p: float) -> tuple[tuple, tuple]:
    """Values 0..n and their probabilities under Binomial(n, p) (0 < p < 1)."""
    k = torch.arange(n + 1, dtype=torch.float64)
    log_choose = (
        torch.lgamma(torch.tensor(n + 1.0, dtype=torch.float64))
        - torch.lgamma(k + 1)
        - torch.lgamma(n - k + 1)
    )
    logp = log_choose + k * math.log(p) + (n - k) * math.log1p(-p)
    return tuple(k.tolist()), tuple(logp.exp().tolist())


def dispersion(counts: torch.Tensor, n: int, p: float) -> tuple[float, float, float]:
    """The statistic ``sum (c - n p)^2 / (n p (1 - p))`` of Binomial(n, p) counts (its mean
    is their number), and the band a correct draw leaves with probability <= 2 ALPHA."""
    mean, var = n * p, n * p * (1 - p)
    ks, probs = binomial_pmf(n, p)
    terms = tuple((k - mean) ** 2 / var for k in ks)
    low, high = sum_band(terms, probs, int(counts.numel()))
    value = float(((counts.double() - mean) ** 2).sum() / var)
    return value, low, high


def agreement_band(agree: torch.Tensor, rate: float) -> tuple[float, float, float]:
    """The fraction of true entries of ``agree`` (independent Bernoulli(rate) when the
    contract holds) and the band it leaves with probability <= 2 ALPHA."""
    n = int(agree.numel())
    low, high = sum_band((0.0, 1.0), (1 - rate, rate), n)
    return int(agree.sum()) / max(n, 1), low / n, high / n


def _pairs(a: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint pairs along ``dim``: entries 0, 2, 4, ... and 1, 3, 5, ..."""
    m = a.shape[dim] // 2 * 2
    if m == 0:
        return a.narrow(dim, 0, 0), a.narrow(dim, 0, 0)
    pairs = a.narrow(dim, 0, m).unfold(dim, 2, 2)
    return pairs[..., 0], pairs[..., 1]


def decision_law(what: str, p: float, drops: torch.Tensor) -> list[str]:
    """Failures of ``drops`` (calls, *shape) of 0/1 "dropped" decisions against
    "each element dropped independently with probability p, afresh at every call"."""
    calls, shape = drops.shape[0], tuple(drops.shape[1:])
    drops = drops.reshape(calls, -1, shape[-1] if shape else 1)  # (calls, rows, columns)
    flat = drops.reshape(calls, -1).to(torch.uint8)
    n = flat.shape[1]
    where = f"{what} ({calls} calls on x of shape {shape})"
    distinct = torch.unique(flat, dim=0).shape[0]
    if distinct < calls:
        return [
            f"{where}: only {distinct} different masks in {calls} calls: some calls dropped "
            "exactly the same elements; draw a new mask at every call (don't keep, reuse or "
            "reseed one)"
        ]
    agree = p**2 + (1 - p) ** 2
    rate, low, high = agreement_band(torch.eq(*_pairs(flat, 0)), agree)
    if not low <= rate <= high:
        return [
            f"{where}: consecutive calls dropped the same elements {rate:.3f} of the time, "
            f"expected {agree:.3f} for independent masks: draw a new, independent mask at "
            "every call (don't keep or reuse one)"
        ]
    rate, low, high = agreement_band(flat.bool(), p)
    if not low <= rate <= high:
        return [f"{where}: {rate:.3f} of the elements were dropped, expected about p = {p}"]
    counts = flat.sum(1)
    value, low, high = dispersion(counts, n, p)
    spread, expected = math.sqrt(value / calls * n * p * (1 - p)), math.sqrt(n * p * (1 - p))
    if value < low:
        if bool((counts == counts[0]).all()):
            said = f"the number of dropped elements was exactly {int(counts[0])} in every call"
        else:
            said = (f"the number of dropped elements varied too little from call to call "
                    f"(standard deviation {spread:.2f}, expected {expected:.2f})")  # fmt: skip
        return [
            f"{where}: {said}; each element must be dropped independently with probability p, "
            "so the count varies from call to call (don't drop a fixed number of elements)"
        ]
    if value > high:
        return [
            f"{where}: the number of dropped elements varied too much from call to call "
            f"(standard deviation {spread:.2f}, expected {expected:.2f} for independent "
            "decisions): elements are dropped or kept together; draw one independent "
            "decision per element"
        ]
    for label, a, b in [
        ("neighbouring elements of a row", *_pairs(drops, 2)),
        ("the same element of neighbouring rows", *_pairs(drops, 1)),
    ]:
        if a.numel() == 0:
            continue
        rate, low, high = agreement_band(a == b, agree)
        if not low <= rate <= high:
            return [
                f"{where}: {label} were both kept or both dropped {rate:.3f} of the time, "
                f"expected {agree:.3f} for independent decisions: draw every element's "
                "decision independently, and a new mask at every call"
            ]
    value, low, high = dispersion(flat.sum(0), calls, p)
    if value > high:
        return [
            f"{where}: some elements were dropped in many more calls than others: every "
            "element must be dropped with the same probability p at every call"
        ]
    if value < low:
        return [
            f"{where}: every element was dropped in almost the same number of calls, more "
            "evenly than independent draws allow: the calls' masks depend on each other; "
            "draw a new, independent mask at every call"
        ]
    return []


def sign_law(what: str, draws: torch.Tensor) -> list[str]:
    """Failures of ``draws`` (calls, rows, columns) of values that must be independent draws
    of a distribution symmetric about 0 (so their signs are fair coins): neighbours, rows
    and calls agree in sign half of the time; no two calls or rows are equal."""
    calls = draws.shape[0]
    zeros = int((draws == 0).sum()) / max(draws.numel(), 1)
    if zeros >= 0.1:  # a float32 draw is 0 with probability about 2^-24, not 1 in 10
        return [f"{what}: {zeros:.3f} of the values are exactly 0; draw every value at random"]
    rows = draws.reshape(-1, draws.shape[-1])
    if rows.shape[0] > 1 and torch.unique(rows, dim=0).shape[0] < rows.shape[0]:
        return [
            f"{what}: some rows (or calls) hold exactly the same values: draw every value "
            "independently, afresh at every call (don't repeat a row or reseed)"
        ]
    signs = draws > 0
    for label, a, b in [("neighbouring values of a row", *_pairs(signs, -1)),
                        ("the same value in neighbouring rows", *_pairs(signs, -2)),
                        ("the same value in consecutive calls", *_pairs(signs, 0))]:  # fmt: skip
        if a.numel() == 0 or (label.endswith("calls") and calls < 2):
            continue
        rate, low, high = agreement_band(a == b, 0.5)
        if not low <= rate <= high:
            return [
                f"{what}: {label} have the same sign {rate:.3f} of the time, expected 0.5 for "
                "independent draws: draw every value independently, afresh at every call"
            ]
    return []


def independent_draws(first: str, second: str, what: str, min_count: int = 1000) -> Check:
    """``got[first]`` and ``got[second]`` (two calls, or two new modules) hold independent
    draws of a distribution symmetric about 0, the law of every initialiser here: see
    :func:`sign_law`. Skipped below ``min_count`` values, where the other checks of the
    part (scale, shape) say enough. False failures: six tails at ``ALPHA`` (a float32 draw
    of exactly 0, counted as negative, moves the sign's probability by about 1e-7)."""

    def check(case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
        a, b = got.get(first), got.get(second)
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return []
        if a.shape != b.shape or a.numel() < min_count or not a.is_floating_point():
            return []
        rows = a.shape[0] if a.dim() > 1 else 1
        return sign_law(what, torch.stack([a, b]).double().reshape(2, rows, -1))

    return check
