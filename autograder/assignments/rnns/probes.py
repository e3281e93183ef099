"""The probes of the rnns assignment, drawn from the part's seeded generator.

The cell and the loop get seeded random weights and inputs (float32 and float64, a batch of
one, a single time step, input size equal to the hidden size or not), weights for the
weighted sum of every output that the driver backpropagates (``grad_<output>``), and, in
the last probe, the further calls of the same module (:data:`REPEATS`). No expected value
is computed here: the grader runs the driver on the reference and on PyTorch's own modules.
"""

from __future__ import annotations

import torch
from torch import nn

from autograder.drivers import rnns as driver
from autograder.drivers.rnns import CELL_NAMES, REPEATS, RNN_NAMES
from autograder.probes import randn
from autograder.spec import Case


def _weights(gen: torch.Generator, names, input_size, hidden_size, dtype) -> dict:
    scale = hidden_size**-0.5  # about PyTorch's scale: the tanh is not saturated
    shapes = [(hidden_size, input_size), (hidden_size, hidden_size), (hidden_size,),
              (hidden_size,)]  # fmt: skip
    return {n: randn(gen, *s, dtype=dtype, scale=scale) for n, s in zip(names, shapes, strict=True)}


def _output_weights(gen: torch.Generator, shapes: dict, dtype: str) -> dict:
    """``grad_<output>``: the weight of each output (by its shape) in the sum whose gradients
    the driver returns."""
    return {f"grad_{k}": randn(gen, *shape, dtype=dtype) for k, shape in shapes.items()}


def cell_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for input_size, hidden_size, batch, with_h0, dtype in [
        (4, 4, 3, False, "float32"),  # input size = hidden size: swapped weights still run
        (3, 5, 2, True, "float64"),
        (6, 2, 1, True, "float32"),  # a batch of one
        (32, 64, 2, False, "float32"),  # 4096 initial weight_hh values to check
        (5, 6, 3, True, "float64"),  # then called again: see _repeat_calls
    ]:
        inputs = _weights(gen, CELL_NAMES, input_size, hidden_size, dtype)
        inputs |= {"x1": randn(gen, batch, input_size, dtype=dtype),
                   "x2": randn(gen, batch, input_size, dtype=dtype)}  # fmt: skip
        if with_h0:
            inputs["h0"] = randn(gen, batch, hidden_size, dtype=dtype)
        state, out = (batch, hidden_size), driver.rnn_cell.outputs
        inputs |= _output_weights(gen, {out.h1: state, out.h2: state}, dtype)
        config = {"input_size": input_size, "hidden_size": hidden_size, "dtype": dtype}
        cases.append(Case(config, inputs))
    return _repeat_calls(cases, gen, "cell")


def rnn_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for input_size, hidden_size, steps, batch, with_h0, twice, dtype in [
        (3, 4, 5, 2, False, False, "float32"),  # steps != batch, no h0: see the spec
        (4, 4, 3, 3, True, True, "float64"),
        (2, 5, 1, 1, True, True, "float32"),  # one step, a batch of one
        (6, 3, 7, 4, False, True, "float64"),
        (16, 64, 2, 2, False, False, "float32"),  # 4096 initial weight_hh values to check
        (4, 5, 3, 2, False, True, "float64"),  # then called again: see _repeat_calls
    ]:
        inputs = _weights(gen, RNN_NAMES, input_size, hidden_size, dtype)
        inputs["x1"] = randn(gen, steps, batch, input_size, dtype=dtype)
        if with_h0:
            inputs["h0"] = randn(gen, 1, batch, hidden_size, dtype=dtype)
        final, out = (1, batch, hidden_size), driver.rnn.outputs
        shapes = {out.out1: (steps, batch, hidden_size), out.h_n1: final}
        if twice:
            inputs["x2"] = randn(gen, steps + 1, batch, input_size, dtype=dtype)
            shapes |= {out.out2: (steps + 1, batch, hidden_size), out.h_n2: final}
        inputs |= _output_weights(gen, shapes, dtype)
        config = {"input_size": input_size, "hidden_size": hidden_size, "dtype": dtype}
        cases.append(Case(config, inputs))
    return _repeat_calls(cases, gen, "rnn")


def _repeat_calls(cases: list[Case], gen: torch.Generator, kind: str) -> list[Case]:
    """Add the probes of ``REPEATS`` to the last case (a probe of its own, so a mistake
    shown by the first ones is named there): ``xr<i>``, and ``hr<i>`` where a state is
    given."""
    case = cases[-1]
    c, x1 = case.config, case.inputs["x1"]
    dtype, (input_size, hidden_size) = c["dtype"], (c["input_size"], c["hidden_size"])
    for i, (rows, steps, state) in enumerate(REPEATS):
        batch = x1.shape[-2] + rows
        time = () if kind == "cell" else (x1.shape[0] + steps,)
        case.inputs[f"xr{i}"] = randn(gen, *time, batch, input_size, dtype=dtype)
        if state:
            layers = () if kind == "cell" else (1,)
            case.inputs[f"hr{i}"] = randn(gen, *layers, batch, hidden_size, dtype=dtype)
    return cases


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
        inputs = {n: randn(gen, *p.shape, dtype=dtype) for n, p in shapes.items()}
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
    """One probe: the training stream, the held-out rows (inputs) and their next tokens
    (targets, kept in the trusted process)."""
    vocab, tokens, rows = _held_out_data(gen)
    inputs = {"tokens": tokens, "valid": rows[:, :-1].contiguous()}
    return [Case({"vocab_size": len(vocab), "seed": 0}, inputs, {"targets": rows[:, 1:]})]
