"""Assignment lstm: the solution scores 100 % and agrees with nn.LSTMCell and nn.LSTM, the
release scores 0, every known mistake costs its part (and only it) with its hint, other
wrong or hostile submissions lose the part with a message that teaches, and correct
submissions written differently get full marks."""

from __future__ import annotations

import pytest

from autograder import compare
from autograder.assignments.lstm import ASSIGNMENT
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

pytestmark = pytest.mark.task("lstm")

CELL = "lstm_cell-solution"
LOOP = "lstm-solution"
LM = "lstm_language_model-solution"
FAST = ["lstm_cell", "lstm"]
SOLUTION_CELLS = {"LSTMCell": CELL, "LSTM": LOOP}


def test_solution_scores_full_marks(grader, tmp_path):
    check_solution_scores_full_marks(grader, tmp_path, "lstm", 10)


def test_release_scores_zero_with_not_implemented(grader, tmp_path):
    check_release_scores_zero(grader, tmp_path, "lstm")


def test_the_reference_agrees_with_pytorch_on_every_probe(grader):
    """The reference's compared outputs equal nn.LSTMCell's and nn.LSTM's (the same driver
    on PyTorch's modules), so a student is never caught between the two."""
    for p in grader.assignment.parts:
        if p.pytorch is None:
            continue
        for case, expected in zip(grader.cases(p), grader.expected(p), strict=True):
            truth = case.secret["pytorch"]
            assert set(truth) == set(expected), p.id
            for key in p.outputs.compared:
                if key in expected:
                    assert compare.compare_tensor(key, expected[key], truth[key]) is None


MISTAKES = {m.name: (p.id, m) for p in ASSIGNMENT.parts for m in p.mistakes}


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_each_known_mistake_costs_its_part_with_its_hint(grader, tmp_path, name):
    """The mistake's edit, made in the source notebook, fails its part with the hint; the
    other part of the cell and the layer still passes."""
    part_id, mistake = MISTAKES[name]
    nb = source_notebook("lstm")
    for definition, (old, new) in mistake.patch.items():
        nb = replace_in_cell(nb, SOLUTION_CELLS[definition], old, new)
    result = grade(grader, tmp_path, nb, only=FAST)
    failed = part(result, part_id)
    assert not failed.passed, result.to_text()
    assert f"Likely mistake: {mistake.hint}" in failed.messages, failed.messages
    assert all(p.passed for p in result.parts if p.id != part_id), result.to_text()


WRONG = {
    "cell weights named like nn.Linear's": (
        CELL, "self.weight_ih = uniform", "self.weight = uniform", "lstm_cell",
        "no attribute `weight_ih`"),
    "cell parameters of one gate's size": (
        CELL, "self.weight_hh = uniform(4 * hidden_size", "self.weight_hh = uniform(hidden_size",
        "lstm_cell", "expected (16, 4)"),
    "cell through torch.lstm_cell": (
        CELL, "        if state is None:",
        "        return torch.lstm_cell(x, state, *self.parameters())\n        if state is None:",
        "lstm_cell", "`torch.lstm_cell`"),
    "cell with an extra parameter": (
        CELL, "self.bias_hh = uniform(4 * hidden_size)",
        "self.bias_hh = uniform(4 * hidden_size)\n        self.scale = uniform(1)", "lstm_cell",
        "PyTorch's has"),
    "layer with nn.LSTMCell inside": (
        LOOP, "self.hidden_size = hidden_size",
        "self.hidden_size = hidden_size\n        self.inner = nn.LSTMCell(1, 1)", "lstm",
        "`nn.LSTMCell`"),
    "PyTorch's LSTM through a computed name": (
        LOOP, "self.hidden_size = hidden_size",
        'self.hidden_size = hidden_size\n        self.inner = getattr([nn][0], "LS" + "TM")(1, 1)',
        "lstm", "uses PyTorch's LSTM"),
    "layer outputs one step late": (
        LOOP, "            h = torch.sigmoid(o) * torch.tanh(c)\n            outputs.append(h)",
        "            outputs.append(h)\n            h = torch.sigmoid(o) * torch.tanh(c)",
        "lstm", "LSTM: outputs:"),
    "layer returns c as the outputs": (
        LOOP, "outputs.append(h)", "outputs.append(c)", "lstm", "LSTM: outputs:"),
    "layer returns a flat tuple": (
        LOOP, "return torch.stack(outputs), (h.unsqueeze(0), c.unsqueeze(0))",
        "return torch.stack(outputs), h.unsqueeze(0), c.unsqueeze(0)", "lstm",
        "expected (outputs, (h_n, c_n))"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_submission_loses_points_on_the_right_part(grader, tmp_path, name):
    check_wrong_variant(grader, tmp_path, "lstm", name, WRONG[name])


BATCH_FIRST = '''
class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.cell = LSTMCell(input_size, hidden_size)
        self.weight_ih_l0, self.weight_hh_l0 = self.cell.weight_ih, self.cell.weight_hh
        self.bias_ih_l0, self.bias_hh_l0 = self.cell.bias_ih, self.cell.bias_hh

    def forward(self, x, state=None):
        """Reads x as (batch, time, input)."""
        state = None if state is None else (state[0][0], state[1][0])
        outputs = []
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)
            outputs.append(state[0])
        return torch.stack(outputs, dim=1), (state[0][None], state[1][None])
'''


def test_a_layer_that_reads_batch_first_fails(grader, tmp_path):
    nb = set_cell(source_notebook("lstm"), LOOP, BATCH_FIRST)
    failed = part(grade(grader, tmp_path, nb, only=["lstm"]), "lstm")
    assert not failed.passed and failed.points == 0
    assert "the time and batch axes are swapped" in " ".join(failed.messages), failed.messages


KEEPS_STATE = [
    ("        if state is None:\n            zeros",
     '        state = state or self.__dict__.get("kept")\n        if state is None:\n'
     "            zeros"),
    ("        return h, c", "        self.kept = (h.detach(), c.detach())\n        return h, c"),
]  # fmt: skip


def test_a_cell_that_keeps_its_state_between_calls_fails(grader, tmp_path):
    """Its first two calls pass; the third, without a state, must start from zeros."""
    nb = source_notebook("lstm")
    for old, new in KEEPS_STATE:
        nb = replace_in_cell(nb, CELL, old, new)
    failed = part(grade(grader, tmp_path, nb, only=["lstm_cell"]), "lstm_cell")
    assert not failed.passed
    text = " ".join(failed.messages)
    assert "a third call of the same module without a state (must start from zeros)" in text


def test_a_broken_cell_costs_only_the_cell(grader, tmp_path):
    nb = replace_in_cell(source_notebook("lstm"), CELL, "return h, c", "return h")
    result = grade(grader, tmp_path, nb, only=FAST)
    assert [p.id for p in result.parts if not p.passed] == ["lstm_cell"], result.to_text()
    assert "expected the state as a pair (h, c)" in part(result, "lstm_cell").messages[0]


CELL_SLICED = '''
class LSTMCell(nn.Module):
    """Each gate from its own slice of the weights, with F.linear; Xavier weights."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        four = 4 * hidden_size
        self.weight_ih = nn.Parameter(nn.init.xavier_uniform_(torch.empty(four, input_size)))
        self.weight_hh = nn.Parameter(nn.init.xavier_uniform_(torch.empty(four, hidden_size)))
        self.bias_ih = nn.Parameter(torch.zeros(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.zeros(4 * hidden_size))

    def gate(self, k, x, h):
        rows = slice(k * len(self.weight_hh[0]), (k + 1) * len(self.weight_hh[0]))
        return (F.linear(x, self.weight_ih[rows], self.bias_ih[rows])
                + F.linear(h, self.weight_hh[rows], self.bias_hh[rows]))

    def forward(self, x, state=None):
        if state is None:
            h = torch.zeros(len(x), self.weight_hh.shape[1], dtype=x.dtype, device=x.device)
            state = (h, torch.zeros_like(h))
        h, c = state
        i, f, g, o = (self.gate(k, x, h) for k in range(4))
        c_new = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c_new.tanh(), c_new
'''

CELL_CONCATENATED = '''
class LSTMCell(nn.Module):
    """One product of [x, h] with [W_ih, W_hh]; gates read from a (B, 4, H) view."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        k = hidden_size ** -0.5
        shapes = {"weight_ih": (4 * hidden_size, input_size),
                  "weight_hh": (4 * hidden_size, hidden_size),
                  "bias_ih": (4 * hidden_size,), "bias_hh": (4 * hidden_size,)}
        for name, shape in shapes.items():
            self.register_parameter(name, nn.Parameter(torch.rand(shape) * 2 * k - k))

    def forward(self, x, state=None):
        n_hidden = self.weight_hh.shape[1]
        if state is None:
            state = (x.new_zeros(len(x), n_hidden),) * 2
        h, c = state
        weights = torch.cat([self.weight_ih, self.weight_hh], dim=1)
        gates = torch.addmm(self.bias_ih + self.bias_hh, torch.cat([x, h], dim=1), weights.t())
        gates = gates.view(len(x), 4, n_hidden)
        i, f, o = torch.sigmoid(gates[:, [0, 1, 3]]).unbind(1)
        c = torch.addcmul(f * c, i, torch.tanh(gates[:, 2]))
        return o * torch.tanh(c), c
'''

LOOP_OF_CELLS = '''
class LSTM(nn.Module):
    """A loop over the notebook's own LSTMCell, its weights exposed with nn.LSTM's names."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.cell = LSTMCell(input_size, hidden_size)
        self.weight_ih_l0, self.weight_hh_l0 = self.cell.weight_ih, self.cell.weight_hh
        self.bias_ih_l0, self.bias_hh_l0 = self.cell.bias_ih, self.cell.bias_hh

    def forward(self, x, state=None):
        state = None if state is None else tuple(s.squeeze(0) for s in state)
        outputs = []
        for x_t in x.unbind(0):
            state = self.cell(x_t, state)
            outputs.append(state[0])
        return torch.stack(outputs), tuple(s.unsqueeze(0) for s in state)
'''

LOOP_PROJECTED = '''
class LSTM(nn.Module):
    """The input projection of every step at once, then a loop into a preallocated tensor."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        bound = 1 / math.sqrt(hidden_size)
        self.weight_ih_l0 = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih_l0 = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh_l0 = nn.Parameter(torch.empty(4 * hidden_size))
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x, state=None):
        steps, batch, _ = x.shape
        n = self.weight_hh_l0.shape[1]
        projected = torch.einsum("tbi,gi->tbg", x, self.weight_ih_l0) + self.bias_ih_l0
        if state is None:
            h = c = projected.new_zeros(batch, n)
        else:
            h, c = (s[0] for s in state)
        outputs = projected.new_empty(steps, batch, n)
        for t in range(steps):
            a = projected[t] + h @ self.weight_hh_l0.t() + self.bias_hh_l0
            i, f, g = a[:, :n], a[:, n : 2 * n], a[:, 2 * n : 3 * n]
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(a[:, 3 * n:]) * torch.tanh(c)
            outputs[t] = h
        return outputs, (outputs[-1:], c[None])
'''

LM_OWN_LSTM = '''
class LanguageModel(nn.Module):
    """The notebook's own (time-first) LSTM of Part 2 instead of nn.LSTM."""

    def __init__(self, vocab_size, n_hidden):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, n_hidden)
        self.lstm = LSTM(n_hidden, n_hidden)
        self.head = nn.Linear(n_hidden, vocab_size)

    def forward(self, x, state=None):
        outputs, state = self.lstm(self.embed(x).transpose(0, 1), state)
        return self.head(outputs.transpose(0, 1)), state
'''

CORRECT_VARIANTS = {
    "cell gate by gate with F.linear, Xavier init": (CELL, CELL_SLICED, FAST),
    "cell as one product of [x, h], addcmul": (CELL, CELL_CONCATENATED, FAST),
    "layer as a loop of the notebook's cell": (LOOP, LOOP_OF_CELLS, ["lstm"]),
    "layer with the input projected at once": (LOOP, LOOP_PROJECTED, ["lstm"]),
}


@pytest.mark.parametrize("name", sorted(CORRECT_VARIANTS))
def test_correct_submissions_written_differently_get_full_marks(grader, tmp_path, name):
    cell_id, source, parts = CORRECT_VARIANTS[name]
    nb = set_cell(source_notebook("lstm"), cell_id, source)
    result = grade(grader, tmp_path, nb, only=parts)
    assert result.score == result.max_score, result.to_text()


def test_a_language_model_on_the_notebooks_own_lstm_passes(grader, tmp_path):
    """Part 3 trained on the student's Part 2 (a Python loop) fits the limits too."""
    nb = append_code(source_notebook("lstm"), LM_OWN_LSTM)
    result = grade(grader, tmp_path, nb, only=["lstm_language_model"])
    assert result.score == result.max_score, result.to_text()


STATEFUL = '''
class Stateful(nn.Module):
    """Keeps the state from one call to the next."""

    def __init__(self, model):
        super().__init__()
        self.model, self.state = model, None

    def forward(self, x):
        same_batch = self.state is not None and self.state[0].shape[1] == len(x)
        logits, state = self.model(x, self.state if same_batch else None)
        self.state = tuple(s.detach() for s in state)
        return logits
'''

MEMORYLESS = '''
class Memoryless(LanguageModel):
    """Each token on its own: the LSTM never sees the tokens before it."""

    def forward(self, x, state=None):
        rows, steps = x.shape
        outputs, state = self.lstm(self.embed(x.reshape(rows * steps, 1)))
        return self.head(outputs.reshape(rows, steps, -1)), state
'''

LM_WRONG = {
    "state not detached": ("state = tuple(s.detach() for s in state)", "pass", "", "detached"),
    "untrained": ("range(epochs)", "range(0)", "", "validation accuracy"),
    "state kept between calls": ("return model\n", "return Stateful(model)\n", STATEFUL,
                                 "zero state"),
    "memoryless": ("model = LanguageModel(", "model = Memoryless(", MEMORYLESS,
                   "validation accuracy"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(LM_WRONG))
def test_wrong_language_model_fails_with_a_reason(grader, tmp_path, name):
    """Untrained, or trained without a memory (the model then only knows the current
    token), the model stays below the threshold; the others are refused with a reason."""
    old, new, extra, phrase = LM_WRONG[name]
    nb = source_notebook("lstm")
    if name == "state kept between calls":  # no need to train for this one
        nb = replace_in_cell(nb, LM, "range(epochs)", "range(0)")
    nb = replace_in_cell(nb, LM, old, new)
    if extra:
        nb = append_code(nb, extra)
    result = grade(grader, tmp_path, nb, only=["lstm_language_model"])
    failed = part(result, "lstm_language_model")
    assert not failed.passed, result.to_text()
    assert phrase in " ".join(failed.messages), failed.messages


PYTORCHS_CELL = {
    "a subclass": (
        """
class LSTMCell(getattr([nn][0], "LSTM" + "Cell")):
    \"\"\"PyTorch's own cell under the exercise's name, reached past the static check.\"\"\"
""",
        "uses PyTorch's LSTMCell",
    ),
    "returned by a function": (
        """
def LSTMCell(input_size, hidden_size):
    return getattr([nn][0], "LSTM" + "Cell")(input_size, hidden_size)
""",
        "aten::lstm_cell is not allowed in this part",
    ),
}


@pytest.mark.parametrize("how", sorted(PYTORCHS_CELL))
def test_pytorchs_own_cell_under_the_exercises_name_is_refused(grader, tmp_path, how):
    """The driver refuses PyTorch's recurrent modules inside the student's; PyTorch's own
    module itself (let through for the comparison in the trusted process) is stopped in the
    sandbox by the guard on its operator."""
    source, phrase = PYTORCHS_CELL[how]
    nb = set_cell(source_notebook("lstm"), CELL, source)
    failed = part(grade(grader, tmp_path, nb, only=["lstm_cell"]), "lstm_cell")
    assert not failed.passed and failed.points == 0
    assert phrase in " ".join(failed.messages), failed.messages


def test_the_accuracy_check_counts_the_top_logit():
    """checks.accuracy_at_least: the share of positions whose top logit is the target."""
    import torch

    from autograder.checks import accuracy_at_least
    from autograder.spec import Case

    targets = torch.tensor([[0, 1, 2, 3]])
    case = Case({}, {}, {"targets": targets})
    logits = torch.nn.functional.one_hot(torch.tensor([[0, 1, 2, 0]]), 5).double()
    check = accuracy_at_least("logits", 0.75, "model")
    assert check(case, {"logits": logits}, {}) == []  # 3 of 4
    assert (
        "validation accuracy 75.0%"
        in accuracy_at_least("logits", 0.8, "model")(case, {"logits": logits}, {})[0]
    )
    assert "logits of shape (1, 3, 5)" in check(case, {"logits": logits[:, :3]}, {})[0]
    assert "NaN" in check(case, {"logits": logits * float("nan")}, {})[0]
    assert check(case, {}, {}) == ["model: no logits came back"]
