"""The law checks on their own (no sandbox): the Chernoff bands hold the exact binomial
tails below ALPHA, correct draws pass, and each wrong law fails with the property named."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import binom

from autograder import laws


@pytest.mark.parametrize(("n", "rate"), [(1000, 0.5), (38400, 0.68), (76800, 0.1)])
def test_the_band_bounds_the_exact_binomial_tails(n, rate):
    low, high = laws.sum_band((0.0, 1.0), (1 - rate, rate), n)
    assert binom.cdf(math.ceil(low) - 1, n, rate) <= laws.ALPHA  # P(S < low)
    assert binom.sf(math.floor(high), n, rate) <= laws.ALPHA  # P(S > high)
    # and not absurdly wide: within 8 standard deviations
    sd = math.sqrt(n * rate * (1 - rate))
    assert n * rate - 8 * sd < low < n * rate < high < n * rate + 8 * sd


def test_the_dispersion_band_holds_the_mean_and_excludes_a_fixed_count():
    value, low, high = laws.dispersion(torch.full((300,), 128), 256, 0.5)
    assert value == 0 and low > 100 and high < 600 and low < 300 < high


def _drops(gen, calls=300, shape=(8, 32), p=0.3):
    return torch.rand(calls, *shape, generator=gen) < p


def test_correct_decisions_pass_many_draws():
    gen = torch.Generator().manual_seed(5)
    for p in (0.1, 0.5, 0.8):
        for _ in range(15):
            assert laws.decision_law("dropout", p, _drops(gen, p=p)) == []


def _fixed_count(gen):
    drops = torch.zeros(300, 256, dtype=torch.bool)
    for k in range(300):
        drops[k, torch.randperm(256, generator=gen)[:77]] = True
    return drops.view(300, 8, 32)


def _favoured(gen):
    drops = _drops(gen)
    drops[:, 0, :4] = torch.rand(300, 4, generator=gen) < 0.9
    return drops


def _antithetic(gen):
    drops = _drops(gen, calls=150, p=0.5)
    return torch.stack([drops, ~drops], 1).reshape(300, 8, 32)


WRONG = {
    "fixed count": (_fixed_count, "was exactly 77 in every call"),
    "rows share a mask": (lambda g: _drops(g, shape=(1, 32)).expand(300, 8, 32),
                          "varied too much from call to call"),
    "mask drawn once": (lambda g: _drops(g, calls=1).expand(300, 8, 32), "only 1 different"),
    "pairs of neighbours": (lambda g: _drops(g, shape=(8, 16)).repeat_interleave(2, -1),
                            "dropped or kept together"),
    "some elements favoured": (_favoured, "dropped in many more calls than others"),
    "each call the opposite of the last": (_antithetic, "consecutive calls"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_law_fails_with_the_property_named(name):
    make, phrase = WRONG[name]
    p = 0.5 if name == "each call the opposite of the last" else 0.3
    problems = laws.decision_law("dropout", p, make(torch.Generator().manual_seed(1)))
    assert len(problems) == 1 and phrase in problems[0], problems


def test_signs_of_independent_symmetric_draws_pass_and_dependent_ones_fail():
    gen = torch.Generator().manual_seed(2)
    for draw in (torch.randn(2, 64, 64, generator=gen), torch.rand(2, 64, 64, generator=gen) - 0.5):
        assert laws.sign_law("init", draw) == []
    same = torch.randn(1, 64, 64, generator=gen).expand(2, 64, 64)
    assert "exactly the same values" in laws.sign_law("init", same)[0]
    smooth = torch.randn(2, 64, 64, generator=gen).cumsum(-1)
    assert "neighbouring values of a row" in laws.sign_law("init", smooth)[0]
    check = laws.independent_draws("a", "b", "init")
    one_d = {"a": torch.randn(5000, generator=gen), "b": torch.randn(5000, generator=gen)}
    assert check(None, one_d, {}) == []
    assert check(None, {"a": one_d["a"], "b": one_d["a"].clone()}, {})
