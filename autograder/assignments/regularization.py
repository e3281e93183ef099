"""Assignment ``regularization``: inverted dropout (a function and a module) and Kaiming init.

Random draws can't be compared value by value, so the deterministic behaviour is compared
with the reference (identity when not training and at p = 0, zeros at p = 1, the input left
unchanged) and the draws are checked statistically and structurally: the dropped fraction,
the exact scale of the kept elements, the gradient, the independence of the mask across
elements and across calls, the spread and shape of the initial weights. Every band is about
seven standard errors wide, so a correct implementation fails with negligible probability;
each failure message names what is wrong.

The law of the draws, not only their mean, is tested on ``LAW_CALLS`` calls on one small
input (for the module, calls of one object, with calls on another batch size and in
evaluation mode in between): the spread of the dropped count across calls against its
binomial value, each element's count across calls, the agreement of neighbouring elements,
rows and consecutive calls, and no mask drawn twice (:mod:`autograder.laws`:
every tail is cut at 1e-9, so a correct submission fails a probe's law with probability
below 2e-8 and a part's five probes below 1e-7; two of 300 independent masks of 256
elements coincide with probability below 1e-17 at the probes' p).

PyTorch: the deterministic outputs of both dropout parts are also held to PyTorch's own
``F.dropout`` and ``nn.Dropout`` (the same drivers run on them: same signatures, same
ValueError for p outside [0, 1]); their draws can't be compared value by value (no two
implementations draw the same mask), only by the laws above. Kaiming initialisation has no
``pytorch=``: everything it returns is a random draw or a flag, so nothing can be compared
value by value with ``nn.init.kaiming_normal_``; the expected spread is its documented
sqrt(2 / fan_in).
"""

from __future__ import annotations

import math

import torch

from autograder.checks import flag, normal_draw
from autograder.compare import widened
from autograder.drivers import regularization as driver
from autograder.drivers.outputs import Outputs
from autograder.laws import decision_law, independent_draws
from autograder.probes import DTYPES, randn
from autograder.spec import Assignment, Case, Part, PyTorch

BANDS = 7.0  # standard errors
LAW_CALLS = 300  # calls on one input whose decisions are tested against the law
# Four dimensions: a mask shared along any of them (rows, channels, positions) shows in the
# spread of the count across calls.
LAW_SHAPE, OTHER_SHAPE = (2, 4, 4, 8), (3, 4, 4, 8)
SCALE_RTOL = {torch.float32: 1e-6, torch.float64: 1e-12}  # a few units in the last place
DROPOUT_FORBIDDEN = ["F.dropout", "functional.dropout", "torch.dropout", "nn.Dropout",
                     "nn.Dropout1d", "nn.Dropout2d", "nn.Dropout3d", "F.dropout1d",
                     "F.dropout2d", "F.dropout3d", "functional.dropout2d", "torch.feature_dropout",
                     "torch.native_dropout", "_VF.dropout"]  # fmt: skip
INIT_FORBIDDEN = ["init.kaiming_normal_", "init.kaiming_uniform_", "init.kaiming_normal",
                  "init._calculate_fan_in_and_fan_out", "init._calculate_correct_fan",
                  "init.trunc_normal_", "init.xavier_normal_"]  # fmt: skip


# ----------------------------------------------------------------- dropout probes
def dropout_cases(gen: torch.Generator) -> list[Case]:
    """Inputs without zeros (a zero in the output means "dropped"), in several shapes."""
    cases = []
    for index, (shape, p, dtype) in enumerate([((64, 48), 0.5, "float32"),
                                               ((30, 20, 8), 0.2, "float64"),
                                               ((50, 60), 0.8, "float32"),
                                               ((4000,), 0.3, "float64"),
                                               ((2, 3, 16, 16), 0.1, "float32")]):  # fmt: skip
        x = randn(gen, *shape, dtype="float64")
        x = x + 0.1 * torch.sign(x)  # |x| >= 0.1
        config = {"p": p, "dtype": dtype, "seed": 100 + index, "law_calls": LAW_CALLS}
        cases.append(Case(config, {"x": x.to(DTYPES[dtype])}))
    for case in cases:  # drawn after the others: the first probes stay what they were
        for key, shape in (("x_law", LAW_SHAPE), ("x_other", OTHER_SHAPE)):
            x = randn(gen, *shape, dtype="float64")
            case.inputs[key] = (x + 0.1 * torch.sign(x)).to(DTYPES[case.config["dtype"]])
    return cases


def _band(rate: float, n: int) -> float:
    return BANDS * math.sqrt(max(rate * (1 - rate), 1e-12) / max(n, 1)) + 1e-9


def _random_output(what: str, got: dict, key: str, x: torch.Tensor) -> torch.Tensor | str:
    value = got.get(key)
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(x.shape):
        return f"{what}: no output of x's shape came back"
    if value.dtype != x.dtype:
        return f"{what}: dtype {value.dtype}, expected {x.dtype} (the dtype of x)"
    return value


def _dropped_fraction(what: str, p: float, outs: list[torch.Tensor]) -> list[str]:
    dropped = torch.cat([(o == 0).reshape(-1) for o in outs]).double()
    n, rate = dropped.numel(), float(dropped.mean())
    if abs(rate - p) <= _band(p, n):
        return []
    if rate == 0:
        return [f"{what}: nothing was dropped (p = {p}); zero each element with probability p"]
    if abs(rate - (1 - p)) <= _band(1 - p, n):
        return [
            f"{what}: {rate:.3f} of the elements were dropped, about 1 - p: p is the "
            "probability of dropping an element (as in nn.Dropout), not of keeping it"
        ]
    return [f"{what}: {rate:.3f} of the elements were dropped, expected about p = {p}"]


def _kept_scale(
    what: str, p: float, x: torch.Tensor, out: torch.Tensor, device: str = "cpu"
) -> list[str]:
    kept = out != 0
    if not bool(kept.any()):
        return []
    ratio = (out[kept] / x[kept]).double()
    scale = 1 / (1 - p)
    rtol, _ = widened(SCALE_RTOL[x.dtype], 0.0, x.dtype, device)
    if bool(((ratio - scale).abs() <= rtol * scale).all()):
        return []
    typical = float(ratio.median())
    for value, why in [
        (1.0, "they are not scaled: inverted dropout divides the kept elements by 1 - p"),
        (1 - p, "they are multiplied by 1 - p; divide by 1 - p instead"),
        (1 / p, "they are divided by p; divide by 1 - p (the probability of keeping)"),
    ]:
        if abs(typical - value) <= 1e-4 * value and abs(value - scale) > 1e-3:
            return [f"{what}: the kept elements are x times {typical:.4g}, not 1/(1 - p) = "
                    f"{scale:.4g}: {why}"]  # fmt: skip
    return [
        f"{what}: the kept elements must be exactly x / (1 - p) = x times {scale:.4g}; "
        f"they are x times {float(ratio.min()):.4g} to {float(ratio.max()):.4g}"
    ]


def _agreement(a: torch.Tensor, b: torch.Tensor) -> tuple[float, int]:
    same = (a == b).double()
    return float(same.mean()) if same.numel() else math.nan, same.numel()


def _independence(what: str, p: float, mask: torch.Tensor, other: torch.Tensor) -> list[str]:
    """Neighbouring elements, and the same element in two calls, agree (both kept or both
    dropped) with probability p^2 + (1 - p)^2 when the decisions are independent."""
    expected = p**2 + (1 - p) ** 2
    grid = mask.reshape(mask.shape[0], -1) if mask.dim() > 1 else mask.reshape(1, -1)
    rows_same = grid.shape[0] > 1 and bool((grid == grid[0]).all())
    if rows_same:
        return [
            f"{what}: every row of x gets the same mask; draw a decision for every element "
            "(a mask of x's full shape)"
        ]
    if grid.shape[1] > 1 and bool((grid == grid[:, :1]).all()):
        return [
            f"{what}: whole rows are kept or dropped together; draw a decision for every "
            "element (a mask of x's full shape)"
        ]
    checks = [("neighbouring elements", grid[:, 1:], grid[:, :-1])]
    if grid.shape[0] > 1:
        checks.append(("elements in neighbouring rows", grid[1:], grid[:-1]))
    for where, a, b in checks:
        rate, n = _agreement(a, b)
        if abs(rate - expected) > _band(expected, n):
            return [
                f"{what}: {where} are both kept or both dropped {rate:.3f} of the time, "
                f"expected {expected:.3f} for independent draws: draw every element's decision "
                "independently (torch.rand_like(x) or torch.bernoulli)"
            ]
    if torch.equal(mask, other):
        return [
            f"{what}: two calls dropped exactly the same elements; draw a new mask at every "
            "call (don't reseed the random generator or reuse a stored mask)"
        ]
    rate, n = _agreement(mask, other)
    if abs(rate - expected) > _band(expected, n):
        return [
            f"{what}: two calls agree on {rate:.3f} of the elements, expected {expected:.3f}: "
            "draw a new, independent mask at every call"
        ]
    return []


def _gradient(
    what: str, p: float, out: torch.Tensor, grad: torch.Tensor | None, device: str = "cpu"
) -> list[str]:
    if not isinstance(grad, torch.Tensor) or grad.shape != out.shape:
        return [f"{what}: no gradient of x's shape came back"]
    kept = out != 0
    scale = 1 / (1 - p)
    if bool(kept.any()) and bool((grad == 0).all()):
        return [
            f"{what}: no gradient reaches x; compute the output from x with differentiable "
            "operations (not x.detach(), x.data or torch.no_grad())"
        ]
    if bool((grad[~kept] != 0).any()):
        return [f"{what}: dropped elements must get a zero gradient"]
    tolerance = widened(SCALE_RTOL.get(grad.dtype, 1e-6), 0.0, grad.dtype, device)[0] * scale
    if not bool(((grad[kept].double() - scale).abs() <= tolerance).all()):
        return [
            f"{what}: the gradient of sum(dropout(x)) with respect to x must be 1/(1 - p) = "
            f"{scale:.4g} where an element is kept; it is {float(grad[kept].min()):.4g} to "
            f"{float(grad[kept].max()):.4g}"
        ]
    return []


def _invalid_p(what: str, got: dict, outputs: Outputs) -> list[str]:
    for key, p in ((outputs.raises_low, -0.1), (outputs.raises_high, 1.5)):
        code = got.get(key)
        code = int(code.item()) if isinstance(code, torch.Tensor) and code.numel() == 1 else 0
        if code == 0:
            return [f"{what}: p = {p} was accepted; raise a ValueError when p < 0 or p > 1"]
        if code == 2:
            return [f"{what}: p = {p} raised an error, but not a ValueError; raise ValueError"]
    return []


def dropout_draws(what: str, outputs: Outputs, again_key: str | None = None):
    """The statistical and structural checks of a dropout part (its driver's ``outputs``),
    as one check."""
    draws = (outputs.out1, outputs.out2, outputs.out_grad)

    def check(case: Case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
        x, p = case.inputs["x"], case.config["p"]
        outs = []
        for key in draws:
            value = _random_output(what, got, key, x)
            if isinstance(value, str):
                return [value]
            outs.append(value)
        where = f"{what} with p = {p} on x of shape {tuple(x.shape)}, {case.config['dtype']}"
        problems = _dropped_fraction(where, p, outs)
        problems = problems or _kept_scale(where, p, x, outs[0], device)
        problems = problems or _independence(where, p, outs[0] == 0, outs[1] == 0)
        problems = problems or _gradient(where, p, outs[2], got.get(outputs.grad), device)
        if not problems and again_key:
            again = _random_output(what, got, again_key, x)
            if isinstance(again, str) or not bool((again == 0).any()):
                problems = [f"{what}: after .eval() then .train(), the module must drop again"]
        law = problems or _law(what, case, got, outputs, again_key is not None)
        return law + _invalid_p(what, got, outputs)

    return check


def _law(what: str, case: Case, got: dict, outputs: Outputs, module: bool) -> list[str]:
    """The decisions of many calls (of one module object) against the contract's law."""
    calls, p = case.config.get("law_calls", 0), case.config["p"]
    if not calls:
        return []
    drops = got.get(outputs.law)
    expected = (calls, *case.inputs["x_law"].shape)
    if not isinstance(drops, torch.Tensor) or tuple(drops.shape) != expected:
        return [f"{what}: the repeated calls returned no decisions of shape {expected}"]
    if module:
        what = f"{what}({p}), one module called {calls} times"
        identity = got.get(outputs.law_eval_identity)
        if not (isinstance(identity, torch.Tensor) and bool(identity.item())):
            return [
                f"{what}: switched between .train() and .eval() between calls, it did not "
                "return its input unchanged in evaluation mode every time"
            ]
    else:
        what = f"{what}(x, p={p}), called {calls} times"
    return decision_law(what, p, drops)


# ----------------------------------------------------------------- Kaiming init
def kaiming_cases(gen: torch.Generator) -> list[Case]:
    # No shape with out = 2 * in: there the fan-out's std equals the gainless one.
    shapes = [((256, 96), "float32", True), ((128, 512), "float64", False),
              ((48, 32, 3, 3), "float32", True), ((32, 8, 5, 5), "float64", False),
              ((48, 16, 7), "float32", False)]  # fmt: skip
    return [
        Case({"shape": list(shape), "dtype": dtype, "parameter": parameter, "seed": 200 + i})
        for i, (shape, dtype, parameter) in enumerate(shapes)
    ]


def _fans(shape: tuple) -> tuple[int, int]:
    """Fan-in and fan-out of a weight (out, in, *kernel)."""
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


INIT = driver.kaiming_normal.outputs


def _kaiming_spread(case: Case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
    shape = tuple(case.config["shape"])
    what = f"kaiming_normal_ on a weight of shape {shape}"
    w = got.get(INIT.w)
    if not isinstance(w, torch.Tensor) or tuple(w.shape) != shape:
        return [f"{what}: no weight of that shape came back"]
    if w.dtype != DTYPES[case.config["dtype"]]:
        return [f"{what}: w is now {w.dtype}, expected {case.config['dtype']}: keep its dtype"]
    fan_in, fan_out = _fans(shape)
    std = math.sqrt(2 / fan_in)
    problems = normal_draw(INIT.w, what, std, min_count=1000)(case, got, expected)
    if problems and "standard deviation" in problems[0]:
        sample = float(w.double().std())
        for value, why in [
            (math.sqrt(2 / fan_out), "the fan-out (w.shape[0] * receptive field) is used; "
             "Kaiming's default mode uses the fan-in, w.shape[1] * receptive field"),
            (math.sqrt(1 / fan_in), "the ReLU gain sqrt(2) is missing: std = sqrt(2 / fan_in)"),
            (2 / math.sqrt(fan_in), "the gain is 2; for a ReLU it is sqrt(2): std = "
             "sqrt(2) / sqrt(fan_in)"),
            (2 / fan_in, "the variance 2 / fan_in is used as the standard deviation; take "
             "its square root"),
            (math.sqrt(2 / shape[1]), "the receptive field (the kernel's size) is missing "
             "from the fan-in: fan_in = w.shape[1] * prod(w.shape[2:])"),
        ]:  # fmt: skip
            # (a candidate equal to the right std, e.g. no kernel in a linear weight, is skipped)
            if abs(sample / value - 1) < 0.05 and abs(value / std - 1) > 0.1:
                return [f"{what}: standard deviation {sample:.4g}, expected {std:.4g}: {why}"]
        return problems
    if problems:
        return problems
    values = w.double().flatten()
    within = float((values.abs() < values.std()).double().mean())
    normal_within = math.erf(1 / math.sqrt(2))  # 0.6827
    if abs(within - normal_within) > _band(normal_within, values.numel()):
        return [
            f"{what}: {within:.3f} of the values lie within one standard deviation of 0, "
            f"expected {normal_within:.3f} for a normal distribution: draw from a normal "
            "distribution (not a uniform one)"
        ]
    return []


ASSIGNMENT = Assignment(
    id="regularization",
    chapters=["neural_net", "regularization"],
    summary="inverted dropout (a function and a module) and Kaiming initialisation",
    parts=[
        Part(
            "dropout",
            "dropout",
            dropout_cases,
            pytorch=PyTorch("F.dropout", {"dropout": torch.nn.functional.dropout}),
            checks=[dropout_draws("dropout", driver.dropout.outputs)],
            forbidden_names=DROPOUT_FORBIDDEN,
        ),
        Part(
            "dropout_module",
            "Dropout",
            dropout_cases,
            pytorch=PyTorch("nn.Dropout", {"Dropout": torch.nn.Dropout}),
            checks=[
                dropout_draws(
                    "Dropout",
                    driver.dropout_module.outputs,
                    again_key=driver.dropout_module.outputs.out_train_again,
                )
            ],
            forbidden_names=DROPOUT_FORBIDDEN,
        ),
        Part(
            "kaiming_normal",
            "kaiming_normal_",
            kaiming_cases,
            compare=False,
            checks=[
                flag(
                    INIT.returned_w,
                    "kaiming_normal_ must return w itself (the tensor it filled), as "
                    "torch.nn.init does",
                ),
                flag(
                    INIT.filled,
                    "kaiming_normal_ did not fill w in place: w still holds values it had "
                    "before the call (fill w itself, e.g. with w.normal_(...))",
                ),
                flag(
                    INIT.still_parameter,
                    "kaiming_normal_ turned the nn.Parameter w into something else (fill it "
                    "in place inside torch.no_grad(); don't replace it)",
                ),
                _kaiming_spread,
                independent_draws(INIT.w, INIT.w_again, "kaiming_normal_"),
            ],
            forbidden_names=INIT_FORBIDDEN,
        ),
    ],
)
