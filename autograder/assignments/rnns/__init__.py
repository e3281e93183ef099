"""Assignment ``rnns``: an RNN cell, the loop over time, identity init, a language model.

The cell and the loop are probed with seeded random weights and inputs
(:mod:`autograder.assignments.rnns.probes`) and called twice, the second call starting
from the first's final state, so gradients flow through time and across the calls. Values
and gradients (inputs, initial state, every weight) are compared with the reference
solution's and with ``nn.RNNCell`` / ``nn.RNN``'s: the same driver runs on PyTorch's own
modules, given the same weights (:class:`PyTorchModule`). The first probe of each has no
initial state and, for the loop, more time steps than rows, so that a loop over the wrong
axis runs and is named. In the last probe the same module object is then called again,
five times, with and without an initial state, on other batch sizes and lengths, and
every call is compared with the same calls of one ``nn.RNNCell`` / ``nn.RNN`` object (a
call without a state starts from zeros, whatever came before: state kept between calls is
caught). The language model is trained in the sandbox on the number-words stream with
some blocks of a hundred numbers held out; its cross-entropy on those blocks is computed
here from the logits it returns. Known mistakes: :mod:`autograder.assignments.rnns.mistakes`.
"""

from __future__ import annotations

from functools import partial

from torch import nn

from autograder.assignments.rnns.mistakes import CELL_MISTAKES, IDENTITY_MISTAKES, RNN_MISTAKES
from autograder.assignments.rnns.probes import (
    cell_cases,
    identity_cases,
    language_model_cases,
    rnn_cases,
)
from autograder.checks import cross_entropy_below, flag, init_scale
from autograder.drivers import rnns as driver
from autograder.laws import independent_draws
from autograder.sandbox import Limits
from autograder.spec import Assignment, Case, Part, PyTorch

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


class PyTorchModule(nn.Module):
    """PyTorch's own ``nn.RNNCell`` or ``nn.RNN`` behind the exercise's contract, for the
    trusted run only: its parameters registered here under their own names (the same
    objects, so the driver's weights and ``.to()`` reach it, and their gradients come
    back), and the module itself kept out of ``modules()``, where the driver refuses
    PyTorch's RNN classes inside a student's module."""

    def __init__(self, kind: type[nn.Module], input_size: int, hidden_size: int):
        super().__init__()
        inner = kind(input_size, hidden_size)
        for name, param in inner.named_parameters():
            self.register_parameter(name, param)
        object.__setattr__(self, "inner", inner)  # not a submodule

    def forward(self, *args):
        return self.inner(*args)


def _hidden_fan_in(case: Case) -> int:
    return case.config["hidden_size"]


def _recurrent(part_id: str, title: str, cases, mistakes, kind: type[nn.Module]) -> Part:
    """The cell or the loop: compared with the reference and with PyTorch's ``kind``; its
    initial recurrent weights drawn at a sensible scale, and anew for each module."""
    outputs = getattr(driver, part_id).outputs  # of the part's driver function: its id
    what = f"{title}'s initial weight_hh"
    return Part(
        part_id,
        title,
        cases,
        pytorch=PyTorch(f"nn.{title}", {title: partial(PyTorchModule, kind)}),
        checks=[
            init_scale(outputs.initial_weight_hh, what, _hidden_fan_in),
            independent_draws(outputs.initial_weight_hh, outputs.initial_weight_hh_again, what),
        ],
        forbidden_names=FORBIDDEN_NAMES,
        forbidden_ops=FORBIDDEN_OPS,
        mistakes=mistakes,
    )


LANGUAGE_MODEL_HINT = (
    "train longer or with a larger learning rate, carry the (detached) state from batch "
    "to batch, clip the gradients"
)
IN_PLACE = (
    "identity_init_: the parameters were replaced; change them in place (nn.init.eye_(param), "
    "or param.copy_(...) under torch.no_grad()), so an optimizer already holding them sees "
    "the change"
)
FLAGS = driver.identity_init.outputs  # identity_init_'s flags

ASSIGNMENT = Assignment(
    id="rnns",
    chapters=["rnns"],
    summary=(
        "a recurrent cell, the loop that runs it over a sequence, identity "
        "initialisation, and a small language model"
    ),
    parts=[
        _recurrent("rnn_cell", "RNNCell", cell_cases, CELL_MISTAKES, nn.RNNCell),
        _recurrent("rnn", "RNN", rnn_cases, RNN_MISTAKES, nn.RNN),
        Part(
            "identity_init",
            "identity_init_",
            identity_cases,
            checks=[
                flag(FLAGS.returns_module, "identity_init_: return the module it was given"),
                flag(FLAGS.in_place, IN_PLACE),
                flag(FLAGS.requires_grad, "identity_init_: the parameters must still require grad"),
            ],
            mistakes=IDENTITY_MISTAKES,
        ),
        Part(
            "language_model",
            "fit_language_model",
            language_model_cases,
            compare=False,
            reference_outputs=False,
            checks=[
                cross_entropy_below(
                    driver.language_model.outputs.logits,
                    1.7,
                    "fit_language_model",
                    LANGUAGE_MODEL_HINT,
                )
            ],
            limits=Limits(wall=90, cpu=90, threads=1),
            uses_optimizers=True,
        ),
    ],
)
