"""Assignment ``collab``: embeddings and dot-product models for collaborative filtering.

Probes are seeded random shapes and values (float32 and float64, batches of one, repeated
indices, first and last rows); expected values come from the reference solution, and the
embedding is also held to PyTorch's own ``F.embedding``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from autograder.checks import flag, normal_draw, rmse_below
from autograder.compare import compare_tensor
from autograder.laws import independent_draws
from autograder.sandbox.pool import Limits
from autograder.spec import Assignment, Case, Mistake, Part

DTYPES = {"float32": torch.float32, "float64": torch.float64}
FORBIDDEN = ["nn.Embedding", "functional.embedding", "F.embedding", "torch.embedding",
             "nn.EmbeddingBag", "embedding_bag"]  # fmt: skip
FORBIDDEN_OPS = ["aten::embedding"]
# Probes of a few dozen rows: the reference needs 0.003 to 0.03 s of CPU a part, and even a
# Python loop over every row stays far below this; an endless loop costs half a second.
SMALL_PROBES = Limits(cpu=0.5)


def _randn(gen: torch.Generator, *shape, dtype="float32") -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=DTYPES[dtype])


def _index(gen: torch.Generator, n: int, shape: tuple) -> torch.Tensor:
    """Random indices in [0, n), with the first and last rows and a repeat always present."""
    idx = torch.randint(0, n, shape, generator=gen)
    flat = idx.view(-1)
    if flat.numel() >= 3:
        flat[0], flat[1], flat[2] = 0, n - 1, flat[3 % flat.numel()]
    return idx


def create_params_cases(gen: torch.Generator) -> list[Case]:
    return [Case({"size": [100, 50], "seed": 1}), Case({"size": [5000], "seed": 2}),
            Case({"size": [3, 4, 5], "seed": 3})]  # fmt: skip


def _create_params_shape(case: Case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
    value = got.get("_first")
    size = tuple(case.config["size"])
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != size:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else None
        return [f"create_params{size}: shape {shape}, expected {size}"]
    if torch.equal(value, got.get("_second", value)):
        return ["create_params: two calls returned the same values; draw new ones every call"]
    return []


def embedding_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for n, d, shape, dtype in [(10, 4, (7,), "float32"), (50, 8, (3, 5), "float64"),
                               (20, 3, (2, 3, 4), "float32"), (5, 6, (), "float64"),
                               (64, 16, (1,), "float32")]:  # fmt: skip
        idx = _index(gen, n, shape)
        cases.append(Case({"n": n, "d": d, "dtype": dtype}, {
            "weight": _randn(gen, n, d, dtype=dtype), "idx": idx,
            "grad_out": _randn(gen, *shape, d, dtype=dtype)}))  # fmt: skip
    return cases


def _matches_pytorch(case: Case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
    """Hold the student's lookup to PyTorch's own embedding, not only to our reference."""
    if "out" not in got:
        return []
    truth = F.embedding(case.inputs["idx"], case.inputs["weight"])
    label = "Embedding: output compared with nn.Embedding"
    problem = compare_tensor(label, got["out"], truth, device)
    return [problem] if problem else []


def sigmoid_range_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for shape, low, high, dtype in [((5, 7), 0.0, 5.5, "float32"), ((11,), -2.0, 3.0, "float64"),
                                    ((2, 3, 4), 1.0, 1.5, "float32")]:  # fmt: skip
        x = _randn(gen, *shape, dtype=dtype) * 3
        cases.append(
            Case(
                {"low": low, "high": high, "dtype": dtype},
                {"x": x, "grad_out": _randn(gen, *shape, dtype=dtype)},
            )
        )
    return cases


def model_cases(with_bias: bool):
    shapes = [(12, 9, 5, 16, "float32", None), (10, 10, 3, 8, "float64", [0.0, 5.5]),
              (7, 30, 4, 1, "float32", [1.0, 5.0]), (6, 8, 2, 5, "float64", None)]  # fmt: skip

    def make(gen: torch.Generator) -> list[Case]:
        cases = []
        for n_users, n_items, k, batch, dtype, y_range in shapes:
            config = {"n_users": n_users, "n_items": n_items, "n_factors": k, "dtype": dtype}
            x = torch.stack([_index(gen, n_users, (batch,)), _index(gen, n_items, (batch,))], 1)
            inputs = {"user_factors": _randn(gen, n_users, k, dtype=dtype),
                      "item_factors": _randn(gen, n_items, k, dtype=dtype),
                      "x": x, "grad_out": _randn(gen, batch, dtype=dtype)}  # fmt: skip
            if with_bias:
                config["y_range"] = y_range
                inputs["user_bias"] = _randn(gen, n_users, 1, dtype=dtype)
                inputs["item_bias"] = _randn(gen, n_items, 1, dtype=dtype)
            cases.append(Case(config, inputs))
        return cases

    return make


def train_cases(gen: torch.Generator) -> list[Case]:
    from dlf.data import make_ratings, train_valid_split

    # Not the seed of the notebook's demo: the grader's data is its own.
    data = make_ratings(n_users=400, n_movies=300, n_ratings=24_000, seed=4242)
    train, valid = train_valid_split(data.ratings, valid_frac=0.2, seed=4242)

    def column(frame, name, dtype=None):
        return torch.tensor(frame[name].to_numpy(), dtype=dtype)

    inputs = {
        "users": column(train, "user"),
        "items": column(train, "movie"),
        "ratings": column(train, "rating", torch.float32),
        "valid_pairs": torch.stack([column(valid, "user"), column(valid, "movie")], 1),
    }
    secret = {"targets": column(valid, "rating", torch.float32)}
    return [Case({"n_users": 400, "n_items": 300, "seed": 0}, inputs, secret)]


SIGMOID_MISTAKES = [
    Mistake(
        "scale without offset",
        "sigmoid_range: the result is not shifted by `low`; "
        "it should be sigmoid(x) * (high - low) + low",
        {"sigmoid_range": ("* (high - low) + low", "* (high - low)")},
    ),
    Mistake(
        "wrong scale",
        "sigmoid_range: the sigmoid is scaled by `high` instead of `high - low`",
        {"sigmoid_range": ("* (high - low) + low", "* high + low")},
    ),
    Mistake(
        "offset by high",
        "sigmoid_range: shifted by `high` instead of `low`",
        {"sigmoid_range": ("* (high - low) + low", "* (high - low) + high")},
    ),
    Mistake(
        "no sigmoid",
        "sigmoid_range: the sigmoid is missing (x is scaled directly)",
        {"sigmoid_range": ("torch.sigmoid(x)", "x")},
    ),
]

SWAP = (
    "users = self.user_factors(x[:, 0])\n        items = self.item_factors(x[:, 1])",
    "users = self.user_factors(x[:, 1])\n        items = self.item_factors(x[:, 0])",
)
BIAS_SWAP = ("users, items = x[:, 0], x[:, 1]", "users, items = x[:, 1], x[:, 0]")

ASSIGNMENT = Assignment(
    id="collab",
    chapters=["collab"],
    summary=(
        "parameters, an embedding layer, a dot-product model with biases, and its training function"
    ),
    parts=[
        Part(
            "create_params",
            "create_params",
            create_params_cases,
            limits=SMALL_PROBES,
            compare=False,
            checks=[
                flag(
                    "is_parameter",
                    "create_params: return an nn.Parameter (wrap the "
                    "tensor in nn.Parameter so modules register it)",
                ),
                flag("requires_grad", "create_params: the parameter must require grad"),
                _create_params_shape,
                normal_draw("_first", "create_params", 0.01),
                independent_draws("_first", "_second", "create_params"),
            ],
        ),
        Part(
            "embedding",
            "Embedding",
            embedding_cases,
            limits=SMALL_PROBES,
            checks=[
                normal_draw("_initial", "Embedding's initial weight", 0.01, min_count=300),
                _matches_pytorch,
            ],
            forbidden_names=FORBIDDEN,
            forbidden_ops=FORBIDDEN_OPS,
            labels={
                "out": "output",
                "grad_weight": "gradient of weight",
                "idx": "the index tensor after forward (was it changed in place?)",
            },
        ),
        Part(
            "sigmoid_range",
            "sigmoid_range",
            sigmoid_range_cases,
            limits=SMALL_PROBES,
            mistakes=SIGMOID_MISTAKES,
            labels={
                "out": "output",
                "grad_x": "gradient with respect to x",
                "x": "x after the call (was it changed in place?)",
            },
        ),
        Part(
            "dot_product",
            "DotProduct",
            model_cases(False),
            limits=SMALL_PROBES,
            forbidden_names=FORBIDDEN,
            forbidden_ops=FORBIDDEN_OPS,
            mistakes=[
                Mistake(
                    "swapped",
                    "DotProduct: users and items are swapped: column 0 "
                    "of x holds users, column 1 items",
                    {"DotProduct": SWAP},
                )
            ],
            labels={
                "out": "predictions",
                "x": "x after forward (was it changed in place?)",
                "grad_user_factors": "gradient of user_factors.weight",
                "grad_item_factors": "gradient of item_factors.weight",
            },
        ),
        Part(
            "embedding_dot_bias",
            "EmbeddingDotBias",
            model_cases(True),
            limits=SMALL_PROBES,
            forbidden_names=FORBIDDEN,
            forbidden_ops=FORBIDDEN_OPS,
            mistakes=[
                Mistake(
                    "y_range ignored",
                    "EmbeddingDotBias: y_range is ignored; squash the "
                    "prediction with sigmoid_range when y_range is given",
                    {"EmbeddingDotBias": ("if self.y_range is None:", "if True:")},
                ),
                Mistake(
                    "no user bias",
                    "EmbeddingDotBias: the user bias is missing",
                    {"EmbeddingDotBias": ("+ self.user_bias(users)[:, 0]", "")},
                ),
                Mistake(
                    "no item bias",
                    "EmbeddingDotBias: the item bias is missing",
                    {"EmbeddingDotBias": ("+ self.item_bias(items)[:, 0]", "")},
                ),
                Mistake(
                    "swapped",
                    "EmbeddingDotBias: users and items are swapped: column 0 "
                    "of x holds users, column 1 items",
                    {"EmbeddingDotBias": BIAS_SWAP},
                ),
            ],
            labels={
                "out": "predictions",
                "x": "x after forward (was it changed in place?)",
                "grad_user_factors": "gradient of user_factors.weight",
                "grad_item_factors": "gradient of item_factors.weight",
                "grad_user_bias": "gradient of user_bias.weight",
                "grad_item_bias": "gradient of item_bias.weight",
            },
        ),
        Part(
            "train",
            "fit_collab",
            train_cases,
            compare=False,
            reference_outputs=False,
            checks=[rmse_below("pred", 0.80, "fit_collab")],
            forbidden_names=FORBIDDEN,
            forbidden_ops=FORBIDDEN_OPS,
            limits=Limits(wall=120, cpu=240),  # one thread: workers run side by side
            uses_optimizers=True,
        ),
    ],
)
