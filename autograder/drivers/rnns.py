"""Drivers of the recurrent-networks assignment (run in the sandbox and on the reference).

``rnn_cell`` and ``rnn`` build the student's module, check its parameters' names and shapes
(those of nn.RNNCell and nn.RNN, so state dicts load both ways), copy the probe's weights
in, run two calls where the second starts from the first's final state, backpropagate a
weighted sum of every output and return values and gradients (inputs, initial state, every
weight). ``identity_init`` runs the student's ``identity_init_`` on PyTorch's own modules.
``language_model`` trains the student's model and returns its logits on held-out rows.
After the first calls, the same module is called again on the probes ``xr0``, ``xr1``, ...
(with the state ``hr<i>`` when given, other batch sizes and lengths): ``again_*`` outputs.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import backward, device_of, dtype_of, grad_or_zeros, module, need, set_weights
from .runtime import DriverError

CELL_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
RNN_NAMES = tuple(f"{name}_l0" for name in CELL_NAMES)


def _leaf(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().clone().requires_grad_(True)


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
        value = getattr(model, name, None)
        if not isinstance(value, torch.Tensor):
            raise DriverError(
                f"{what} has no tensor attribute `{name}`: name the parameters like PyTorch's "
                f"({', '.join(names)})"
            )
        if tuple(value.shape) != shape:
            raise DriverError(f"{what}.{name} has shape {tuple(value.shape)}, expected {shape}")
        if not isinstance(value, nn.Parameter) or not any(p is value for p in model.parameters()):
            raise DriverError(
                f"{what}.{name} is not registered as a parameter: wrap it in nn.Parameter and "
                f"assign it to self.{name}, so optimizers can find it"
            )
        params.append(value)
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


def _build(ns: dict, name: str, names: tuple, config: dict):
    sizes = (config["input_size"], config["hidden_size"])
    what = f"{name}{sizes}"
    model = module(need(ns, name)(*sizes), what)
    _no_torch_rnn(model, what)
    _parameters(model, names, sizes, what)
    _count(model, sizes, what, "after __init__")
    initial = getattr(model, names[1]).detach().clone()
    model = model.to(device=device_of(config), dtype=dtype_of(config))
    return model, _parameters(model, names, sizes, what), initial, what


def _second_initial(ns: dict, name: str, names: tuple, config: dict) -> dict:
    """The recurrent weight of a second new module: its draws must be new ones."""
    sizes = (config["input_size"], config["hidden_size"])
    value = getattr(need(ns, name)(*sizes), names[1], None)
    return {"_initial_weight_hh_again": value.detach().clone()} if value is not None else {}


def _tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise DriverError(f"{what} returned {type(value).__name__}, expected a tensor")
    return value


def _again(model: nn.Module, inputs: dict, what: str, cell: bool) -> dict:
    """More calls of the same ``model``, in the probe's order, without gradients."""
    result = {}
    index = 0
    while f"xr{index}" in inputs:
        x, h = inputs[f"xr{index}"], inputs.get(f"hr{index}")
        with torch.no_grad():
            value = model(x) if h is None else model(x, h)
        if cell:
            result[f"again_h{index}"] = _tensor(value, f"{what}.forward")
        else:
            out, h_n = _pair(value, f"{what}.forward")
            result |= {f"again_out{index}": out, f"again_h_n{index}": h_n}
        index += 1
    return result


def rnn_cell(ns: dict, inputs: dict, config: dict) -> dict:
    """``h1 = RNNCell(x1[, h0])``, then ``h2 = RNNCell(x2, h1)``: values and gradients."""
    cell, params, initial, what = _build(ns, "RNNCell", CELL_NAMES, config)
    set_weights([(p, inputs[n]) for p, n in zip(params, CELL_NAMES, strict=True)])
    x1, x2 = _leaf(inputs["x1"]), _leaf(inputs["x2"])
    h0 = _leaf(inputs["h0"]) if "h0" in inputs else None
    h1 = _tensor(cell(x1) if h0 is None else cell(x1, h0), f"{what}.forward")
    h2 = _tensor(cell(x2, h1), f"{what}.forward")
    if h1.shape == h2.shape == inputs["grad_h1"].shape:
        backward(torch.stack([h1, h2]), torch.stack([inputs["grad_h1"], inputs["grad_h2"]]))
    result = {"h1": h1, "h2": h2, "grad_x1": grad_or_zeros(x1), "grad_x2": grad_or_zeros(x2)}
    if h0 is not None:
        result["grad_h0"] = grad_or_zeros(h0)
    result |= {f"grad_{n}": grad_or_zeros(p) for n, p in zip(CELL_NAMES, params, strict=True)}
    result |= {k: v.detach().clone() for k, v in result.items()}
    result |= _second_initial(ns, "RNNCell", CELL_NAMES, config)
    return result | {"x1": x1, "_initial_weight_hh": initial} | _again(cell, inputs, what, True)


def _pair(value, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise DriverError(
            f"{what} returned {type(value).__name__}, expected a pair (outputs, h_n) like nn.RNN"
        )
    return _tensor(value[0], f"{what} (outputs)"), _tensor(value[1], f"{what} (h_n)")


def rnn(ns: dict, inputs: dict, config: dict) -> dict:
    """``RNN(x1[, h0])``, and when the probe says so ``RNN(x2, h_n)`` from the first call's
    final state: outputs, final states, and gradients of a weighted sum of all of them."""
    model, params, initial, what = _build(ns, "RNN", RNN_NAMES, config)
    set_weights([(p, inputs[n]) for p, n in zip(params, RNN_NAMES, strict=True)])
    x1 = _leaf(inputs["x1"])
    h0 = _leaf(inputs["h0"]) if "h0" in inputs else None
    out1, hn1 = _pair(model(x1) if h0 is None else model(x1, h0), f"{what}.forward")
    result = {"out1": out1, "h_n1": hn1}
    pieces = [(out1, inputs["grad_out1"]), (hn1, inputs["grad_h_n1"])]
    if "x2" in inputs:
        x2 = _leaf(inputs["x2"])
        out2, hn2 = _pair(model(x2, hn1), f"{what}.forward")
        result |= {"out2": out2, "h_n2": hn2}
        pieces += [(out2, inputs["grad_out2"]), (hn2, inputs["grad_h_n2"])]
    _count(model, (config["input_size"], config["hidden_size"]), what, "after forward")
    if all(value.shape == weight.shape for value, weight in pieces):
        backward(torch.cat([v.flatten() for v, _ in pieces]),
                 torch.cat([w.flatten() for _, w in pieces]))  # fmt: skip
    result["grad_x1"] = grad_or_zeros(x1)
    if "x2" in inputs:
        result["grad_x2"] = grad_or_zeros(x2)
    if h0 is not None:
        result["grad_h0"] = grad_or_zeros(h0)
    result |= {f"grad_{n}": grad_or_zeros(p) for n, p in zip(RNN_NAMES, params, strict=True)}
    result |= {k: v.detach().clone() for k, v in result.items()}
    result |= _second_initial(ns, "RNN", RNN_NAMES, config)
    return result | {"x1": x1, "_initial_weight_hh": initial} | _again(model, inputs, what, False)


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
    result = dict(after)
    return result | {
        "_returns_module": torch.tensor(returned is target),
        "_in_place": torch.tensor(in_place),
        "_requires_grad": torch.tensor(all(p.requires_grad for p in after.values())),
    }


def _logits(value, rows: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """The logits out of the model's forward: a tensor, or the first item of a tuple."""
    if isinstance(value, tuple | list) and value:
        value = value[0]
    value = _tensor(value, "the trained model's forward")
    expected = (*rows.shape, vocab_size)
    if tuple(value.shape) != expected:
        raise DriverError(
            f"the trained model returned logits of shape {tuple(value.shape)} for tokens of "
            f"shape {tuple(rows.shape)}; expected {expected}: (batch, time, vocab_size)"
        )
    return value.float()


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
