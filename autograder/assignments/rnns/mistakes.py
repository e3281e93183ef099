"""The known mistakes of the rnns assignment, each with the hint it earns.

The step's formula is shared by the cell and the loop, so its mistakes are made for both
from edits of the three lines that compute it (:func:`_step_mistakes`). Every patch is an
edit of the reference as a student would write it; those that run on some probes only call
``_only_if`` (:data:`autograder.checks.ONLY_IF`).
"""

from __future__ import annotations

from autograder.checks import ONLY_IF
from autograder.drivers.rnns import CELL_NAMES
from autograder.spec import Mistake

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


def _step(suffix: str, indent: str) -> str:
    """The three lines of the reference that compute a step: the cell's (``suffix`` "") or
    the loop's ("_l0"), each line after the first indented by ``indent``."""
    w_ih, w_hh, b_ih, b_hh = (f"self.{n}{suffix}" for n in CELL_NAMES)
    x, out = ("x", "return ") if not suffix else ("x_t", "h = ")
    return (f"from_input = {x} @ {w_ih}.T + {b_ih}\n{indent}from_hidden = h @ {w_hh}.T + {b_hh}"
            f"\n{indent}{out}torch.tanh(from_input + from_hidden)")  # fmt: skip


def _step_mistakes(name: str, suffix: str, indent: str) -> list[Mistake]:
    """Mistakes in the step's formula, shared by the cell and the loop: edits of the three
    lines that compute it."""
    w_ih, w_hh, b_ih, b_hh = (f"self.{n}{suffix}" for n in CELL_NAMES)
    step = _step(suffix, indent)
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


def _lines(*lines: str) -> str:
    """Lines of the reference's forward (indented 8; a line's own extra indentation kept)."""
    return f"\n{8 * ' '}".join(lines)


# The reference's forward, from the state it starts from to what it returns; and the same
# keeping its final state in an attribute, where the next call without a state starts.
CELL_START = "if h is None:"
CELL_BODY = _lines(
    CELL_START, "    h = x.new_zeros(x.shape[0], self.hidden_size)", _step("", 8 * " ")
)
CELL_KEPT = _edit(
    CELL_BODY,
    (CELL_START, _lines(
        CELL_START,
        '    h = getattr(self, "kept", None)  # the last call\'s final state',
        "    if h is not None and h.shape[0] != x.shape[0]:",
        "        h = None",
        CELL_START)),
    ("return torch.tanh(from_input + from_hidden)", _lines(
        "h = torch.tanh(from_input + from_hidden)", "self.kept = h.detach()", "return h")),
)  # fmt: skip
RNN_START = "h = x.new_zeros(x.shape[1], self.hidden_size) if h0 is None else h0[0]"
RNN_RETURN = "return torch.stack(outputs), h.unsqueeze(0)"
STEP = "            h = torch.tanh(from_input + from_hidden)\n            outputs.append(h)"
RNN_BODY = _lines(RNN_START, "outputs = []", "for x_t in x:  # one time step: (B, I)",
                  f"    {_step('_l0', 12 * ' ')}", "    outputs.append(h)", RNN_RETURN)  # fmt: skip
RNN_KEPT = _edit(
    RNN_BODY,
    (RNN_START, _lines(
        'kept = getattr(self, "kept", None)  # the last call\'s h_n',
        "if h0 is None and kept is not None and kept.shape[1] == x.shape[1]:",
        "    h0 = kept",
        RNN_START)),
    (RNN_RETURN, _lines("self.kept = h.unsqueeze(0).detach()", RNN_RETURN)),
)  # fmt: skip

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
        {"RNNCell": (CELL_BODY, CELL_KEPT)},
    ),  # fmt: skip
]

# The reference reading x as (batch, time, input): runs only where h0 fits that reading.
BATCH_FIRST = _edit(
    RNN_BODY,
    (RNN_START, _lines("_only_if(h0 is None or x.shape[0] == x.shape[1])",
                       RNN_START.replace("x.shape[1]", "x.shape[0]"))),
    ("for x_t in x:", "for x_t in x.transpose(0, 1):"),
    ("torch.stack(outputs)", "torch.stack(outputs, dim=1)"),
)  # fmt: skip
RNN_MISTAKES = [
    Mistake(
        "RNN: state kept between calls",
        KEPT_STATE.format(name="RNN"),
        {"RNN": (RNN_BODY, RNN_KEPT)},
    ),
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
        {"_only_if": ONLY_IF, "RNN": (RNN_BODY, BATCH_FIRST)},
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
