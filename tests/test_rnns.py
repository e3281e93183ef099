"""Assignment rnns: the solution scores 100 % (and agrees with nn.RNNCell and nn.RNN), the
release scores 0, each wrong submission loses points on the right part with a message naming
the mistake, and correct submissions written differently get full marks."""

from __future__ import annotations

import pytest
from torch import nn

from autograder import compare
from tests.submissions import (
    append_code,
    check_release_scores_zero,
    check_solution_scores_full_marks,
    check_wrong_variant,
    grade,
    part,
    replace_in_cell,
    set_cell,
    source_notebook,
)

pytestmark = pytest.mark.task("rnns")

FAST = ["rnn_cell", "rnn", "identity_init"]


def test_solution_scores_full_marks(grader, tmp_path):
    check_solution_scores_full_marks(grader, tmp_path, "rnns", 10)


def test_release_scores_zero_with_not_implemented(grader, tmp_path):
    check_release_scores_zero(grader, tmp_path, "rnns")


def test_every_mistake_applies_and_shows_on_some_probe(grader):
    """Each known mistake patches the reference cleanly and, on at least one probe, gives
    other outputs than the reference or raises (matched by the kind of error); names are
    unique (the grader caches the patched namespaces by name)."""
    names = [m.name for p in grader.assignment.parts for m in p.mistakes]
    assert len(names) == len(set(names))
    for p in grader.assignment.parts:
        for mistake in p.mistakes:
            namespace = grader._mistake_namespace(mistake)
            shows = False
            for case, expected in zip(grader.cases(p), grader.expected(p), strict=True):
                try:
                    wrong = grader.run_driver(namespace, p, case)
                except Exception as err:  # noqa: BLE001
                    shows = type(err).__name__ != "MistakeNotApplicable"
                else:
                    shows = not compare.same_outputs(wrong, expected)
                if shows:
                    break
            assert shows, (p.id, mistake.name)


CELL = "rnn_cell-solution"
RNN = "rnn-solution"
IDENTITY = "identity_init-solution"
LM = "language_model-solution"
CELL_STEP = "return torch.tanh(from_input + from_hidden)"
RNN_INIT = "h = x.new_zeros(x.shape[1], self.hidden_size) if h0 is None else h0[0]"
IDENTITY_BODY = """    for name, param in rnn.named_parameters():
        if name.startswith("weight_hh"):
            nn.init.eye_(param)
    return rnn"""

BATCH_FIRST = '''
class RNN(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        bound = 1 / math.sqrt(hidden_size)
        for name, shape in [("weight_ih_l0", (hidden_size, input_size)),
                            ("weight_hh_l0", (hidden_size, hidden_size)),
                            ("bias_ih_l0", (hidden_size,)), ("bias_hh_l0", (hidden_size,))]:
            setattr(self, name, nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))

    def forward(self, x, h0=None):
        """Reads x as (batch, time, input)."""
        h = torch.zeros(x.shape[0], self.hidden_size, dtype=x.dtype) if h0 is None else h0[0]
        outputs = []
        for t in range(x.shape[1]):
            h = torch.tanh(x[:, t] @ self.weight_ih_l0.T + self.bias_ih_l0
                           + h @ self.weight_hh_l0.T + self.bias_hh_l0)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h[None]
'''

CELL_PER_STEP = '''
class RNN(nn.Module):
    """A new cell for every time step: not an RNN."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.sizes = (input_size, hidden_size)
        first = RNNCell(input_size, hidden_size)
        self.weight_ih_l0, self.weight_hh_l0 = first.weight_ih, first.weight_hh
        self.bias_ih_l0, self.bias_hh_l0 = first.bias_ih, first.bias_hh
        self.cells = nn.ModuleList([first])

    def forward(self, x, h0=None):
        h = None if h0 is None else h0[0]
        while len(self.cells) < len(x):
            self.cells.append(RNNCell(*self.sizes).to(x.dtype))
        outputs = []
        for cell, x_t in zip(self.cells, x):
            h = cell(x_t, h)
            outputs.append(h)
        return torch.stack(outputs), h.unsqueeze(0)
'''

STATEFUL = '''
class Stateful(nn.Module):
    """Keeps the state from one call to the next."""

    def __init__(self, model):
        super().__init__()
        self.model, self.state = model, None

    def forward(self, x):
        same_batch = self.state is not None and self.state.shape[1] == len(x)
        logits, self.state = self.model(x, self.state if same_batch else None)
        return logits
'''

PEEKING = '''
class Peeking(nn.Module):
    """Looks at the next token: perfect predictions, and not a language model."""

    def __init__(self, vocab_size):
        super().__init__()
        self.vocab_size = vocab_size
        self.scale = nn.Parameter(torch.tensor(20.0))

    def forward(self, x):
        return F.one_hot(torch.roll(x, -1, dims=1), self.vocab_size).float() * self.scale
'''

WRONG = {
    "cell without tanh": (CELL, CELL_STEP, "return from_input + from_hidden", "rnn_cell",
                          "tanh is missing"),
    "cell bias_hh twice": (CELL, "x @ self.weight_ih.T + self.bias_ih",
                           "x @ self.weight_ih.T + self.bias_ih + self.bias_hh", "rnn_cell",
                           "added twice"),
    "cell h=None not handled": (CELL, "if h is None:", "if False:", "rnn_cell",
                                "start from zeros"),
    "cell weight_hh not transposed": (CELL, "h @ self.weight_hh.T", "h @ self.weight_hh",
                                      "rnn_cell", "without transposing"),
    "cell weights named otherwise": (CELL, "weight_ih", "w_ih", "rnn_cell",
                                     "no tensor attribute `weight_ih`"),
    "cell with unscaled init": (CELL, "torch.empty(*shape).uniform_(-bound, bound)",
                                "torch.randn(*shape)", "rnn_cell", "standard deviation"),
    "cell through torch.rnn_tanh_cell": (
        CELL, CELL_STEP,
        "return torch.rnn_tanh_cell(x, h, *self.parameters())",
        "rnn_cell", "`torch.rnn_tanh_cell`"),
    "state reset every step": (RNN, "from_hidden = h @", "from_hidden = x.new_zeros(h.shape) @",
                               "rnn", "reset at every time step"),
    "h0 ignored": (RNN, "if h0 is None else h0[0]", "if True else h0[0]", "rnn", "h0 is ignored"),
    "rnn without tanh": (RNN, "h = torch.tanh(from_input + from_hidden)",
                         "h = from_input + from_hidden", "rnn", "tanh is missing"),
    "rnn bias_ih twice": (RNN, "from_input = x_t @ self.weight_ih_l0.T + self.bias_ih_l0",
                          "from_input = x_t @ self.weight_ih_l0.T + 2 * self.bias_ih_l0", "rnn",
                          "added twice"),
    "h_n without the layer axis": (RNN, "h.unsqueeze(0)", "h", "rnn", "(1, B, H)"),
    "outputs before the step": (
        RNN, "            h = torch.tanh(from_input + from_hidden)\n            outputs.append(h)",
        "            outputs.append(h)\n            h = torch.tanh(from_input + from_hidden)",
        "rnn", "*after* reading x[t]"),
    "nn.RNN inside": (RNN, "self.hidden_size = hidden_size",
                      "self.hidden_size = hidden_size\n        self.inner = nn.RNN(1, 1)", "rnn",
                      "`nn.RNN`"),
    "PyTorch's RNN through a computed name": (
        RNN, "self.hidden_size = hidden_size",
        'self.hidden_size = hidden_size\n        self.inner = getattr([nn][0], "R" + "NN")(1, 1)',
        "rnn", "uses PyTorch's RNN inside"),  # past the static check (getattr(nn, ...)): the guard
    "identity by replacing the parameter": (
        IDENTITY, "nn.init.eye_(param)",
        "setattr(rnn, name, nn.Parameter(torch.eye(param.shape[0], dtype=param.dtype)))",
        "identity_init", "the parameters were replaced"),
    "identity on the first layer only": (
        IDENTITY, 'if name.startswith("weight_hh"):', 'if name in ("weight_hh", "weight_hh_l0"):',
        "identity_init", "only the first layer"),
    "identity without return": (IDENTITY, "    return rnn\n", "", "identity_init",
                                "return the module"),
    "RNNCell: initial weights seeded in __init__": (
        CELL, "        self.weight_hh = uniform(hidden_size, hidden_size)",
        "        torch.manual_seed(0)\n        self.weight_hh = uniform(hidden_size, hidden_size)",
        "rnn_cell", "hold exactly the same values"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_submission_loses_points_on_the_right_part(grader, tmp_path, name):
    check_wrong_variant(grader, tmp_path, "rnns", name, WRONG[name])


@pytest.mark.parametrize(
    ("name", "source", "phrase"),
    [("batch first", BATCH_FIRST, "time and batch axes are swapped"),
     ("a cell per time step", CELL_PER_STEP, "same weights at every time step")],
)  # fmt: skip
def test_rnn_written_wrongly_from_scratch(grader, tmp_path, name, source, phrase):
    nb = set_cell(source_notebook("rnns"), RNN, source)
    result = grade(grader, tmp_path, nb, only=["rnn"])
    failed = part(result, "rnn")
    assert not failed.passed, result.to_text()
    assert phrase in " ".join(failed.messages), failed.messages


LM_WRONG = {
    "state not detached": ("            h = h.detach()", "            pass", "", "detach it"),
    "untrained": ("range(epochs)", "range(0)", "", "validation loss"),
    "state kept between calls": ("return model\n", "return Stateful(model)\n", STATEFUL,
                                 "zero state"),
    "peeking at the next token": ("return model\n", "return Peeking(vocab_size)\n", PEEKING,
                                  "tokens 0..t"),
    "flattened logits": ("return model\n",
                         "return nn.Sequential(model.embed, model.head, nn.Flatten(0, 1))\n",
                         "", "(batch, time, vocab_size)"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(LM_WRONG))
def test_wrong_language_model_fails_with_a_reason(grader, tmp_path, name):
    old, new, extra, phrase = LM_WRONG[name]
    nb = source_notebook("rnns")
    if name not in ("state not detached", "untrained"):  # no need to train for these
        nb = replace_in_cell(nb, LM, "range(epochs)", "range(0)")
    nb = replace_in_cell(nb, LM, old, new)
    if extra:
        nb = append_code(nb, extra)
    result = grade(grader, tmp_path, nb, only=["language_model"])
    failed = part(result, "language_model")
    assert not failed.passed, result.to_text()
    assert phrase in " ".join(failed.messages), failed.messages


CELL_LINEAR = """
class RNNCell(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.zeros(hidden_size))
        self.bias_hh = nn.Parameter(torch.zeros(hidden_size))
        for weight in (self.weight_ih, self.weight_hh):
            nn.init.xavier_uniform_(weight)

    def forward(self, x, h=None):
        if h is None:
            h = torch.zeros(len(x), len(self.bias_hh), dtype=x.dtype, device=x.device)
        return (F.linear(x, self.weight_ih, self.bias_ih)
                + F.linear(h, self.weight_hh, self.bias_hh)).tanh()
"""

RNN_OF_CELLS = '''
class RNN(nn.Module):
    """A loop over the notebook's own RNNCell, its weights exposed with nn.RNN's names."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.cell = RNNCell(input_size, hidden_size)
        self.weight_ih_l0, self.weight_hh_l0 = self.cell.weight_ih, self.cell.weight_hh
        self.bias_ih_l0, self.bias_hh_l0 = self.cell.bias_ih, self.cell.bias_hh

    def forward(self, x, h0=None):
        h = None if h0 is None else h0.squeeze(0)
        outputs = []
        for t in range(x.shape[0]):
            h = self.cell(x[t], h)
            outputs.append(h)
        return torch.stack(outputs), h.unsqueeze(0)
'''

RNN_PROJECTED = '''
class RNN(nn.Module):
    """The input projection for every step at once, then a loop into a preallocated tensor."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        k = hidden_size ** -0.5
        self.weight_ih_l0 = nn.Parameter(torch.rand(hidden_size, input_size) * 2 * k - k)
        self.weight_hh_l0 = nn.Parameter(torch.rand(hidden_size, hidden_size) * 2 * k - k)
        self.bias_ih_l0 = nn.Parameter(torch.rand(hidden_size) * 2 * k - k)
        self.bias_hh_l0 = nn.Parameter(torch.rand(hidden_size) * 2 * k - k)

    def forward(self, x, h0=None):
        steps, batch, _ = x.shape
        projected = torch.einsum("tbi,hi->tbh", x, self.weight_ih_l0) + self.bias_ih_l0
        h = h0[0] if h0 is not None else projected.new_zeros(batch, len(self.bias_hh_l0))
        outputs = projected.new_empty(steps, batch, len(self.bias_hh_l0))
        for t in range(steps):
            h = torch.tanh(projected[t] + torch.addmm(self.bias_hh_l0, h, self.weight_hh_l0.t()))
            outputs[t] = h
        return outputs, outputs[-1:]
'''

IDENTITY_COPY = """
def identity_init_(rnn):
    with torch.no_grad():
        for name, param in rnn.named_parameters():
            if "weight_hh" in name:
                param.copy_(torch.eye(len(param), dtype=param.dtype, device=param.device))
    return rnn
"""

LM_TORCH_RNN = '''
class TorchLanguageModel(nn.Module):
    """Batch-first nn.RNN (allowed in this part); forward returns the logits only."""

    def __init__(self, vocab_size, n_hidden):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, n_hidden)
        self.rnn = nn.RNN(n_hidden, n_hidden, batch_first=True)
        self.head = nn.Linear(n_hidden, vocab_size)

    def run(self, x, h=None):
        outputs, h = self.rnn(self.embed(x), h)
        return self.head(outputs), h

    def forward(self, x):
        return self.run(x)[0]


def fit_language_model(tokens, vocab_size):
    torch.manual_seed(1)
    model = TorchLanguageModel(vocab_size, 96)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    rows = 64
    length = (len(tokens) - 1) // rows
    x_all = tokens[: rows * length].reshape(rows, length)
    y_all = tokens[1 : rows * length + 1].reshape(rows, length)
    for epoch in range(4):
        h = None
        for start in range(0, length - 32, 32):
            logits, h = model.run(x_all[:, start:start + 32], h)
            loss = F.cross_entropy(logits.flatten(0, 1), y_all[:, start:start + 32].flatten())
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            h = h.detach()
    return model
'''

RNN_FUNCTIONAL = '''
def run_rnn(x, h, w_ih, w_hh, b_ih, b_hh):
    """A stateless tanh RNN: x (T, B, I), h (B, H) -> outputs (T, B, H)."""
    outputs = []
    for x_t in x.unbind(0):
        h = torch.tanh(torch.addmm(b_ih, x_t, w_ih.t()) + torch.addmm(b_hh, h, w_hh.t()))
        outputs.append(h)
    return torch.stack(outputs)


class RNN(nn.Module):
    """The loop in a plain function; the last state is recorded but never read back."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        k = 1 / math.sqrt(hidden_size)
        for name, shape in [("weight_ih_l0", (hidden_size, input_size)),
                            ("weight_hh_l0", (hidden_size, hidden_size)),
                            ("bias_ih_l0", (hidden_size,)), ("bias_hh_l0", (hidden_size,))]:
            setattr(self, name, nn.Parameter(nn.init.uniform_(torch.empty(shape), -k, k)))
        self.last_h_n = None

    def forward(self, x, h0=None):
        h = torch.zeros(x.shape[1], self.weight_hh_l0.shape[0], dtype=x.dtype, device=x.device)
        outputs = run_rnn(x, h if h0 is None else h0.squeeze(0), self.weight_ih_l0,
                          self.weight_hh_l0, self.bias_ih_l0, self.bias_hh_l0)
        self.last_h_n = outputs[-1:].detach()
        return outputs, outputs[-1].unsqueeze(0)
'''

CORRECT_VARIANTS = {
    "RNN as a stateless function, last state recorded": (RNN, RNN_FUNCTIONAL, ["rnn"]),
    "cell with F.linear and Xavier init": (CELL, CELL_LINEAR, ["rnn_cell", "rnn"]),
    "RNN as a loop of the notebook's cell": (RNN, RNN_OF_CELLS, ["rnn"]),
    "RNN with the input projected at once": (RNN, RNN_PROJECTED, ["rnn"]),
    "identity with copy_ under no_grad": (IDENTITY, IDENTITY_COPY, ["identity_init"]),
    "language model on nn.RNN, logits only": (LM, LM_TORCH_RNN, ["language_model"]),
}


@pytest.mark.parametrize("name", sorted(CORRECT_VARIANTS))
def test_correct_submissions_written_differently_get_full_marks(grader, tmp_path, name):
    cell_id, source, parts = CORRECT_VARIANTS[name]
    nb = set_cell(source_notebook("rnns"), cell_id, source)
    result = grade(grader, tmp_path, nb, only=parts)
    assert result.score == result.max_score, result.to_text()


def test_a_broken_cell_costs_only_the_cell(grader, tmp_path):
    nb = replace_in_cell(source_notebook("rnns"), CELL, CELL_STEP, "return from_input")
    result = grade(grader, tmp_path, nb, only=FAST)
    assert [p.id for p in result.parts if not p.passed] == ["rnn_cell"], result.to_text()


def test_a_language_model_without_memory_stays_above_the_threshold(grader, tmp_path):
    """The threshold needs the recurrence: with the state reset at every step, the trained
    model is a next-word-from-this-word model (about 1.9)."""
    nb = replace_in_cell(source_notebook("rnns"), RNN, "from_hidden = h @",
                         "from_hidden = torch.zeros_like(h) @")  # fmt: skip
    result = grade(grader, tmp_path, nb, only=["language_model"])
    failed = part(result, "language_model")
    assert not failed.passed, result.to_text()
    assert "validation loss" in failed.messages[0]


CELL_KEEPS_STATE = [
    ("        if h is None:\n            h = x.new_zeros(x.shape[0], self.hidden_size)\n",
     '        if h is None:\n            h = getattr(self, "h_last", None)\n'
     "        if h is None or h.shape[0] != x.shape[0]:\n"
     "            h = x.new_zeros(x.shape[0], self.hidden_size)\n"),
    ("        return torch.tanh(from_input + from_hidden)",
     "        h_new = torch.tanh(from_input + from_hidden)\n"
     "        self.h_last = h_new.detach()\n"
     "        return h_new"),
]  # fmt: skip
RNN_KEEPS_STATE = [
    ("        h = x.new_zeros(x.shape[1], self.hidden_size) if h0 is None else h0[0]\n",
     "        memory = getattr(self, 'memory', None)\n"
     "        if h0 is None and memory is not None and memory.shape[1] == x.shape[1]:\n"
     "            h0 = memory\n"
     "        h = x.new_zeros(x.shape[1], self.hidden_size) if h0 is None else h0[0]\n"),
    ("        return torch.stack(outputs), h.unsqueeze(0)",
     "        self.memory = h.unsqueeze(0).detach()\n"
     "        return torch.stack(outputs), h.unsqueeze(0)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("cell_id", "edits", "part_id"),
    [(CELL, CELL_KEEPS_STATE, "rnn_cell"), (RNN, RNN_KEEPS_STATE, "rnn")],
)
def test_state_kept_between_calls_loses_the_part(grader, tmp_path, cell_id, edits, part_id):
    """A module that starts a call without a state from the last call's state passes calls
    of fresh modules; calls of the same object, compared with a fresh nn.RNN(Cell), fail."""
    nb = source_notebook("rnns")
    for old, new in edits:
        nb = replace_in_cell(nb, cell_id, old, new)
    result = grade(grader, tmp_path, nb, only=[part_id])
    text = " ".join(part(result, part_id).messages)
    assert not part(result, part_id).passed, text
    assert "without a state: must start from zeros" in text, text
    assert "the state is kept from one call to the next" in text, text


@pytest.mark.parametrize(("part_id", "kind"), [("rnn_cell", nn.RNNCell), ("rnn", nn.RNN)])
def test_pytorch_runs_through_the_same_driver(grader, part_id, kind):
    """PyTorch's own module, behind the spec's thin adapter, goes through the part's driver
    on every probe (the repeated calls of one object included) and agrees with the
    reference on every compared output: what the grader holds a submission to as well."""
    p = grader.assignment.part(part_id)
    adapter = p.pytorch.definitions[p.title](3, 4)
    assert type(adapter.inner) is kind and list(adapter.modules()) == [adapter]
    assert [n for n, _ in adapter.named_parameters()] == [
        n for n, _ in adapter.inner.named_parameters()
    ]
    for case, expected in zip(grader.cases(p), grader.expected(p), strict=True):
        pytorch = case.secret["pytorch"]
        compared = [k for k in expected if p.compared(k)]
        assert compared and set(compared) <= set(pytorch), sorted(set(compared) - set(pytorch))
        for key in compared:
            assert compare.compare_tensor(key, pytorch[key], expected[key]) is None, key
    assert any(key.startswith("again_") for key in pytorch)
