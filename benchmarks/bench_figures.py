"""What the book's conceptual figures cost at build time.

Each figure of dlf.figures / dlf.compgraph is drawn at the size a chapter uses and rendered to
PNG in memory (what the notebook's inline backend does), best of a few runs. The baseline, in
the same process, is an ordinary chapter plot: a line plot of 1,000 points with a legend. It
prints the seconds of each figure and its ratio to the baseline.

    python benchmarks/bench_figures.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dlf import compgraph, figures  # noqa: E402


def baseline():
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.linspace(0, 10, 1000)
    ax.plot(x, np.sin(x), label="train")
    ax.plot(x, np.cos(x), label="valid")
    ax.set(xlabel="epoch", ylabel="loss", title="an ordinary plot")
    ax.legend()
    return fig


def cases():
    g = torch.Generator().manual_seed(0)
    digit = torch.rand(8, 8, generator=g)
    edge = torch.tensor([[-1.0, -1.0, -1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    labels = [f"movie {i}" for i in range(10)]
    nodes = compgraph.trace_graph(
        lambda a, b, x, y: (a * x + b - y) ** 2,
        {"a": 0.5, "b": -1.0, "x": 0.3, "y": 2.9},
        names=["ax", "y_hat", "error", "L"],
    )
    return {
        "factorization (collab)": lambda: figures.draw_factorization(
            torch.randn(8, 6, generator=g), torch.randn(10, 6, generator=g), movie_labels=labels
        ),
        "lookup (collab)": lambda: figures.draw_lookup(
            torch.tensor([3, 0, 3, 6]), torch.randn(8, 4, generator=g) / 100, fmt="{:.3f}"
        ),
        "sliding filter (convolutions)": lambda: figures.draw_sliding_filter(
            digit, edge, steps=[0, 1, 2, 6, 20, 35]
        ),
        "im2col (convolutions)": lambda: figures.draw_im2col(digit[:5, :5], edge),
        "unrolled RNN (rnns)": lambda: figures.draw_unrolled_rnn(["one", ".", "two"]),
        "unrolled RNN, every step (rnns)": lambda: figures.draw_unrolled_rnn(
            ["one", ".", "two", ".", "three", "."], every_step=True
        ),
        "computation graph (sgd)": lambda: compgraph.draw_graph(nodes),
    }


def seconds(make, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fig = make()
        fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")
        plt.close(fig)
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    seconds(baseline, 1)  # warm up fonts and caches
    base = seconds(baseline, args.repeat)
    print(f"{'baseline (ordinary line plot)':<34} {base:6.3f} s   1.0x")
    total = 0.0
    for name, make in cases().items():
        t = seconds(make, args.repeat)
        total += t
        print(f"{name:<34} {t:6.3f} s {t / base:5.1f}x")
    print(f"{'all figures together':<34} {total:6.3f} s {total / base:5.1f}x")


if __name__ == "__main__":
    main()
