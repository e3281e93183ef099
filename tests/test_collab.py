"""Assignment collab: the solution scores 100 %, the release 0, and each wrong submission
loses points on the right part with a message that names the mistake."""

from __future__ import annotations

import pytest

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

pytestmark = pytest.mark.task("collab")

FAST = ["create_params", "embedding", "sigmoid_range", "dot_product", "embedding_dot_bias"]


def test_solution_scores_full_marks(grader, tmp_path):
    result = check_solution_scores_full_marks(grader, tmp_path, "collab", 10)
    assert result.isolation == "bwrap"


def test_release_scores_zero_with_not_implemented(grader, tmp_path):
    check_release_scores_zero(grader, tmp_path, "collab")


EMBEDDING_CELL = "embedding-solution"
BIAS_CELL = "embedding_dot_bias-solution"
DOT_CELL = "dot_product-solution"
SIGMOID_CELL = "sigmoid_range-solution"
PARAMS_CELL = "create_params-solution"

WRONG = {
    "bias not squeezed": (
        BIAS_CELL, "self.user_bias(users)[:, 0] + self.item_bias(items)[:, 0]",
        "self.user_bias(users) + self.item_bias(items)",
        "embedding_dot_bias", "(B, 1) being broadcast"),
    "sigmoid_range wrong scale": (
        SIGMOID_CELL, "* (high - low) + low", "* high + low", "sigmoid_range", "scaled by `high`"),
    "sigmoid_range no offset": (
        SIGMOID_CELL, "* (high - low) + low", "* (high - low)", "sigmoid_range", "not shifted"),
    "zero init": (
        PARAMS_CELL, "torch.zeros(*size).normal_(0, 0.01)", "torch.zeros(*size)",
        "create_params", "all values are zero"),
    "init scale 1": (
        PARAMS_CELL, "normal_(0, 0.01)", "normal_(0, 1.0)", "create_params", "standard deviation"),
    "nn.Embedding used": (
        EMBEDDING_CELL, "self.weight = create_params(n, d)",
        "self.lookup = nn.Embedding(n, d)\n        self.weight = self.lookup.weight",
        "embedding", "nn.Embedding"),
    "F.embedding through getattr": (
        EMBEDDING_CELL, "return self.weight[idx]",
        'return getattr(F, "embedding")(idx, self.weight)',
        "embedding", "F.embedding"),
    "aten embedding through a computed name": (
        EMBEDDING_CELL, "return self.weight[idx]",
        'return getattr([torch][0], "embed" + "ding")(self.weight, idx)', "embedding",
        "aten::embedding"),  # past the static check (which refuses vars(torch)): the guard
    "user and item swapped": (
        DOT_CELL, "users = self.user_factors(x[:, 0])\n        items = self.item_factors(x[:, 1])",
        "users = self.user_factors(x[:, 1])\n        items = self.item_factors(x[:, 0])",
        "dot_product", "swapped"),
    "summed over the batch": (
        DOT_CELL, "(users * items).sum(dim=1)", "(users * items).sum(dim=0)", "dot_product",
        "shape"),
    "y_range ignored": (
        BIAS_CELL, "if self.y_range is None:", "if True:", "embedding_dot_bias",
        "y_range is ignored"),
    "item bias missing": (
        BIAS_CELL, " + self.item_bias(items)[:, 0]", "", "embedding_dot_bias", "item bias"),
    "parameters not registered": (
        EMBEDDING_CELL, "self.weight = create_params(n, d)",
        "self.weight = torch.randn(n, d) * 0.01", "embedding", "not registered as a parameter"),
    "input changed in place": (
        SIGMOID_CELL, "return torch.sigmoid(x) * (high - low) + low",
        "return x.sigmoid_().mul_(high - low).add_(low)", "sigmoid_range", "in-place"),
    "squeezed lookup": (
        EMBEDDING_CELL, "return self.weight[idx]", "return self.weight[idx].squeeze()",
        "embedding", "shape"),
    "create_params: one value per row": (
        PARAMS_CELL, "torch.zeros(*size).normal_(0, 0.01)",
        "torch.zeros(*size[:-1], 1).normal_(0, 0.01).expand(*size).clone()", "create_params",
        "neighbouring values of a row have the same sign"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_submission_loses_points_on_the_right_part(grader, tmp_path, name):
    result = check_wrong_variant(grader, tmp_path, "collab", name, WRONG[name], only=FAST)
    part_id = WRONG[name][3]
    # The mistake costs only the parts that depend on it.
    independent = {"sigmoid_range", "create_params"} - {part_id}
    if part_id in ("dot_product", "embedding_dot_bias"):
        assert all(part(result, p).passed for p in independent), result.to_text()


def test_missing_name_scores_zero_with_a_message(grader, tmp_path):
    nb = replace_in_cell(
        source_notebook("collab"), DOT_CELL, "class DotProduct", "class Dotproduct"
    )
    result = grade(grader, tmp_path, nb, only=FAST)
    assert "`DotProduct` not found" in part(result, "dot_product").messages[0]
    assert part(result, "embedding_dot_bias").passed


def test_untrained_model_fails_the_training_part(grader, tmp_path):
    nb = replace_in_cell(source_notebook("collab"), "train-solution", "for epoch in range(8):",
                         "for epoch in range(0):")  # fmt: skip
    result = grade(grader, tmp_path, nb, only=["train"])
    assert not result.parts[0].passed
    assert "validation RMSE" in result.parts[0].messages[0]


CORRECT_VARIANTS = {
    "one-hot matmul embedding": (
        EMBEDDING_CELL, "return self.weight[idx]",
        "return F.one_hot(idx, self.weight.shape[0]).to(self.weight.dtype) @ self.weight"),
    "index_select embedding": (
        EMBEDDING_CELL, "return self.weight[idx]",
        "flat = self.weight.index_select(0, idx.reshape(-1))\n"
        "        return flat.reshape(*idx.shape, self.weight.shape[1])"),
    "sigmoid by hand": (
        SIGMOID_CELL, "return torch.sigmoid(x) * (high - low) + low",
        "return low + (high - low) / (1 + torch.exp(-x))"),
    "einsum dot product": (
        DOT_CELL, "return (users * items).sum(dim=1)",
        "return torch.einsum('bk,bk->b', users, items)"),
    "randn parameters": (
        PARAMS_CELL, "return nn.Parameter(torch.zeros(*size).normal_(0, 0.01))",
        "return nn.Parameter(torch.randn(size) * 0.01)"),
    "squeeze(-1) biases and unpacked range": (
        BIAS_CELL, "result = dot + self.user_bias(users)[:, 0] + self.item_bias(items)[:, 0]",
        "result = dot + self.user_bias(users).squeeze(-1) + self.item_bias(items).squeeze(-1)"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CORRECT_VARIANTS))
def test_correct_submissions_written_differently_get_full_marks(grader, tmp_path, name):
    cell_id, old, new = CORRECT_VARIANTS[name]
    nb = replace_in_cell(source_notebook("collab"), cell_id, old, new)
    result = grade(grader, tmp_path, nb, only=FAST)
    assert result.score == result.max_score, result.to_text()


def test_reordered_duplicated_and_deleted_cells(grader, tmp_path):
    nb = source_notebook("collab")
    nb.cells.reverse()  # every definition now comes before what it uses
    nb = append_code(nb, "def sigmoid_range(x, low, high):\n    raise ValueError('draft')")
    nb = append_code(nb, "def sigmoid_range(x, low, high):\n"
                         "    return torch.sigmoid(x) * (high - low) + low")  # fmt: skip
    nb = set_cell(nb, "train-data", "")  # a deleted cell
    result = grade(grader, tmp_path, nb, only=FAST)
    assert result.score == result.max_score, result.to_text()


def test_feedback_never_shows_probe_values(grader, tmp_path):
    nb = replace_in_cell(source_notebook("collab"), SIGMOID_CELL, "* (high - low) + low",
                         "* (high - low) + low + 0.5")  # fmt: skip
    result = grade(grader, tmp_path, nb, only=["sigmoid_range"])
    text = result.to_text()
    probes = grader.cases(grader.assignment.part("sigmoid_range"))
    for case in probes:
        for value in case.inputs["x"].flatten()[:20].tolist():
            assert f"{value:.4f}" not in text
    assert "values differ" in text
