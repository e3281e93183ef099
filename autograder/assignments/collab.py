"""Assignment ``collab``: embeddings and dot-product models for collaborative filtering.

Probes are seeded random shapes and values (float32 and float64, batches of one, repeated
indices, first and last rows); expected values come from the reference solution, and the
embedding is also held to PyTorch's own ``nn.Embedding`` (the same driver run on it: its
constructor and ``weight`` match the exercise's), values and gradients. PyTorch has no
``sigmoid_range`` and no dot-product models, so those are held to the reference only.
"""

from __future__ import annotations

import torch

from autograder.checks import flag, normal_draw, rmse_below
from autograder.drivers import collab as driver
from autograder.laws import independent_draws
from autograder.probes import index, randn
from autograder.sandbox import Limits
from autograder.spec import Assignment, Case, Mistake, Part, PyTorch

FORBIDDEN = ["nn.Embedding", "functional.embedding", "F.embedding", "torch.embedding",
             "nn.EmbeddingBag", "embedding_bag"]  # fmt: skip
FORBIDDEN_OPS = ["aten::embedding"]
# Probes of a few dozen rows: the reference needs 0.003 to 0.03 s of CPU a part, and even a
# Python loop over every row stays far below this; an endless loop costs half a second.
SMALL_PROBES = Limits(cpu=0.5)
PARAMS = driver.create_params.outputs


def create_params_cases(gen: torch.Generator) -> list[Case]:
    return [Case({"size": [100, 50], "seed": 1}), Case({"size": [5000], "seed": 2}),
            Case({"size": [3, 4, 5], "seed": 3})]  # fmt: skip


def _create_params_shape(case: Case, got: dict, expected: dict, device: str = "cpu") -> list[str]:
    value = got.get(PARAMS.first)
    size = tuple(case.config["size"])
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != size:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else None
        return [f"create_params{size}: shape {shape}, expected {size}"]
    if torch.equal(value, got.get(PARAMS.second, value)):
        return ["create_params: two calls returned the same values; draw new ones every call"]
    return []


def embedding_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for n, d, shape, dtype in [(10, 4, (7,), "float32"), (50, 8, (3, 5), "float64"),
                               (20, 3, (2, 3, 4), "float32"), (5, 6, (), "float64"),
                               (64, 16, (1,), "float32")]:  # fmt: skip
        idx = index(gen, n, shape)
        cases.append(Case({"n": n, "d": d, "dtype": dtype}, {
            "weight": randn(gen, n, d, dtype=dtype), "idx": idx,
            "grad_out": randn(gen, *shape, d, dtype=dtype)}))  # fmt: skip
    return cases


def sigmoid_range_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for shape, low, high, dtype in [((5, 7), 0.0, 5.5, "float32"), ((11,), -2.0, 3.0, "float64"),
                                    ((2, 3, 4), 1.0, 1.5, "float32")]:  # fmt: skip
        x = randn(gen, *shape, dtype=dtype, scale=3)
        cases.append(
            Case(
                {"low": low, "high": high, "dtype": dtype},
                {"x": x, "grad_out": randn(gen, *shape, dtype=dtype)},
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
            x = torch.stack([index(gen, n_users, (batch,)), index(gen, n_items, (batch,))], 1)
            inputs = {"user_factors": randn(gen, n_users, k, dtype=dtype),
                      "item_factors": randn(gen, n_items, k, dtype=dtype),
                      "x": x, "grad_out": randn(gen, batch, dtype=dtype)}  # fmt: skip
            if with_bias:
                config["y_range"] = y_range
                inputs["user_bias"] = randn(gen, n_users, 1, dtype=dtype)
                inputs["item_bias"] = randn(gen, n_items, 1, dtype=dtype)
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
                    PARAMS.is_parameter,
                    "create_params: return an nn.Parameter (wrap the "
                    "tensor in nn.Parameter so modules register it)",
                ),
                flag(PARAMS.requires_grad, "create_params: the parameter must require grad"),
                _create_params_shape,
                normal_draw(PARAMS.first, "create_params", 0.01),
                independent_draws(PARAMS.first, PARAMS.second, "create_params"),
            ],
        ),
        Part(
            "embedding",
            "Embedding",
            embedding_cases,
            limits=SMALL_PROBES,
            pytorch=PyTorch("nn.Embedding", {"Embedding": torch.nn.Embedding}),
            checks=[
                normal_draw(
                    driver.embedding.outputs.initial,
                    "Embedding's initial weight",
                    0.01,
                    min_count=300,
                ),
            ],
            forbidden_names=FORBIDDEN,
            forbidden_ops=FORBIDDEN_OPS,
        ),
        Part(
            "sigmoid_range",
            "sigmoid_range",
            sigmoid_range_cases,
            limits=SMALL_PROBES,
            mistakes=SIGMOID_MISTAKES,
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
        ),
        Part(
            "train",
            "fit_collab",
            train_cases,
            compare=False,
            reference_outputs=False,
            checks=[rmse_below(driver.train.outputs.pred, 0.80, "fit_collab")],
            forbidden_names=FORBIDDEN,
            forbidden_ops=FORBIDDEN_OPS,
            limits=Limits(wall=120, cpu=240),  # one thread: workers run side by side
            uses_optimizers=True,
        ),
    ],
)
