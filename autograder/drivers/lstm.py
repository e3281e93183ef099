"""Drivers of the LSTM assignment (run in the sandbox on the student's definitions, and in
the trusted process on the reference and on PyTorch's ``nn.LSTMCell`` / ``nn.LSTM``).

``lstm_cell`` and ``lstm`` build the module, check its four parameters (PyTorch's names
and shapes, gates stacked i, f, g, o along the first axis), copy the probe's weights in,
make two calls, the second from the first's final state ``(h, c)``, backpropagate a
weighted sum of every output and return the values and the gradients (inputs, initial
state, every weight); then call the same module once more without a state (it must start
from zeros). ``lstm_language_model`` trains the student's model and returns its logits on
held-out rows (the accuracy is computed in the trusted process).
"""

from __future__ import annotations

import torch
from torch import nn

from .common import (
    backward,
    device_of,
    dtype_of,
    grad_or_zeros,
    leaf,
    module,
    need,
    parameter,
    returned_tensor,
    set_weights,
)
from .outputs import produces
from .runtime import DriverError

GATES = "i, f, g, o"
WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
LAYER_WEIGHTS = tuple(f"{name}_l0" for name in WEIGHTS)

_CELL_STATE = {"h1": "h after the first call", "c1": "c after the first call",
               "h2": "h after the second call (started from the first's (h, c))",
               "c2": "c after the second call (started from the first's (h, c))"}  # fmt: skip
_LOOP_STATE = {"out1": "outputs", "h_n1": "h_n (shape (1, B, H) like nn.LSTM's)",
               "c_n1": "c_n (shape (1, B, H) like nn.LSTM's)",
               "out2": "outputs of a second call started from the first call's (h_n, c_n)",
               "h_n2": "h_n of a second call started from the first call's (h_n, c_n)",
               "c_n2": "c_n of a second call started from the first call's (h_n, c_n)"}  # fmt: skip
_INPUT_GRADS = {"grad_x1": "gradient with respect to x",
                "grad_x2": "gradient with respect to the second call's x",
                "grad_h0": "gradient with respect to the initial h",
                "grad_c0": "gradient with respect to the initial c"}  # fmt: skip
_FRESH = "a third call of the same module without a state (must start from zeros)"


def _weight_grads(names: tuple) -> dict[str, str]:
    return {f"grad_{n}": f"gradient of {n}" for n in names}


def parameter_shapes(sizes: tuple) -> list[tuple]:
    """The shapes of weight_ih, weight_hh, bias_ih and bias_hh for (input, hidden) sizes."""
    input_size, hidden_size = sizes
    four = 4 * hidden_size
    return [(four, input_size), (four, hidden_size), (four,), (four,)]


def _no_pytorch_recurrence(model: nn.Module, what: str) -> None:
    """Refuse PyTorch's recurrent modules inside the student's (PyTorch's own module, run
    in the trusted process for the comparison, is the one exception)."""
    exact = type(model) in (nn.LSTMCell, nn.LSTM)
    for sub in model.modules():
        if sub is model and exact:
            continue
        if isinstance(sub, nn.RNNBase | nn.RNNCellBase):
            raise DriverError(
                f"{what} uses PyTorch's {type(sub).__name__}: build the gates yourself from "
                "matrix products, torch.sigmoid and torch.tanh"
            )


def _build(ns: dict, name: str, names: tuple, config: dict):
    """The student's module of ``config``'s sizes, in the probe's dtype, its parameters
    checked (registered, PyTorch's names and shapes, nothing else) and in ``names`` order."""
    sizes = (config["input_size"], config["hidden_size"])
    what = f"{name}{sizes}"
    model = module(need(ns, name)(*sizes), what)
    _no_pytorch_recurrence(model, what)
    model = model.to(device=device_of(config), dtype=dtype_of(config))
    params = [
        parameter(model, n, shape, what)
        for n, shape in zip(names, parameter_shapes(sizes), strict=True)
    ]
    count = sum(p.numel() for p in model.parameters())
    expected = sum(p.numel() for p in params)
    if count != expected:
        raise DriverError(
            f"{what} has {count} parameter values; PyTorch's has {expected} (only "
            f"{', '.join(names)}, each gate's rows stacked in the order {GATES})"
        )
    return model, params, what


def _state(value, what: str, shape: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """``value`` must be a pair of tensors of ``shape``: the state (h, c)."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise DriverError(
            f"{what} returned {type(value).__name__}, expected the state as a pair (h, c)"
        )
    return returned_tensor(value[0], f"{what} (h)", shape), returned_tensor(
        value[1], f"{what} (c)", shape
    )


def _loop_result(value, what: str, out_shape: tuple, state_shape: tuple):
    """``value`` must be ``(outputs, (h_n, c_n))``, as nn.LSTM returns."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise DriverError(
            f"{what} returned {type(value).__name__}, expected (outputs, (h_n, c_n)) like nn.LSTM"
        )
    out = returned_tensor(value[0], f"{what} (outputs)", out_shape)
    return (out, *_state(value[1], f"{what} (its state)", state_shape))


def _initial_state(inputs: dict) -> tuple | None:
    return (leaf(inputs["h0"]), leaf(inputs["c0"])) if "h0" in inputs else None


def _gradients(result: dict, weights: dict, leaves: dict, params: dict) -> dict:
    """Backpropagate sum(output * weight) over every output; the gradients of the leaves
    (inputs, initial state) and of the parameters, under ``grad_<name>``."""
    outs = [result[k].flatten() for k in weights]
    backward(torch.cat(outs), torch.cat([weights[k].flatten() for k in weights]))
    grads = {f"grad_{k}": grad_or_zeros(v) for k, v in (leaves | params).items()}
    return {k: v.detach().clone() for k, v in (result | grads).items()}


CELL_OUTPUTS = _CELL_STATE | _INPUT_GRADS | _weight_grads(WEIGHTS)
CELL_OUTPUTS |= {"fresh_h": f"h of {_FRESH}", "fresh_c": f"c of {_FRESH}"}
LOOP_OUTPUTS = _LOOP_STATE | _INPUT_GRADS | _weight_grads(LAYER_WEIGHTS)
LOOP_OUTPUTS |= {"fresh_out": f"outputs of {_FRESH}", "fresh_h_n": f"h_n of {_FRESH}"}


@produces(compared=CELL_OUTPUTS)
def lstm_cell(ns: dict, inputs: dict, config: dict) -> dict:
    """``(h1, c1) = LSTMCell(x1[, (h0, c0)])``, then ``(h2, c2) = LSTMCell(x2, (h1, c1))``:
    values and gradients; then ``LSTMCell(x3)`` on the same module."""
    cell, params, what = _build(ns, "LSTMCell", WEIGHTS, config)
    set_weights([(p, inputs[n]) for p, n in zip(params, WEIGHTS, strict=True)])
    x1, x2, state = leaf(inputs["x1"]), leaf(inputs["x2"]), _initial_state(inputs)
    shape = (x1.shape[0], config["hidden_size"])
    h1, c1 = _state(cell(x1) if state is None else cell(x1, state), f"{what}.forward", shape)
    h2, c2 = _state(cell(x2, (h1, c1)), f"{what}.forward", shape)
    result = {"h1": h1, "c1": c1, "h2": h2, "c2": c2}
    leaves = {"x1": x1, "x2": x2} | (dict(zip(("h0", "c0"), state, strict=True)) if state else {})
    weights = {k: inputs[f"grad_{k}"] for k in result}
    result = _gradients(result, weights, leaves, dict(zip(WEIGHTS, params, strict=True)))
    with torch.no_grad():
        x3 = inputs["x3"]
        fresh = _state(cell(x3), f"{what}.forward", (x3.shape[0], config["hidden_size"]))
    return result | {"fresh_h": fresh[0], "fresh_c": fresh[1]}


@produces(compared=LOOP_OUTPUTS)
def lstm(ns: dict, inputs: dict, config: dict) -> dict:
    """``LSTM(x1[, (h0, c0)])``, and when the probe says so ``LSTM(x2, (h_n, c_n))`` from
    the first call's final state: outputs, final states and gradients of a weighted sum
    of all of them; then ``LSTM(x3)`` on the same module."""
    model, params, what = _build(ns, "LSTM", LAYER_WEIGHTS, config)
    set_weights([(p, inputs[n]) for p, n in zip(params, LAYER_WEIGHTS, strict=True)])
    hidden = config["hidden_size"]
    x1, state = leaf(inputs["x1"]), _initial_state(inputs)
    steps, batch = x1.shape[:2]
    shapes = ((steps, batch, hidden), (1, batch, hidden))
    value = model(x1) if state is None else model(x1, state)
    out1, h_n1, c_n1 = _loop_result(value, f"{what}.forward", *shapes)
    result = {"out1": out1, "h_n1": h_n1, "c_n1": c_n1}
    leaves = {"x1": x1} | (dict(zip(("h0", "c0"), state, strict=True)) if state else {})
    if "x2" in inputs:
        x2 = leaves["x2"] = leaf(inputs["x2"])
        shapes2 = ((x2.shape[0], batch, hidden), shapes[1])
        out2, h_n2, c_n2 = _loop_result(model(x2, (h_n1, c_n1)), f"{what}.forward", *shapes2)
        result |= {"out2": out2, "h_n2": h_n2, "c_n2": c_n2}
    weights = {k: inputs[f"grad_{k}"] for k in result}
    result = _gradients(result, weights, leaves, dict(zip(LAYER_WEIGHTS, params, strict=True)))
    with torch.no_grad():
        x3 = inputs["x3"]
        shapes3 = ((x3.shape[0], x3.shape[1], hidden), (1, x3.shape[1], hidden))
        fresh = _loop_result(model(x3), f"{what}.forward", *shapes3)
    return result | {"fresh_out": fresh[0], "fresh_h_n": fresh[1]}


def _logits_of(model: nn.Module, rows: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """The logits (B, T, vocab_size) the model gives for the tokens ``rows`` (B, T)."""
    with torch.no_grad():
        value = model(rows)
    value = value[0] if isinstance(value, tuple | list) and value else value
    want = (*rows.shape, vocab_size)
    return returned_tensor(value, "the trained model's forward (logits)", want).float()


@produces(recorded=("logits",))
def lstm_language_model(ns: dict, inputs: dict, config: dict) -> dict:
    """Train with ``fit_lstm_language_model(tokens, vocab_size)`` on one thread; return
    the logits on the held-out rows. A call's logits for a prefix must not depend on the
    tokens after it (no peeking, no state kept from an earlier call)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trained = need(ns, "fit_lstm_language_model")(inputs["tokens"], config["vocab_size"])
    except RuntimeError as err:
        if "a second time" not in str(err):
            raise
        raise DriverError(
            "fit_lstm_language_model: backward ran into the previous batch's graph: the "
            "state (h, c) carried to the next batch must be detached first "
            "(state = tuple(s.detach() for s in state))"
        ) from err
    finally:
        torch.set_num_threads(threads)
    model = module(trained, "fit_lstm_language_model(...)")
    model.eval()
    rows, size = inputs["valid"], config["vocab_size"]
    logits = _logits_of(model, rows, size)
    cut = rows.shape[1] // 3
    early = _logits_of(model, rows[:, :cut], size)
    if not torch.allclose(early, logits[:, :cut], rtol=1e-3, atol=1e-4):
        raise DriverError(
            f"the trained model's logits for the first {cut} tokens of a row change when "
            "more tokens follow them, or from one call to the next: each call must start "
            "from a zero state, and position t may only see the tokens up to t"
        )
    return {"logits": logits}
