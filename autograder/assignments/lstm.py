"""Assignment ``lstm``: an LSTM cell, the layer that runs it over time, a language model.

The cell and the layer are probed with seeded random weights and inputs (float32 and
float64, a batch of one, a single time step, input size equal to the hidden size or not,
with and without an initial state) and called twice, the second call starting from the
first's final state ``(h, c)``, so gradients flow through time and across the calls.
Values and gradients (inputs, initial state, every weight) are compared with the reference
solution's and with ``nn.LSTMCell`` / ``nn.LSTM`` given the same weights (the same driver,
run on PyTorch's modules). A third call of the same module without a state must start
from zeros. The first probe of the layer has more time steps than rows, so that a loop
over the wrong axis runs and is caught. The language model is trained in the sandbox on
the number-words stream with some blocks of a hundred numbers held out; its accuracy on
those blocks is computed here from the logits it returns.
"""

from __future__ import annotations

import torch
from torch import nn

from autograder.checks import accuracy_at_least
from autograder.drivers import lstm as driver
from autograder.probes import randn
from autograder.sandbox import Limits
from autograder.spec import Assignment, Case, Mistake, Part, PyTorch

FORBIDDEN_NAMES = [
    "nn.LSTM", "nn.LSTMCell", "nn.GRU", "nn.GRUCell", "nn.RNN", "nn.RNNCell", "nn.RNNBase",
    "nn.RNNCellBase", "torch.lstm", "torch.lstm_cell", "_VF.lstm", "_VF.lstm_cell",
    "torch.gru", "torch.gru_cell", "torch.rnn_tanh", "torch.rnn_relu", "torch._VF",
    "torch.quantized_lstm_cell",
]  # fmt: skip
# nn.LSTMCell and nn.LSTM reach aten::lstm_cell and aten::lstm, refused before they
# decompose into the matrix products and sigmoids the student's own code uses; the driver
# also refuses PyTorch's recurrent modules found inside the student's. The others are
# fused kernels of other backends (and the GRU and RNN).
FORBIDDEN_OPS = ["aten::lstm", "aten::gru", "aten::rnn_", "aten::_thnn_fused",
                 "aten::_cudnn_rnn", "aten::miopen_rnn", "aten::mkldnn_rnn",
                 "aten::quantized_lstm", "aten::quantized_gru"]  # fmt: skip


# (input size, hidden size, batch, with an initial state, dtype)
CELL_PROBES = [
    (4, 4, 3, False, "float32"),  # input size = hidden size: mixed-up weights still run
    (3, 5, 2, True, "float64"),
    (6, 2, 1, True, "float32"),  # a batch of one
    (5, 3, 4, True, "float64"),
]
# (input size, hidden size, steps, batch, with an initial state, called twice, dtype)
LOOP_PROBES = [
    (3, 4, 5, 2, False, False, "float32"),  # steps != batch, no state: see the docstring
    (4, 4, 3, 3, True, True, "float64"),
    (2, 5, 1, 1, True, True, "float32"),  # one step, a batch of one
    (6, 3, 7, 4, False, True, "float64"),
]


def _weights(gen: torch.Generator, names: tuple, sizes: tuple, dtype: str) -> dict:
    """The four parameters, at about PyTorch's scale (the gates are not saturated)."""
    shapes = driver.parameter_shapes(sizes)
    scale = sizes[1] ** -0.5
    return {n: randn(gen, *s, dtype=dtype, scale=scale) for n, s in zip(names, shapes, strict=True)}


def _output_weights(gen: torch.Generator, shapes: dict, dtype: str) -> dict:
    """A random weight for every output: the gradients are those of sum(output * weight)."""
    return {f"grad_{k}": randn(gen, *shape, dtype=dtype) for k, shape in shapes.items()}


def cell_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for input_size, hidden_size, batch, with_state, dtype in CELL_PROBES:
        inputs = _weights(gen, driver.WEIGHTS, (input_size, hidden_size), dtype)
        for name in ("x1", "x2", "x3"):
            inputs[name] = randn(gen, batch, input_size, dtype=dtype)
        if with_state:
            inputs["h0"] = randn(gen, batch, hidden_size, dtype=dtype)
            inputs["c0"] = randn(gen, batch, hidden_size, dtype=dtype)
        shapes = dict.fromkeys(("h1", "c1", "h2", "c2"), (batch, hidden_size))
        inputs |= _output_weights(gen, shapes, dtype)
        config = {"input_size": input_size, "hidden_size": hidden_size, "dtype": dtype}
        cases.append(Case(config, inputs))
    return cases


def lstm_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for input_size, hidden_size, steps, batch, with_state, twice, dtype in LOOP_PROBES:
        inputs = _weights(gen, driver.LAYER_WEIGHTS, (input_size, hidden_size), dtype)
        inputs["x1"] = randn(gen, steps, batch, input_size, dtype=dtype)
        inputs["x3"] = randn(gen, steps + 2, batch, input_size, dtype=dtype)
        state_shape = (1, batch, hidden_size)
        if with_state:
            inputs["h0"] = randn(gen, *state_shape, dtype=dtype)
            inputs["c0"] = randn(gen, *state_shape, dtype=dtype)
        shapes = {"out1": (steps, batch, hidden_size), "h_n1": state_shape, "c_n1": state_shape}
        if twice:
            inputs["x2"] = randn(gen, steps + 1, batch, input_size, dtype=dtype)
            shapes |= {"out2": (steps + 1, batch, hidden_size), "h_n2": state_shape,
                       "c_n2": state_shape}  # fmt: skip
        inputs |= _output_weights(gen, shapes, dtype)
        config = {"input_size": input_size, "hidden_size": hidden_size, "dtype": dtype}
        cases.append(Case(config, inputs))
    return cases


def language_model_cases(gen: torch.Generator) -> list[Case]:
    """The number-words stream without six random blocks of a hundred numbers (the
    training stream), and rows of 65 tokens cut from those blocks (64 inputs, then the
    targets are the same rows shifted by one)."""
    from dlf.data import Vocab, number_stream, number_words

    vocab = Vocab(number_stream())
    held_out = sorted((torch.randperm(99, generator=gen)[:6] + 1).tolist())
    kept = [n for n in range(1, 10_001) if n // 100 not in held_out]
    tokens = vocab.encode(" . ".join(number_words(n) for n in kept).split())
    blocks = [vocab.encode(number_stream(100 * b, 100 * b + 99)) for b in held_out]
    rows = torch.cat([b[: len(b) // 65 * 65].view(-1, 65) for b in blocks])
    inputs = {"tokens": tokens, "valid": rows[:, :-1].contiguous()}
    return [Case({"vocab_size": len(vocab), "seed": 0}, inputs, {"targets": rows[:, 1:]})]


# ----------------------------------------------------------------------------- mistakes
def _step_mistakes(name: str, suffix: str) -> list[Mistake]:
    """Mistakes in the step's formulas, the same in the cell and in the layer: each an edit
    of the reference's lines (``suffix`` is ``_l0`` in the layer)."""

    def mistake(what: str, hint: str, old: str, new: str) -> Mistake:
        return Mistake(f"{name}: {what}", f"{name}: {hint}", {name: (old, new)})

    update = "c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)"
    return [
        mistake("gates in the order i, f, o, g",
                "the gates are cut in the wrong order: PyTorch stacks them input, forget, "
                "candidate, output, so i, f, g, o = gates.chunk(4, dim=1)",
                "i, f, g, o = gates.chunk", "i, f, o, g = gates.chunk"),
        mistake("sigmoid on the candidate",
                "the candidate g goes through tanh (values in -1..1: it can lower the cell "
                "too); only i, f and o are gates, through a sigmoid",
                update, update.replace("torch.tanh(g)", "torch.sigmoid(g)")),
        mistake("forget gate missing",
                "the forget gate is missing: the old cell is multiplied by sigmoid(f) "
                "before the new part is added, c = sigmoid(f) * c + sigmoid(i) * tanh(g)",
                update, update.replace("torch.sigmoid(f) * c", "c")),
        mistake("no tanh on the cell",
                "h is sigmoid(o) * tanh(c), the output gate times the squashed new cell: the "
                "tanh of c is missing",
                "h = torch.sigmoid(o) * torch.tanh(c)", "h = torch.sigmoid(o) * c"),
        mistake("bias_hh missing",
                "bias_hh is missing: the gates add both biases, bias_ih and bias_hh, as "
                "PyTorch does (each has its own gradient)",
                f" + self.bias_hh{suffix}", ""),
        mistake("bias_ih missing",
                "bias_ih is missing: the gates add both biases, bias_ih and bias_hh, as "
                "PyTorch does (each has its own gradient)",
                f" + self.bias_ih{suffix}", ""),
    ]  # fmt: skip


CELL_MISTAKES = [
    *_step_mistakes("LSTMCell", ""),
    Mistake(
        "LSTMCell: state returned as (c, h)",
        "LSTMCell: the state is returned as (c, h); PyTorch's order is (h, c), h first",
        {"LSTMCell": ("return h, c", "return c, h")},
    ),
    Mistake(
        "LSTMCell: state=None not handled",
        "LSTMCell: forward(x) without a state must start from zeros: h and c both "
        "x.new_zeros(x.shape[0], hidden_size)",
        {"LSTMCell": ("if state is None:", "if False:")},
    ),
]

FINAL = "(h.unsqueeze(0), c.unsqueeze(0))"
CARRIED = """
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs), (h.unsqueeze(0), c.unsqueeze(0))"""
NOT_CARRIED = """
            c_t = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h_t = torch.sigmoid(o) * torch.tanh(c_t)
            outputs.append(h_t)
        return torch.stack(outputs), (h_t.unsqueeze(0), c_t.unsqueeze(0))"""
TIME_FIRST = """        if state is None:
            h = c = x.new_zeros(x.shape[1], self.hidden_size)
        else:
            h, c = state[0][0], state[1][0]  # drop the layer axis: (B, H)
        outputs = []
        for x_t in x:  # one time step: (B, I)
            gates = x_t @ self.weight_ih_l0.T + self.bias_ih_l0 + h @ self.weight_hh_l0.T + self.bias_hh_l0
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs)"""  # noqa: E501 - the reference's lines
BATCH_FIRST = (
    "        x = x.transpose(0, 1)  # read as (batch, time, input)\n"
    + TIME_FIRST.replace("torch.stack(outputs)", "torch.stack(outputs, dim=1)")
)
LSTM_MISTAKES = [
    *_step_mistakes("LSTM", "_l0"),
    Mistake(
        "LSTM: state not carried from step to step",
        "LSTM: every step starts again from the initial state: each step must start from "
        "the (h, c) the previous step produced (that is the network's memory)",
        {"LSTM": (CARRIED, NOT_CARRIED)},
    ),
    Mistake(
        "LSTM: state returned as (c_n, h_n)",
        "LSTM: the state is returned as (c_n, h_n); PyTorch's order is (h_n, c_n), h first",
        {"LSTM": (FINAL, "(c.unsqueeze(0), h.unsqueeze(0))")},
    ),
    Mistake(
        "LSTM: the initial state ignored",
        "LSTM: the state passed in is ignored: start from (h_0[0], c_0[0]) when it is "
        "given; only state=None means zeros (a second call fed the first call's (h_n, c_n) "
        "must continue the sequence)",
        {"LSTM": ("if state is None:", "if True:")},
    ),
    Mistake(
        "LSTM: time and batch swapped",
        "LSTM: the time and batch axes are swapped: like nn.LSTM, x is (T, B, I), time first, "
        "and outputs is (T, B, H); loop over x[t] for t in range(T)",
        {"LSTM": (TIME_FIRST, BATCH_FIRST)},
    ),
    Mistake(
        "LSTM: h_n and c_n without the layer axis",
        "LSTM: h_n and c_n must have shape (1, B, H), (layers, batch, hidden) like "
        "nn.LSTM's: h.unsqueeze(0)",
        {"LSTM": (FINAL, "(h, c)")},
    ),
]


def _recurrent(part_id: str, title: str, cases, pytorch: type, mistakes: list) -> Part:
    """The cell or the layer: built from scratch, held to PyTorch's module of that name."""
    return Part(
        part_id,
        title,
        cases,
        pytorch=PyTorch(f"nn.{title}", {title: pytorch}),
        forbidden_names=FORBIDDEN_NAMES,
        forbidden_ops=FORBIDDEN_OPS,
        mistakes=mistakes,
    )


ACCURACY_HINT = (
    "train longer or with a larger model, carry the detached state (h, c) from batch to "
    "batch, clip the gradients"
)

LANGUAGE_MODEL_ACCURACY = accuracy_at_least(
    driver.lstm_language_model.outputs.logits, 0.5, "fit_lstm_language_model", ACCURACY_HINT
)

ASSIGNMENT = Assignment(
    id="lstm",
    chapters=["lstm"],
    summary=(
        "an LSTM cell and the layer that runs it over a sequence, matched to nn.LSTMCell "
        "and nn.LSTM, and a language model that must predict the next word"
    ),
    parts=[
        _recurrent("lstm_cell", "LSTMCell", cell_cases, nn.LSTMCell, CELL_MISTAKES),
        _recurrent("lstm", "LSTM", lstm_cases, nn.LSTM, LSTM_MISTAKES),
        Part(
            "lstm_language_model",
            "fit_lstm_language_model",
            language_model_cases,
            compare=False,
            reference_outputs=False,
            checks=[LANGUAGE_MODEL_ACCURACY],
            limits=Limits(wall=150, cpu=90, threads=1),
            uses_optimizers=True,
        ),
    ],
)
