"""Assignment ``rnns``: an RNN cell, the loop over time, identity init, a language model.

The cell and the loop are probed with seeded random weights and inputs (float32 and
float64, a batch of one, a single time step, input size equal to the hidden size or not)
and called twice, the second call starting from the first's final state, so gradients flow
through time and across the calls. Values and gradients (inputs, initial state, every
weight) are compared with the reference solution's and with ``nn.RNNCell`` / ``nn.RNN``
given the same weights (computed in float64 when the probes are made). The first probe of
each has no initial state and, for the loop, more time steps than rows, so that a loop
over the wrong axis runs and is named. In the last probe the same module object is then
called again, five times, with and without an initial state, on other batch sizes and
lengths, and every call is compared with a fresh ``nn.RNNCell`` / ``nn.RNN`` (a call
without a state starts from zeros, whatever came before: state kept between calls is
caught). The language model
is trained in the sandbox on the number-words stream with some blocks of a hundred numbers
held out; its cross-entropy on those blocks is computed here from the logits it returns.
"""

from __future__ import annotations

import torch
from torch import nn

from autograder.checks import (
    ONLY_IF,
    agrees_with,
    cross_entropy_below,
    flag,
    init_scale,
)
from autograder.laws import independent_draws
from autograder.sandbox.pool import Limits
from autograder.spec import Assignment, Case, Mistake, Part

DTYPES = {"float32": torch.float32, "float64": torch.float64}
CELL_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
RNN_NAMES = tuple(f"{name}_l0" for name in CELL_NAMES)

FORBIDDEN_NAMES = [
    "nn.RNN", "nn.RNNCell", "nn.LSTM", "nn.LSTMCell", "nn.GRU", "nn.GRUCell", "nn.RNNBase",
    "nn.RNNCellBase", "torch.rnn_tanh", "torch.rnn_tanh_cell", "torch.rnn_relu",
    "torch.rnn_relu_cell", "_VF.rnn_tanh", "_VF.rnn_tanh_cell", "torch.lstm", "torch.gru",
]  # fmt: skip
# nn.RNN and nn.RNNCell reach aten::rnn_tanh and aten::rnn_tanh_cell, refused before they
# decompose into aten::addmm and aten::tanh (which the student's own code uses too); the
# drivers also refuse PyTorch's RNN modules found inside the student's. The others are the
# fused kernels of other backends (and LSTM/GRU).
FORBIDDEN_OPS = ["aten::rnn_", "aten::_thnn_fused", "aten::_cudnn_rnn", "aten::miopen_rnn",
                 "aten::mkldnn_rnn", "aten::lstm", "aten::gru"]  # fmt: skip

LABELS = {
    "h1": "the state after the first call",
    "h2": "the state after the second call (started from the first's)",
    "out1": "outputs",
    "h_n1": "h_n (the final state, shape (1, B, H) like nn.RNN's)",
    "out2": "outputs of a second call started from the first call's h_n",
    "h_n2": "h_n of a second call started from the first call's h_n",
    "grad_x1": "gradient with respect to x",
    "grad_x2": "gradient with respect to the second call's x",
    "grad_h0": "gradient with respect to the initial state",
    "x1": "x after the call (was it changed in place?)",
}
# Calls of the same module after the first ones: (extra batch rows, extra steps, with a state)
REPEATS = [(0, 0, False), (0, 1, True), (0, 0, False), (2, 1, False), (0, 0, False)]
for _i, (_rows, _steps, _state) in enumerate(REPEATS):
    _how = "from the given state" if _state else "without a state: must start from zeros"
    _which = f"call {_i + 3} of the same module ({_how}, as nn.RNN does, whatever came before)"
    LABELS |= {
        f"again_out{_i}": f"outputs of {_which}",
        f"again_h_n{_i}": f"h_n of {_which}",
        f"again_h{_i}": f"the state returned by {_which}",
    }  # fmt: skip | {f"grad_{n}": f"gradient of {n}" for n in CELL_NAMES + RNN_NAMES}


def _randn(gen: torch.Generator, *shape, dtype="float32", scale=1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=DTYPES[dtype]) * scale


def _weights(gen: torch.Generator, names, input_size, hidden_size, dtype) -> dict:
    scale = hidden_size**-0.5  # about PyTorch's scale: the tanh is not saturated
    shapes = [(hidden_size, input_size), (hidden_size, hidden_size), (hidden_size,),
              (hidden_size,)]  # fmt: skip
    return {
        n: _randn(gen, *s, dtype=dtype, scale=scale) for n, s in zip(names, shapes, strict=True)
    }


def _backprop(outputs: dict, gen: torch.Generator, dtype: str, leaves: dict) -> tuple:
    """Weights for every output (drawn in ``dtype``), and the gradients of the weighted sum
    with respect to ``leaves`` (float64), cast to ``dtype``."""
    weights = {k: _randn(gen, *v.shape, dtype=dtype) for k, v in outputs.items()}
    loss = sum((v * weights[k].double()).sum() for k, v in outputs.items())
    grads = torch.autograd.grad(loss, list(leaves.values()))
    truth = {k: v.detach() for k, v in outputs.items()}
    truth |= {f"grad_{k}": g for k, g in zip(leaves, grads, strict=True)}
    return {k: v.to(DTYPES[dtype]) for k, v in truth.items()}, weights


def cell_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for input_size, hidden_size, batch, with_h0, dtype in [
        (4, 4, 3, False, "float32"),  # input size = hidden size: swapped weights still run
        (3, 5, 2, True, "float64"),
        (6, 2, 1, True, "float32"),  # a batch of one
        (32, 64, 2, False, "float32"),  # 4096 initial weight_hh values to check
        (5, 6, 3, True, "float64"),  # then called again: see _repeat_calls
    ]:
        weights = _weights(gen, CELL_NAMES, input_size, hidden_size, dtype)
        inputs = weights | {"x1": _randn(gen, batch, input_size, dtype=dtype),
                            "x2": _randn(gen, batch, input_size, dtype=dtype)}  # fmt: skip
        if with_h0:
            inputs["h0"] = _randn(gen, batch, hidden_size, dtype=dtype)
        torch_cell = nn.RNNCell(input_size, hidden_size).double()
        with torch.no_grad():
            for name in CELL_NAMES:
                getattr(torch_cell, name).copy_(weights[name])
        leaves = {k: v.double().requires_grad_(True) for k, v in inputs.items()}
        h1 = torch_cell(leaves["x1"], leaves.get("h0"))
        h2 = torch_cell(leaves["x2"], h1)
        params = {n: getattr(torch_cell, n) for n in CELL_NAMES}
        wrt = {k: leaves[k] for k in ("x1", "x2", "h0") if k in leaves} | params
        truth, grads = _backprop({"h1": h1, "h2": h2}, gen, dtype, wrt)
        config = {"input_size": input_size, "hidden_size": hidden_size, "dtype": dtype}
        inputs |= {"grad_h1": grads["h1"], "grad_h2": grads["h2"]}
        cases.append(Case(config, inputs, {"truth": truth}))
    return _repeat_calls(cases, gen, "cell")


def _repeat_calls(cases: list[Case], gen: torch.Generator, kind: str) -> list[Case]:
    """Add the probes of ``REPEATS`` to the last case (a probe of its own, so a mistake
    shown by the first ones is named there), with their truth from a fresh PyTorch module."""
    names = CELL_NAMES if kind == "cell" else RNN_NAMES
    for case in cases[-1:]:
        c, x1 = case.config, case.inputs["x1"]
        dtype, sizes = c["dtype"], (c["input_size"], c["hidden_size"])
        torch_module = (nn.RNNCell(*sizes) if kind == "cell" else nn.RNN(*sizes)).double()
        with torch.no_grad():
            for name in names:
                getattr(torch_module, name).copy_(case.inputs[name])
        for i, (rows, steps, state) in enumerate(REPEATS):
            batch = x1.shape[-2] + rows
            shape = (batch, sizes[0]) if kind == "cell" else (x1.shape[0] + steps, batch, sizes[0])
            x = case.inputs[f"xr{i}"] = _randn(gen, *shape, dtype=dtype)
            h = None
            if state:
                h_shape = (batch, sizes[1]) if kind == "cell" else (1, batch, sizes[1])
                h = case.inputs[f"hr{i}"] = _randn(gen, *h_shape, dtype=dtype)
            with torch.no_grad():
                out = torch_module(x.double(), None if h is None else h.double())
            if kind == "cell":
                case.secret["truth"][f"again_h{i}"] = out.to(DTYPES[dtype])
            else:
                case.secret["truth"][f"again_out{i}"] = out[0].to(DTYPES[dtype])
                case.secret["truth"][f"again_h_n{i}"] = out[1].to(DTYPES[dtype])
    return cases


def rnn_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for input_size, hidden_size, steps, batch, with_h0, twice, dtype in [
        (3, 4, 5, 2, False, False, "float32"),  # steps != batch, no h0: see the docstring
        (4, 4, 3, 3, True, True, "float64"),
        (2, 5, 1, 1, True, True, "float32"),  # one step, a batch of one
        (6, 3, 7, 4, False, True, "float64"),
        (16, 64, 2, 2, False, False, "float32"),  # 4096 initial weight_hh values to check
        (4, 5, 3, 2, False, True, "float64"),  # then called again: see _repeat_calls
    ]:
        weights = _weights(gen, RNN_NAMES, input_size, hidden_size, dtype)
        inputs = weights | {"x1": _randn(gen, steps, batch, input_size, dtype=dtype)}
        if with_h0:
            inputs["h0"] = _randn(gen, 1, batch, hidden_size, dtype=dtype)
        if twice:
            inputs["x2"] = _randn(gen, steps + 1, batch, input_size, dtype=dtype)
        torch_rnn = nn.RNN(input_size, hidden_size).double()
        with torch.no_grad():
            for name in RNN_NAMES:
                getattr(torch_rnn, name).copy_(weights[name])
        leaves = {k: v.double().requires_grad_(True) for k, v in inputs.items()}
        out1, h_n1 = torch_rnn(leaves["x1"], leaves.get("h0"))
        outputs = {"out1": out1, "h_n1": h_n1}
        if twice:
            outputs["out2"], outputs["h_n2"] = torch_rnn(leaves["x2"], h_n1)
        params = {n: getattr(torch_rnn, n) for n in RNN_NAMES}
        wrt = {k: leaves[k] for k in ("x1", "x2", "h0") if k in leaves} | params
        truth, grads = _backprop(outputs, gen, dtype, wrt)
        config = {"input_size": input_size, "hidden_size": hidden_size, "dtype": dtype}
        inputs |= {f"grad_{k}": v for k, v in grads.items()}
        cases.append(Case(config, inputs, {"truth": truth}))
    return _repeat_calls(cases, gen, "rnn")


def identity_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for kind, layers, input_size, hidden_size, dtype in [
        ("rnn", 1, 3, 4, "float32"),
        ("rnn", 2, 2, 5, "float64"),  # weight_hh_l0 and weight_hh_l1
        ("cell", 1, 3, 3, "float32"),  # weight_hh
    ]:
        if kind == "cell":
            shapes = dict(nn.RNNCell(input_size, hidden_size).named_parameters())
        else:
            shapes = dict(nn.RNN(input_size, hidden_size, num_layers=layers).named_parameters())
        inputs = {n: _randn(gen, *p.shape, dtype=dtype) for n, p in shapes.items()}
        config = {"kind": kind, "layers": layers, "input_size": input_size,
                  "hidden_size": hidden_size, "dtype": dtype}  # fmt: skip
        cases.append(Case(config, inputs))
    return cases


def _held_out_data(gen: torch.Generator):
    """The number-words stream without eight random blocks of a hundred numbers, and rows of
    65 tokens cut from those blocks."""
    from dlf.data import Vocab, number_stream, number_words

    vocab = Vocab(number_stream())
    blocks = sorted((torch.randperm(99, generator=gen)[:8] + 1).tolist())
    words: list[str] = []
    for n in range(1, 10_001):
        if n // 100 not in blocks:
            words += ["."] * bool(words) + number_words(n).split()
    rows = []
    for block in blocks:
        stream = vocab.encode(number_stream(100 * block, min(100 * block + 99, 10_000)))
        rows.append(stream[: len(stream) // 65 * 65].view(-1, 65))
    return vocab, vocab.encode(words), torch.cat(rows)


def language_model_cases(gen: torch.Generator) -> list[Case]:
    vocab, tokens, rows = _held_out_data(gen)
    inputs = {"tokens": tokens, "valid": rows[:, :-1].contiguous()}
    return [Case({"vocab_size": len(vocab), "seed": 0}, inputs, {"targets": rows[:, 1:]})]


# ----------------------------------------------------------------------------- mistakes
TWICE_BIAS = (
    "a bias is added twice: the step is tanh(x W_ih^T + b_ih + h W_hh^T + b_hh), each bias once"
)
NOT_TRANSPOSED = (
    "a weight is used without transposing it: the step multiplies by weight_ih.T and "
    "weight_hh.T (weight_hh[j, k] connects unit k of the previous state to unit j of the "
    "new one, as in nn.Linear)"
)


def _edit(text: str, *replacements: tuple[str, str]) -> str:
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text


def _step_mistakes(name: str, suffix: str, indent: str) -> list[Mistake]:
    """Mistakes in the step's formula, shared by the cell and the loop: edits of the three
    lines that compute it."""
    w_ih, w_hh, b_ih, b_hh = (f"self.{n}{suffix}" for n in CELL_NAMES)
    x, out = ("x", "return ") if not suffix else ("x_t", "h = ")
    step = (f"from_input = {x} @ {w_ih}.T + {b_ih}\n{indent}from_hidden = h @ {w_hh}.T + {b_hh}"
            f"\n{indent}{out}torch.tanh(from_input + from_hidden)")  # fmt: skip
    square = f"_only_if({w_ih}.shape[0] == {w_ih}.shape[1]) is None"

    def mistake(what: str, hint: str, *edits: tuple[str, str], guarded=False) -> Mistake:
        patch = {name: (step, _edit(step, *edits))}
        return Mistake(f"{name}: {what}", f"{name}: {hint}",
                       patch | ({"_only_if": ONLY_IF} if guarded else {}))  # fmt: skip

    both = "the step adds both biases, b_ih and b_hh"
    return [
        mistake("missing tanh", "the tanh is missing: the new state is "
                "tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)", ("torch.tanh(", "(")),
        mistake("relu", "uses ReLU; nn.RNN's (default) nonlinearity is tanh",
                ("torch.tanh(", "torch.relu(")),
        mistake("bias_hh twice", TWICE_BIAS, (f"+ {b_hh}", f"+ 2 * {b_hh}")),
        mistake("bias_ih twice", TWICE_BIAS, (f"+ {b_ih}", f"+ 2 * {b_ih}")),
        mistake("bias_hh missing", f"bias_hh is missing: {both}", (f" + {b_hh}", "")),
        mistake("bias_ih missing", f"bias_ih is missing: {both}", (f" + {b_ih}", "")),
        mistake("weight_hh not transposed", NOT_TRANSPOSED, (f"{w_hh}.T", w_hh)),
        mistake("weight_ih not transposed", NOT_TRANSPOSED,
                (f"{w_ih}.T", f"({w_ih} if {square} else None)"), guarded=True),
        mistake("weights swapped", "weight_ih and weight_hh are swapped: weight_ih multiplies "
                "the input, weight_hh the previous state",
                (f"{w_ih}.T", "W_IH"), (f"{w_hh}.T", f"({w_ih}.T if {square} else None)"),
                ("W_IH", f"{w_hh}.T"), guarded=True),
    ]  # fmt: skip


KEPT_STATE = (
    "{name}: the state is kept from one call to the next: a call without a state must start "
    "from zeros every time, as nn.{name} does (keep the state a local variable of forward, "
    "not an attribute of the module)"
)
CELL_KEPT = """
class RNNCell(RNNCell):  # the reference, starting from the last call's state when h is None
    def forward(self, x, h=None):
        kept = self.__dict__.get("kept")
        if h is None and kept is not None and kept.shape[0] == x.shape[0]:
            h = kept
        h = super().forward(x, h)
        self.kept = h.detach()
        return h
"""
RNN_KEPT = """
class RNN(RNN):  # the reference, starting from the last call's state when h0 is None
    def forward(self, x, h0=None):
        kept = self.__dict__.get("kept")
        if h0 is None and kept is not None and kept.shape[1] == x.shape[1]:
            h0 = kept
        outputs, h_n = super().forward(x, h0)
        self.kept = h_n.detach()
        return outputs, h_n
"""

CELL_MISTAKES = [
    *_step_mistakes("RNNCell", "", " " * 8),
    Mistake(
        "RNNCell: h=None not handled",
        "RNNCell: forward(x) without a state must start from zeros: "
        "h = x.new_zeros(x.shape[0], hidden_size)",
        {"RNNCell": ("if h is None:", "if False:")},
    ),
    Mistake(
        "RNNCell: state kept between calls",
        KEPT_STATE.format(name="RNNCell"),
        {"RNNCell": CELL_KEPT},
    ),  # fmt: skip
]

BATCH_FIRST = """
class RNN(RNN):  # the reference, reading x as (batch, time, input)
    def forward(self, x, h0=None):
        _only_if(h0 is None or x.shape[0] == x.shape[1])
        outputs, h_n = super().forward(x.transpose(0, 1), h0)
        return outputs.transpose(0, 1), h_n
"""
STEP = "            h = torch.tanh(from_input + from_hidden)\n            outputs.append(h)"
RNN_MISTAKES = [
    Mistake("RNN: state kept between calls", KEPT_STATE.format(name="RNN"), {"RNN": RNN_KEPT}),
    Mistake(
        "RNN: state reset every step",
        "RNN: the hidden state is reset at every time step: each step must start from the "
        "state the previous step produced (that is the network's memory)",
        {"RNN": ("from_hidden = h @", "from_hidden = torch.zeros_like(h) @")},
    ),
    Mistake(
        "RNN: h0 ignored",
        "RNN: h0 is ignored: start from h0[0] (shape (B, H)) when it is given; only h0=None "
        "means zeros. (A second call fed the first call's h_n must continue the sequence.)",
        {"RNN": (" if h0 is None else h0[0]", "")},
    ),
    *_step_mistakes("RNN", "_l0", " " * 12),
    Mistake(
        "RNN: time and batch swapped",
        "RNN: the time and batch axes are swapped: like nn.RNN, x is (T, B, I), time first, "
        "and outputs is (T, B, H); loop over x[t] for t in range(T)",
        {"_only_if": ONLY_IF, "RNN": BATCH_FIRST},
    ),
    Mistake(
        "RNN: outputs one step late",
        "RNN: outputs[t] must be the state *after* reading x[t] (so outputs[-1] equals h_n[0])",
        {
            "RNN": (
                STEP,
                "            outputs.append(h)\n"
                "            h = torch.tanh(from_input + from_hidden)",
            )
        },
    ),
    Mistake(
        "RNN: h_n without the layer axis",
        "RNN: h_n must have shape (1, B, H), (layers, batch, hidden) like nn.RNN's: h.unsqueeze(0)",
        {"RNN": ("h.unsqueeze(0)", "h")},
    ),
]

IDENTITY_MISTAKES = [
    Mistake(
        "identity_init_: first layer only",
        "identity_init_: only the first layer's recurrent weights are set; set every "
        "parameter whose name starts with weight_hh (nn.RNN(num_layers=2) has weight_hh_l0 "
        "and weight_hh_l1, nn.RNNCell has weight_hh)",
        {
            "identity_init_": (
                'name.startswith("weight_hh")',
                'name in ("weight_hh_l0", "weight_hh")',
            )
        },
    ),  # fmt: skip
    Mistake(
        "identity_init_: input weights too",
        "identity_init_: the input-to-hidden weights are changed too; only the "
        "hidden-to-hidden ones (weight_hh*) become the identity",
        {"identity_init_": ('name.startswith("weight_hh")', 'name.startswith("weight")')},
    ),
]
IDENTITY_LABELS = {
    n: f"{n} after identity_init_"
    for layers in (1, 2)
    for n in dict(nn.RNN(2, 3, num_layers=layers).named_parameters())
} | {n: f"{n} after identity_init_ (on an nn.RNNCell)" for n in CELL_NAMES}


def _hidden_fan_in(case: Case) -> int:
    return case.config["hidden_size"]


def _part(part_id, title, function, cases, mistakes, **extra) -> Part:
    return Part(
        part_id,
        title,
        cases,
        function=function,
        checks=[
            agrees_with(f"nn.{title}", title, LABELS),
            init_scale("_initial_weight_hh", f"{title}'s initial weight_hh", _hidden_fan_in),
            independent_draws(
                "_initial_weight_hh", "_initial_weight_hh_again", f"{title}'s initial weight_hh"
            ),
        ],
        forbidden_names=FORBIDDEN_NAMES,
        forbidden_ops=FORBIDDEN_OPS,
        mistakes=mistakes,
        labels=LABELS,
        **extra,
    )


LANGUAGE_MODEL_HINT = (
    "train longer or with a larger learning rate, carry the (detached) state from batch "
    "to batch, clip the gradients"
)

ASSIGNMENT = Assignment(
    id="rnns",
    chapters=["rnns"],
    summary=(
        "a recurrent cell, the loop that runs it over a sequence, identity "
        "initialisation, and a small language model"
    ),
    parts=[
        _part("rnn_cell", "RNNCell", "rnn_cell", cell_cases, CELL_MISTAKES),
        _part("rnn", "RNN", "rnn", rnn_cases, RNN_MISTAKES),
        Part(
            "identity_init",
            "identity_init_",
            identity_cases,
            checks=[
                flag("_returns_module", "identity_init_: return the module it was given"),
                flag(
                    "_in_place",
                    "identity_init_: the parameters were replaced; change them in place "
                    "(nn.init.eye_(param), or param.copy_(...) under torch.no_grad()), so an "
                    "optimizer already holding them sees the change",
                ),
                flag("_requires_grad", "identity_init_: the parameters must still require grad"),
            ],
            mistakes=IDENTITY_MISTAKES,
            labels=IDENTITY_LABELS,
        ),
        Part(
            "language_model",
            "fit_language_model",
            language_model_cases,
            compare=False,
            reference_outputs=False,
            checks=[cross_entropy_below("logits", 1.7, "fit_language_model", LANGUAGE_MODEL_HINT)],
            limits=Limits(wall=90, cpu=90, threads=1),
            uses_optimizers=True,
        ),
    ],
)
