"""Drivers of the collaborative-filtering assignment (run in the sandbox and on the reference).

Each driver builds the student's object, loads the probe's weights into it, runs it on the
probe's inputs and returns the outputs and gradients, plus copies of the inputs (to catch
in-place changes). The reference's outputs on the same probe are the expected ones.
"""

from __future__ import annotations

import torch

from .common import (
    backward,
    device_of,
    dtype_of,
    grad_or_zeros,
    module,
    need,
    parameter,
    returned_tensor,
    set_weights,
)
from .outputs import produces
from .runtime import DriverError

CHANGED_X = "x after forward (was it changed in place?)"


@produces(recorded=("first", "second", "is_parameter", "requires_grad"))
def create_params(ns: dict, inputs: dict, config: dict) -> dict:
    """Two draws of ``create_params(*size)``: values, and flags for Parameter/requires_grad."""
    make = need(ns, "create_params")
    first, second = make(*config["size"]), make(*config["size"])
    return {
        "first": first,
        "second": second,
        "is_parameter": torch.tensor(isinstance(first, torch.nn.Parameter)),
        "requires_grad": torch.tensor(bool(getattr(first, "requires_grad", False))),
    }


@produces(
    compared={
        "out": "output",
        "grad_weight": "gradient of weight",
        "idx": "the index tensor after forward (was it changed in place?)",
    },
    recorded=("initial",),
)
def embedding(ns: dict, inputs: dict, config: dict) -> dict:
    """``Embedding(n, d)`` with the probe's weight; forward on ``idx``; weight gradient."""
    n, d = config["n"], config["d"]
    layer = module(need(ns, "Embedding")(n, d), f"Embedding({n}, {d})")
    weight = parameter(layer, "weight", (n, d), f"Embedding({n}, {d})")
    initial = weight.detach().clone()
    layer = layer.to(device=device_of(config), dtype=dtype_of(config))
    weight = layer.weight
    set_weights([(weight, inputs["weight"])])
    idx = inputs["idx"]
    out = returned_tensor(layer(idx), "Embedding.forward")
    backward(out, inputs["grad_out"])
    return {"out": out, "grad_weight": grad_or_zeros(weight), "idx": idx, "initial": initial}


@produces(
    compared={
        "out": "output",
        "grad_x": "gradient with respect to x",
        "x": "x after the call (was it changed in place?)",
    }
)
def sigmoid_range(ns: dict, inputs: dict, config: dict) -> dict:
    """``sigmoid_range(x, low, high)``: values and the gradient with respect to ``x``."""
    x = inputs["x"].requires_grad_(True)
    out = returned_tensor(
        need(ns, "sigmoid_range")(x, config["low"], config["high"]), "sigmoid_range"
    )
    backward(out, inputs["grad_out"])
    return {"out": out, "grad_x": grad_or_zeros(x), "x": x}


def _collab_model(ns: dict, name: str, config: dict, biases: bool):
    n_users, n_items, k = config["n_users"], config["n_items"], config["n_factors"]
    args = (n_users, n_items, k) if not biases else (n_users, n_items, k, config.get("y_range"))
    what = f"{name}{args}"
    model = module(need(ns, name)(*args), what)
    shapes = {"user_factors": (n_users, k), "item_factors": (n_items, k)}
    if biases:
        shapes |= {"user_bias": (n_users, 1), "item_bias": (n_items, 1)}
    for attribute in shapes:
        module(getattr(model, attribute, None), f"{what}.{attribute}")
    model = model.to(device=device_of(config), dtype=dtype_of(config))
    params = {
        a: parameter(getattr(model, a), "weight", s, f"{what}.{a}") for a, s in shapes.items()
    }
    return model, params


def _run_model(ns: dict, inputs: dict, config: dict, name: str, biases: bool) -> dict:
    model, params = _collab_model(ns, name, config, biases)
    set_weights([(p, inputs[a]) for a, p in params.items()])
    x = inputs["x"]
    out = returned_tensor(model(x), f"{name}.forward")
    backward(out, inputs["grad_out"])
    result = {"out": out, "x": x}
    result |= {f"grad_{a}": grad_or_zeros(p) for a, p in params.items()}
    return result


FACTOR_GRADIENTS = {
    "grad_user_factors": "gradient of user_factors.weight",
    "grad_item_factors": "gradient of item_factors.weight",
}


@produces(compared={"out": "predictions", "x": CHANGED_X} | FACTOR_GRADIENTS)
def dot_product(ns: dict, inputs: dict, config: dict) -> dict:
    """``DotProduct`` with the probe's factors: predictions (B,) and factor gradients."""
    return _run_model(ns, inputs, config, "DotProduct", biases=False)


@produces(
    compared={"out": "predictions", "x": CHANGED_X}
    | FACTOR_GRADIENTS
    | {
        "grad_user_bias": "gradient of user_bias.weight",
        "grad_item_bias": "gradient of item_bias.weight",
    }
)
def embedding_dot_bias(ns: dict, inputs: dict, config: dict) -> dict:
    """``EmbeddingDotBias`` with the probe's factors and biases, with or without y_range."""
    return _run_model(ns, inputs, config, "EmbeddingDotBias", biases=True)


@produces(recorded=("pred",))
def train(ns: dict, inputs: dict, config: dict) -> dict:
    """Run the student's ``fit_collab`` on the training ratings; predict the validation pairs."""
    fit = need(ns, "fit_collab")
    model = fit(
        inputs["users"], inputs["items"], inputs["ratings"], config["n_users"], config["n_items"]
    )
    model = module(model, "fit_collab(...)")
    model.eval()
    pairs = inputs["valid_pairs"]
    with torch.no_grad():
        predictions = [model(pairs[i : i + 4096]) for i in range(0, len(pairs), 4096)]
    for p in predictions:
        if not isinstance(p, torch.Tensor):
            raise DriverError("the trained model's forward did not return a tensor")
    pred = torch.cat([p.reshape(-1).float() for p in predictions])
    if pred.shape[0] != pairs.shape[0]:
        raise DriverError(
            f"the model returned {pred.shape[0]} predictions for {pairs.shape[0]} pairs: "
            "forward should return one rating per row, shape (B,)"
        )
    return {"pred": pred}
