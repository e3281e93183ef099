"""Drivers of the recurrent-networks assignment (run in the sandbox and on the reference).

``rnn_cell`` and ``rnn`` build the student's module, check its parameters' names and shapes
(those of nn.RNNCell and nn.RNN, so state dicts load both ways), copy the probe's weights
in, run two calls where the second starts from the first's final state, backpropagate a
weighted sum of every output and return values and gradients (inputs, initial state, every
weight). After the first calls, the same module is called again on the probes ``xr0``,
``xr1``, ... (with the state ``hr<i>`` when given, other batch sizes and lengths: see
:data:`REPEATS`): ``again_*`` outputs. ``identity_init`` runs the student's
``identity_init_`` on PyTorch's own modules. ``language_model`` trains the student's model
and returns its logits on held-out rows.
"""

from __future__ import annotations

from typing import NamedTuple

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

CELL_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
RNN_NAMES = tuple(f"{name}_l0" for name in CELL_NAMES)
# Calls of the same module after the first two, one per probe ``xr<i>`` the spec draws:
# (extra batch rows, extra time steps, with a state ``hr<i>``).
REPEATS = [(0, 0, False), (0, 1, True), (0, 0, False), (2, 1, False), (0, 0, False)]


def _again_words(cell: bool) -> dict[str, str]:
    """Feedback words for the outputs of the calls in :data:`REPEATS`."""
    words = {}
    for i, (_rows, _steps, state) in enumerate(REPEATS):
        how = "from the given state" if state else "without a state: must start from zeros"
        which = f"call {i + 3} of the same module ({how}, as nn.RNN does, whatever came before)"
        if cell:
            words[f"again_h{i}"] = f"the state returned by {which}"
        else:
            words |= {f"again_out{i}": f"outputs of {which}", f"again_h_n{i}": f"h_n of {which}"}
    return words


def _gradient_words(names: tuple) -> dict[str, str]:
    """Feedback words for the gradients of the inputs, the initial state and ``names``."""
    words = {
        "grad_x1": "gradient with respect to x",
        "grad_x2": "gradient with respect to the second call's x",
        "grad_h0": "gradient with respect to the initial state",
    }
    return words | {f"grad_{n}": f"gradient with respect to {n}" for n in names}


INPUT_WORDS = {"x1": "x after the call (was it changed in place?)"}
INITIAL_DRAWS = ("initial_weight_hh", "initial_weight_hh_again")  # two new modules' weight_hh


def _no_torch_rnn(model: nn.Module, what: str) -> None:
    for sub in model.modules():
        if isinstance(sub, nn.RNNBase | nn.RNNCellBase):
            raise DriverError(
                f"{what} uses PyTorch's {type(sub).__name__} inside: build the recurrence "
                "yourself from matrix products and tanh"
            )


def _parameters(model: nn.Module, names: tuple, sizes: tuple, what: str) -> list:
    """The four parameters by name, checked: registered, and shaped like PyTorch's."""
    input_size, hidden_size = sizes
    shapes = [(hidden_size, input_size), (hidden_size, hidden_size), (hidden_size,),
              (hidden_size,)]  # fmt: skip
    params = []
    for name, shape in zip(names, shapes, strict=True):
        if not isinstance(getattr(model, name, None), torch.Tensor):
            raise DriverError(
                f"{what} has no tensor attribute `{name}`: name the parameters like PyTorch's "
                f"({', '.join(names)})"
            )
        params.append(parameter(model, name, shape, what))
    return params


def _count(model: nn.Module, sizes: tuple, what: str, when: str) -> None:
    """An RNN shares its weights across time: as many parameter values as PyTorch's."""
    input_size, hidden_size = sizes
    expected = hidden_size * (input_size + hidden_size + 2)
    count = sum(p.numel() for p in model.parameters())
    if count != expected:
        raise DriverError(
            f"{what} has {count} parameter values {when}; PyTorch's has {expected} (the four "
            "weights and biases). An RNN applies the same weights at every time step: don't "
            "make a cell or a weight per step (or any other parameter)"
        )


class Built(NamedTuple):
    """The student's module, built and checked, holding the probe's weights."""

    name: str  # RNNCell or RNN
    names: tuple  # its parameters' names (CELL_NAMES or RNN_NAMES)
    model: nn.Module
    params: list  # its parameters, in the order of ``names``
    initial: torch.Tensor  # its weight_hh as __init__ drew it
    what: str  # how feedback names it: RNN(3, 4)


def _build(ns: dict, name: str, names: tuple, config: dict, inputs: dict) -> Built:
    """The student's ``name`` module, checked, on the probe's device and dtype, holding the
    probe's weights."""
    sizes = (config["input_size"], config["hidden_size"])
    what = f"{name}{sizes}"
    model = module(need(ns, name)(*sizes), what)
    _no_torch_rnn(model, what)
    _parameters(model, names, sizes, what)
    _count(model, sizes, what, "after __init__")
    initial = getattr(model, names[1]).detach().clone()
    model = model.to(device=device_of(config), dtype=dtype_of(config))
    params = _parameters(model, names, sizes, what)
    set_weights([(p, inputs[n]) for p, n in zip(params, names, strict=True)])
    return Built(name, names, model, params, initial, what)


def _results(ns: dict, config: dict, inputs: dict, built: Built, values: dict, leaves: dict):
    """What ``rnn_cell`` and ``rnn`` return: ``values`` and the gradients of ``leaves`` (the
    inputs and initial state, None where the probe has none) and of every weight, detached;
    the first call's x (changed in place?); the initial weight_hh of ``built`` and of a
    second new module (its draws must be new ones); the calls of :data:`REPEATS`."""
    result = values | {f"grad_{k}": grad_or_zeros(v) for k, v in leaves.items() if v is not None}
    result |= {
        f"grad_{n}": grad_or_zeros(p) for n, p in zip(built.names, built.params, strict=True)
    }
    result = {k: v.detach().clone() for k, v in result.items()}
    sizes = (config["input_size"], config["hidden_size"])
    second = getattr(need(ns, built.name)(*sizes), built.names[1], None)
    if second is not None:
        result["initial_weight_hh_again"] = second.detach().clone()
    result |= {"x1": leaves["x1"], "initial_weight_hh": built.initial}
    return result | _again(built, inputs)


def _again(built: Built, inputs: dict) -> dict:
    """More calls of the same module, in the probe's order, without gradients."""
    model, what, result = built.model, built.what, {}
    index = 0
    while f"xr{index}" in inputs:
        x, h = inputs[f"xr{index}"], inputs.get(f"hr{index}")
        with torch.no_grad():
            value = model(x) if h is None else model(x, h)
        if built.name == "RNNCell":
            result[f"again_h{index}"] = returned_tensor(value, f"{what}.forward")
        else:
            out, h_n = _pair(value, f"{what}.forward")
            result |= {f"again_out{index}": out, f"again_h_n{index}": h_n}
        index += 1
    return result


@produces(
    compared={
        "h1": "the state after the first call",
        "h2": "the state after the second call (started from the first's)",
        **_gradient_words(CELL_NAMES),
        **INPUT_WORDS,
        **_again_words(cell=True),
    },
    recorded=INITIAL_DRAWS,
)
def rnn_cell(ns: dict, inputs: dict, config: dict) -> dict:
    """``h1 = RNNCell(x1[, h0])``, then ``h2 = RNNCell(x2, h1)``: values and gradients."""
    built = _build(ns, "RNNCell", CELL_NAMES, config, inputs)
    cell, what = built.model, built.what
    x1, x2 = leaf(inputs["x1"]), leaf(inputs["x2"])
    h0 = leaf(inputs["h0"]) if "h0" in inputs else None
    h1 = returned_tensor(cell(x1) if h0 is None else cell(x1, h0), f"{what}.forward")
    h2 = returned_tensor(cell(x2, h1), f"{what}.forward")
    if h1.shape == h2.shape == inputs["grad_h1"].shape:
        backward(torch.stack([h1, h2]), torch.stack([inputs["grad_h1"], inputs["grad_h2"]]))
    leaves = {"x1": x1, "x2": x2, "h0": h0}
    return _results(ns, config, inputs, built, {"h1": h1, "h2": h2}, leaves)


def _pair(value, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise DriverError(
            f"{what} returned {type(value).__name__}, expected a pair (outputs, h_n) like nn.RNN"
        )
    out, h_n = value
    return returned_tensor(out, f"{what} (outputs)"), returned_tensor(h_n, f"{what} (h_n)")


@produces(
    compared={
        "out1": "outputs",
        "h_n1": "h_n (the final state, shape (1, B, H) like nn.RNN's)",
        "out2": "outputs of a second call started from the first call's h_n",
        "h_n2": "h_n of a second call started from the first call's h_n",
        **_gradient_words(RNN_NAMES),
        **INPUT_WORDS,
        **_again_words(cell=False),
    },
    recorded=INITIAL_DRAWS,
)
def rnn(ns: dict, inputs: dict, config: dict) -> dict:
    """``RNN(x1[, h0])``, and when the probe says so ``RNN(x2, h_n)`` from the first call's
    final state: outputs, final states, and gradients of a weighted sum of all of them."""
    built = _build(ns, "RNN", RNN_NAMES, config, inputs)
    model, what = built.model, built.what
    x1 = leaf(inputs["x1"])
    x2 = leaf(inputs["x2"]) if "x2" in inputs else None
    h0 = leaf(inputs["h0"]) if "h0" in inputs else None
    out1, hn1 = _pair(model(x1) if h0 is None else model(x1, h0), f"{what}.forward")
    values = {"out1": out1, "h_n1": hn1}
    if x2 is not None:
        values["out2"], values["h_n2"] = _pair(model(x2, hn1), f"{what}.forward")
    _count(model, (config["input_size"], config["hidden_size"]), what, "after forward")
    pieces = [(value, inputs[f"grad_{k}"]) for k, value in values.items()]
    if all(value.shape == weight.shape for value, weight in pieces):
        backward(torch.cat([v.flatten() for v, _ in pieces]),
                 torch.cat([w.flatten() for _, w in pieces]))  # fmt: skip
    return _results(ns, config, inputs, built, values, {"x1": x1, "x2": x2, "h0": h0})


# Every parameter identity_init_ may meet: nn.RNN's with one or two layers, nn.RNNCell's.
LAYER_NAMES = tuple(f"{name}_l{layer}" for layer in range(2) for name in CELL_NAMES)


@produces(
    compared={n: f"{n} after identity_init_" for n in LAYER_NAMES}
    | {n: f"{n} after identity_init_ (on an nn.RNNCell)" for n in CELL_NAMES},
    recorded=("returns_module", "in_place", "requires_grad"),
)
def identity_init(ns: dict, inputs: dict, config: dict) -> dict:
    """``identity_init_`` on one of PyTorch's modules (nn.RNN with one or two layers, or
    nn.RNNCell) holding the probe's weights: every parameter afterwards, and flags."""
    sizes = (config["input_size"], config["hidden_size"])
    if config["kind"] == "cell":
        target = nn.RNNCell(*sizes)
    else:
        target = nn.RNN(*sizes, num_layers=config["layers"])
    target = target.to(device=device_of(config), dtype=dtype_of(config))
    before = dict(target.named_parameters())
    set_weights([(p, inputs[n]) for n, p in before.items()])
    returned = need(ns, "identity_init_")(target)
    after = dict(target.named_parameters())
    in_place = set(after) == set(before) and all(after[n] is before[n] for n in before)
    return after | {
        "returns_module": torch.tensor(returned is target),
        "in_place": torch.tensor(in_place),
        "requires_grad": torch.tensor(all(p.requires_grad for p in after.values())),
    }


def _logits(value, rows: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """The logits out of the model's forward: a tensor, or the first item of a tuple."""
    if isinstance(value, tuple | list) and value:
        value = value[0]
    value = returned_tensor(value, "the trained model's forward")
    expected = (*rows.shape, vocab_size)
    if tuple(value.shape) != expected:
        raise DriverError(
            f"the trained model returned logits of shape {tuple(value.shape)} for tokens of "
            f"shape {tuple(rows.shape)}; expected {expected}: (batch, time, vocab_size)"
        )
    return value.float()


@produces(recorded=("logits",))
def language_model(ns: dict, inputs: dict, config: dict) -> dict:
    """Train with ``fit_language_model(tokens, vocab_size)``; return the model's logits on
    the held-out rows (the loss is computed in the trusted process). The logits of a prefix
    must not change when later tokens are added: each call starts from a zero state and
    position t sees only tokens up to t."""
    vocab_size = config["vocab_size"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the sandbox; tiny matrices are slower on more threads
    try:
        model = need(ns, "fit_language_model")(inputs["tokens"], vocab_size)
    except RuntimeError as err:
        if "backward through the graph a second time" in str(err):
            raise DriverError(
                "backward went through a previous batch's graph again: "
                "the hidden state carried over from the previous batch still holds that "
                "batch's computation; detach it (h = h.detach()) before the next batch "
                "(truncated backpropagation through time)"
            ) from err
        raise
    finally:
        torch.set_num_threads(threads)
    model = module(model, "fit_language_model(...)")
    model.eval()
    rows = inputs["valid"]
    half = rows.shape[1] // 2
    with torch.no_grad():
        logits = _logits(model(rows), rows, vocab_size)
        prefix = _logits(model(rows[:, :half]), rows[:, :half], vocab_size)
    if not torch.allclose(prefix, logits[:, :half], rtol=1e-3, atol=1e-4):
        raise DriverError(
            f"the trained model's logits for the first {half} tokens of a row change when the "
            "later tokens are given too: each call must start from a zero state (don't keep "
            "the state between calls), and the logits at position t may depend only on "
            "tokens 0..t"
        )
    return {"logits": logits}
