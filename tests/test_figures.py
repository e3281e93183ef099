"""The book's figure helpers: what they compute agrees with PyTorch, and each figure shows the
numbers it is given."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from dlf import compgraph, figures  # noqa: E402
from tests.site.conftest import ROOT  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_sliding_outputs_equal_conv2d():
    g = torch.Generator().manual_seed(0)
    image, kernel = torch.randn(7, 9, generator=g), torch.randn(3, 3, generator=g)
    expected = F.conv2d(image[None, None], kernel[None, None])[0, 0].numpy()
    got = figures.sliding_outputs(image, kernel)
    assert got.shape == expected.shape == (5, 7)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_trace_graph_gradients_match_autograd_and_the_chain_rule():
    fn = lambda a, b, x, y: (a * x + b - y) ** 2 / 2
    inputs = {"a": 0.7, "b": -0.2, "x": 1.5, "y": 2.0}
    nodes = compgraph.trace_graph(fn, inputs, names=["p", "yhat", "e", "sq", "L"])
    assert [n.name for n in nodes] == ["a", "b", "x", "y", "p", "yhat", "e", "sq", "L"]
    leaves = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in inputs.items()
    }
    loss = fn(**leaves)
    loss.backward()
    by_name = {n.name: n for n in nodes}
    assert by_name["L"].value == pytest.approx(loss.item())
    assert by_name["L"].grad == 1.0
    for name, leaf in leaves.items():
        assert by_name[name].grad == pytest.approx(leaf.grad.item()), name
    # chain rule: dL/d(value) = sum over its consumers of dL/d(consumer) * local derivative
    for node in nodes[:-1]:
        consumers = [c for c in nodes if node.name in c.inputs]
        assert consumers, node.name
        chained = sum(c.grad * c.local[node.name] for c in consumers)
        assert node.grad == pytest.approx(chained), node.name
    assert by_name["e"].local == {"yhat": 1.0, "y": -1.0}
    assert by_name["p"].label == "a × x" and by_name["e"].label == "yhat − y"
    assert by_name["sq"].label == "e ^ 2" and by_name["L"].label == "sq ÷ 2"


def test_a_value_used_twice_gets_both_contributions():
    nodes = compgraph.trace_graph(lambda w, x: (w * x) ** 2 + w * w, {"w": 2.0, "x": 3.0})
    by_name = {n.name: n for n in nodes}
    assert by_name["w"].grad == pytest.approx(2 * 2.0 * 3.0**2 + 2 * 2.0)  # 40
    mul_ww = next(n for n in nodes if n.inputs == ["w", "w"])
    assert mul_ww.local == {"w": pytest.approx(4.0)}  # d(w*w)/dw, not the total derivative
    add = nodes[-1]
    assert all(v == pytest.approx(1.0) for v in add.local.values())
    for node in nodes[:-1]:
        chained = sum(c.grad * c.local[node.name] for c in nodes if node.name in c.inputs)
        assert node.grad == pytest.approx(chained), node.name


def test_trace_graph_rejects_wrong_number_of_names():
    with pytest.raises(ValueError):
        compgraph.trace_graph(lambda a, b: a * b + a, {"a": 1.0, "b": 2.0}, names=["only one"])


def test_draw_graph_labels_every_value_and_gradient():
    nodes = compgraph.trace_graph(lambda w, x: (w * x - 1.0) ** 2, {"w": 2.0, "x": 3.0})
    labels = "\n".join(texts(compgraph.draw_graph(nodes)))
    for node in nodes:
        assert f"value {node.value:.3g}" in labels
        assert f"∂L/∂{node.name} = {node.grad:.3g}" in labels
    for node in nodes:
        for name in node.inputs:
            assert f"∂{node.name}/∂{name} = {node.local[name]:.3g}" in labels


def test_factorization_shows_the_product_of_its_factors():
    g = torch.Generator().manual_seed(1)
    P, Q = torch.randn(4, 3, generator=g), torch.randn(5, 3, generator=g)
    fig = figures.draw_factorization(P, Q)
    product_axis = fig.axes[2]
    shown = [float(t.get_text()) for t in product_axis.texts]
    np.testing.assert_allclose(shown, (P @ Q.T).numpy().reshape(-1), atol=0.051)
    assert f"{(P[1] @ Q[2]).item():.2f}" in "".join(texts(fig))


def test_factorization_marks_the_observed_cells():
    observed = np.zeros((4, 5), dtype=bool)
    observed[[0, 2, 3], [1, 1, 4]] = True
    fig = figures.draw_factorization(np.ones((4, 2)), np.ones((5, 2)), observed=observed)
    (marks,) = fig.axes[2].collections
    assert sorted(map(tuple, marks.get_offsets() + [-0.3, 0.3])) == [(1, 0), (1, 2), (4, 3)]


def test_lookup_result_is_the_rows_picked():
    W = torch.arange(12.0).view(6, 2)
    fig = figures.draw_lookup(torch.tensor([4, 1]), W)
    result = [float(t.get_text()) for t in fig.axes[4].texts]
    assert result == W[[4, 1]].reshape(-1).tolist()
    one_hot = [float(t.get_text()) for t in fig.axes[0].texts]
    assert sum(one_hot) == 2 and len(one_hot) == 12


def test_sliding_filter_fills_the_output_step_by_step():
    image = torch.zeros(6, 6)
    image[2:4, 1:5] = 1.0
    kernel = torch.tensor([[-1.0, -1.0, -1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    fig = figures.draw_sliding_filter(image, kernel, steps=[0, 5, 15])
    bottom = fig.axes[3:]  # axes go row by row: 3 inputs, then 3 feature maps
    assert [len(ax.texts) for ax in bottom] == [1, 6, 16]
    last = [float(t.get_text()) for t in bottom[-1].texts]
    assert last == F.conv2d(image[None, None], kernel[None, None]).reshape(-1).tolist()


def test_im2col_output_equals_conv2d():
    image = (torch.arange(30.0).view(5, 6) % 7) - 3
    kernel = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    fig = figures.draw_im2col(image, kernel)
    titles = [ax.get_title() for ax in fig.axes]
    assert "patches as columns (9, 12)" in titles and "output (3, 4)" in titles
    out_axis = fig.axes[titles.index("output (3, 4)")]
    shown = [float(t.get_text()) for t in out_axis.texts]
    assert shown == F.conv2d(image[None, None], kernel[None, None]).reshape(-1).tolist()


@pytest.mark.parametrize("every_step", [False, True])
def test_unrolled_rnn_reuses_the_same_weights(every_step):
    fig = figures.draw_unrolled_rnn(["one", ".", "two", "."], every_step=every_step)
    unrolled = [t.get_text() for t in fig.axes[1].texts]
    assert unrolled.count("$W_{hh}$") == 4 and unrolled.count("$E$") == 4
    assert unrolled.count("$W_{ho}$") == (4 if every_step else 1)
    assert "$x_4$\n'.'" in unrolled


CELL = re.compile(r"^```\{code-cell\} ipython3\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def figure_cells() -> list[tuple[str, str]]:
    """(chapter, cell source) of every chapter cell that draws with a helper of this module."""
    found = []
    for path in sorted((ROOT / "book").glob("*.md")):
        for source in CELL.findall(path.read_text()):
            if re.search(r"^draw_\w+\(", source, flags=re.MULTILINE):
                found.append((path.stem, source))
    return found


def test_figure_cells_hide_their_code_and_keep_no_check():
    cells = figure_cells()
    assert {chapter for chapter, _ in cells} >= {"collab", "convolutions", "rnns", "sgd"}
    for chapter, source in cells:
        assert source.startswith(":tags: [hide-input]\n"), f"{chapter}: {source[:60]!r}"
        assert not re.search(r"allclose|equal\(", source), f"{chapter}: a check in a hidden cell"
