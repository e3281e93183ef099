"""Conceptual figures for the book, drawn by code at build time (matplotlib).

Each ``draw_*`` function returns a new ``matplotlib.figure.Figure`` and draws only what it is
given: the numbers come from the chapter (tensors or arrays), so the picture shows the same
computation the chapter checks. ``sliding_outputs`` is tested against PyTorch in
``tests/test_figures.py``; computation graphs (the chain rule) are in ``dlf.compgraph``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, Rectangle

HIGHLIGHT = "tab:red"


def _heatmap(
    ax, values, title="", fmt="{:.1f}", cmap="RdBu_r", vlim=None, signed=True, aspect="equal"
):
    """Draw a 2-D array as coloured cells with its numbers written in them."""
    values = np.asarray(values, dtype=float)
    vlim = vlim if vlim is not None else (np.nanmax(np.abs(values)) if values.size else 1.0) or 1.0
    ax.imshow(values, cmap=cmap, vmin=-vlim if signed else 0, vmax=vlim, aspect=aspect)
    for (i, j), v in np.ndenumerate(values):
        if not np.isnan(v):
            dark = abs(v) > 0.65 * vlim
            ax.text(
                j,
                i,
                fmt.format(v),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
            )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def _outline(ax, row, col, height, width, color=HIGHLIGHT, lw=2.0):
    """Frame the cells [row, row + height) x [col, col + width) of an imshow plot."""
    ax.add_patch(
        Rectangle((col - 0.5, row - 0.5), width, height, fill=False, edgecolor=color, lw=lw)
    )


def draw_factorization(
    P, Q, user_labels=None, movie_labels=None, factor_labels=None, observed=None
):
    """The spreadsheet view of matrix factorisation: R = P @ Q.T beside its factors.

    P: (n_users, K) user factors, drawn to the left of R; Q: (n_movies, K) movie factors,
    drawn transposed above R; R: (n_users, n_movies), each cell the dot product of its row of
    P and its column of Q.T. One cell and the row and column that make it are outlined.
    observed: optional (n_users, n_movies) booleans, the cells that have a rating, marked with a
    black corner.
    """
    P, Q = np.asarray(P, dtype=float), np.asarray(Q, dtype=float)
    R = P @ Q.T
    (n_users, k), n_movies = P.shape, Q.shape[0]
    fig = plt.figure(figsize=(2.2 + 0.42 * (k + n_movies), 1.2 + 0.42 * (k + n_users)))
    grid = fig.add_gridspec(2, 2, width_ratios=[k, n_movies], height_ratios=[k, n_users])
    ax_q, ax_p, ax_r = fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, 0]), None
    ax_r = fig.add_subplot(grid[1, 1])
    vlim = max(np.abs(P).max(), np.abs(Q).max())
    _heatmap(ax_q, Q.T, r"movie factors $Q^\top$  (K, movies)", vlim=vlim)
    _heatmap(ax_p, P, "user factors $P$\n(users, K)", vlim=vlim)
    _heatmap(ax_r, R, r"$R = P\,Q^\top$  (users, movies)")
    if factor_labels is not None:
        ax_q.set_yticks(range(k), factor_labels, fontsize=7)
        ax_p.set_xticks(range(k), factor_labels, fontsize=7, rotation=90)
    if user_labels is not None:
        ax_p.set_yticks(range(n_users), user_labels, fontsize=7)
    if movie_labels is not None:
        ax_r.set_xticks(range(n_movies), movie_labels, fontsize=7, rotation=90)
    if observed is not None:
        rows, cols = np.nonzero(np.asarray(observed, dtype=bool))
        ax_r.scatter(cols + 0.3, rows - 0.3, marker="s", s=12, color="black")
        ax_r.set_title(ax_r.get_title() + ", ■ rated", fontsize=9)
    u, m = min(1, n_users - 1), min(2, n_movies - 1)
    _outline(ax_p, u, 0, 1, k)
    _outline(ax_q, 0, m, k, 1)
    _outline(ax_r, u, m, 1, 1)
    fig.add_subplot(grid[0, 0]).axis("off")
    fig.axes[-1].text(
        0.5,
        0.5,
        f"$R_{{{u},{m}}} = \\mathbf{{p}}_{{{u}}} \\cdot \\mathbf{{q}}_{{{m}}}$\n$= {R[u, m]:.2f}$",
        ha="center",
        va="center",
        fontsize=10,
        color=HIGHLIGHT,
    )
    return fig


def draw_lookup(ids, weights, fmt="{:.1f}"):
    """An embedding lookup as a one-hot matrix product: one_hot(ids) @ W = W[ids].

    ids: (B,) integer ids; weights: (n, d). Draws the (B, n) one-hot matrix, W and the (B, d)
    result, with the row of W that each one-hot row picks outlined.
    """
    ids = np.asarray(ids)
    W = np.asarray(weights, dtype=float)
    one_hot = np.eye(len(W))[ids]
    (n, d), b = W.shape, len(ids)
    cell = max(0.4, 0.09 * len(fmt.format(-np.abs(W).max())) + 0.1)  # inches: room for the text
    widths = [0.4 * n, 0.4, cell * d, 0.4, cell * d]
    fig = plt.figure(figsize=(sum(widths) + 0.8, 0.35 * n + 1.0))
    grid = fig.add_gridspec(2, 5, width_ratios=widths, height_ratios=[b, max(n - b, 0.01)])
    axes = [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[:, 1]), fig.add_subplot(grid[:, 2])]
    axes += [fig.add_subplot(grid[:, 3]), fig.add_subplot(grid[0, 4])]
    vlim = np.abs(W).max()
    _heatmap(
        axes[0],
        one_hot,
        f"one-hot ids {ids.tolist()}\n(B, n)",
        fmt="{:.0f}",
        cmap="Greys",
        signed=False,
        aspect="auto",
    )
    axes[0].set_yticks(range(len(ids)), [str(i) for i in ids], fontsize=7)
    _heatmap(axes[2], W, "embedding matrix W\n(n, d)", fmt=fmt, vlim=vlim, aspect="auto")
    axes[2].set_yticks(range(len(W)), [str(i) for i in range(len(W))], fontsize=7)
    _heatmap(axes[4], one_hot @ W, "result = W[ids]\n(B, d)", fmt=fmt, vlim=vlim, aspect="auto")
    colors = plt.cm.tab10(np.arange(len(ids)) % 10)
    for b, (i, color) in enumerate(zip(ids, colors, strict=True)):
        _outline(axes[0], b, i, 1, 1, color=color)
        _outline(axes[2], i, 0, 1, W.shape[1], color=color, lw=2.5 - 0.4 * b)
        _outline(axes[4], b, 0, 1, W.shape[1], color=color)
    for ax, sign in ((axes[1], "@"), (axes[3], "=")):
        ax.axis("off")
        ax.text(0.5, 0.5, sign, ha="center", va="center", fontsize=16)
    return fig


def sliding_outputs(image, kernel):
    """Slide a (k, k) kernel over an (h, w) image (stride 1, no padding): (h-k+1, w-k+1)."""
    image, kernel = np.asarray(image, dtype=float), np.asarray(kernel, dtype=float)
    k = kernel.shape[0]
    rows, cols = image.shape[0] - k + 1, image.shape[1] - k + 1
    return np.array(
        [[(image[i : i + k, j : j + k] * kernel).sum() for j in range(cols)] for i in range(rows)]
    )


def draw_sliding_filter(image, kernel, steps, fmt="{:.1f}"):
    """A filter sliding over an image and its output growing: one column per step.

    image: (h, w); kernel: (k, k); steps: positions in reading order (0 is the top-left
    window). Top row: the image with the window at that step; bottom row: the feature map
    with the outputs computed so far (the rest left blank) and the newest one outlined.
    """
    image = np.asarray(image, dtype=float)
    k = np.asarray(kernel).shape[0]
    out = sliding_outputs(image, kernel)
    cols = out.shape[1]
    fig, axes = plt.subplots(2, len(steps), figsize=(2.1 * len(steps), 4.4), squeeze=False)
    vlim = np.abs(out).max()
    for col, step in enumerate(steps):
        i, j = divmod(step, cols)
        top, bottom = axes[0, col], axes[1, col]
        top.imshow(image, cmap="Greys")
        _outline(top, i, j, k, k)
        top.set_xticks([])
        top.set_yticks([])
        top.set_title(f"step {step + 1}: window at ({i}, {j})", fontsize=8)
        so_far = np.full(out.shape, np.nan)
        so_far.reshape(-1)[: step + 1] = out.reshape(-1)[: step + 1]
        _heatmap(bottom, so_far, f"{step + 1} of {out.size} outputs", fmt=fmt, vlim=vlim)
        _outline(bottom, i, j, 1, 1)
    axes[0, 0].set_ylabel("input", fontsize=9)
    axes[1, 0].set_ylabel("feature map", fontsize=9)
    fig.tight_layout()
    return fig


def draw_im2col(image, kernel, fmt="{:.1f}"):
    """im2col: every k x k patch of a (h, w) image becomes a column; the convolution is then
    one product (1, k*k) @ (k*k, positions) = (1, positions), reshaped to the feature map.
    """
    image, kernel = np.asarray(image, dtype=float), np.asarray(kernel, dtype=float)
    k = kernel.shape[0]
    rows, cols = image.shape[0] - k + 1, image.shape[1] - k + 1
    columns = np.stack(
        [image[i : i + k, j : j + k].reshape(-1) for i in range(rows) for j in range(cols)], axis=1
    )
    product = kernel.reshape(1, -1) @ columns
    fig = plt.figure(figsize=(11, 5))
    grid = fig.add_gridspec(
        2,
        4,
        width_ratios=[image.shape[1], 1, columns.shape[1], 1.5 * cols],
        height_ratios=[1.6, k * k],
    )
    ax_img, ax_w = fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[0, 2])
    ax_cols, ax_out = fig.add_subplot(grid[1, 2]), fig.add_subplot(grid[1, 3])
    for ax, sign in ((fig.add_subplot(grid[1, 1]), "→"), (fig.add_subplot(grid[0, 3]), "")):
        ax.axis("off")
        ax.text(0.5, 0.5, sign, ha="center", va="center", fontsize=18)
    _heatmap(ax_img, image, f"input ({image.shape[0]}, {image.shape[1]})", fmt=fmt)
    _heatmap(ax_w, kernel.reshape(1, -1), f"flattened filter (1, {k * k})", fmt=fmt)
    _heatmap(ax_cols, columns, f"patches as columns ({k * k}, {columns.shape[1]})", fmt=fmt)
    _heatmap(ax_out, product.reshape(rows, cols), f"output ({rows}, {cols})", fmt=fmt)
    colors = plt.cm.tab10(np.arange(columns.shape[1]) % 10)
    for p in (0, columns.shape[1] - 1):
        i, j = divmod(p, cols)
        _outline(ax_img, i, j, k, k, color=colors[p], lw=2.5)
        _outline(ax_cols, 0, p, k * k, 1, color=colors[p], lw=2.5)
        _outline(ax_out, i, j, 1, 1, color=colors[p], lw=2.5)
    ax_cols.set_xlabel("@ : each output = filter row · one column", fontsize=8)
    fig.tight_layout()
    return fig


def _box(ax, xy, text, color):
    ax.text(
        *xy,
        text,
        ha="center",
        va="center",
        fontsize=11,
        bbox={"boxstyle": "round,pad=0.4", "facecolor": color, "edgecolor": "0.3"},
    )


def _arrow(ax, start, end, label="", color="0.3", offset=(0.0, 0.0)):
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=12,
            color=color,
            lw=1.6,
            shrinkA=16,
            shrinkB=16,
        )
    )
    if label:
        mid = ((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1])
        ax.text(*mid, label, color=color, fontsize=10, ha="center", va="center")


def draw_unrolled_rnn(tokens, every_step=False):
    """An RNN folded (a loop) and unrolled over len(tokens) steps with its shared weights.

    Every step applies the same embedding E and the same hidden-to-hidden matrix W_hh (one
    colour each); the output layer W_ho reads the last hidden state, or every hidden state
    if every_step.
    """
    n = len(tokens)
    fig, (ax_fold, ax) = plt.subplots(
        1, 2, figsize=(3 + 2.1 * n, 3.6), gridspec_kw={"width_ratios": [1.3, n + 0.6]}
    )
    colors = {"E": "tab:blue", "W_hh": "tab:red", "W_ho": "tab:green"}
    _box(ax_fold, (0.5, 0.15), "$x_t$", "lavender")
    _box(ax_fold, (0.5, 0.5), "$h_t$", "mistyrose")
    _box(ax_fold, (0.5, 0.85), r"$\hat y$", "honeydew")
    _arrow(ax_fold, (0.5, 0.15), (0.5, 0.5), "$E$", colors["E"], (0.1, 0))
    _arrow(ax_fold, (0.5, 0.5), (0.5, 0.85), "$W_{ho}$", colors["W_ho"], (0.14, 0))
    ax_fold.add_patch(
        FancyArrowPatch(
            (0.63, 0.45),
            (0.63, 0.55),
            connectionstyle="arc3,rad=2.2",
            arrowstyle="-|>",
            mutation_scale=12,
            color=colors["W_hh"],
            lw=1.6,
            shrinkA=0,
            shrinkB=0,
        )
    )
    ax_fold.text(0.92, 0.5, "$W_{hh}$", color=colors["W_hh"], fontsize=10, va="center")
    ax_fold.set_title("folded: a loop", fontsize=9)
    xs = [0.6 + t for t in range(n)]
    _box(ax, (-0.4, 0.5), "$h_0 = 0$", "whitesmoke")
    for t, (x, token) in enumerate(zip(xs, tokens, strict=True)):
        _box(ax, (x, 0.15), f"$x_{t + 1}$\n'{token}'", "lavender")
        _box(ax, (x, 0.5), f"$h_{t + 1}$", "mistyrose")
        _arrow(ax, (x, 0.15), (x, 0.5), "$E$", colors["E"], (0.13, 0))
        _arrow(ax, (x - 1 if t else -0.4, 0.5), (x, 0.5), "$W_{hh}$", colors["W_hh"], (0, 0.07))
        if every_step or t == n - 1:
            _box(ax, (x, 0.85), rf"$\hat y_{t + 1}$", "honeydew")
            _arrow(ax, (x, 0.5), (x, 0.85), "$W_{ho}$", colors["W_ho"], (0.2, 0))
    ax.set_title(f"unrolled over {n} steps: the same E, W_hh and W_ho at every step", fontsize=9)
    for a, right in ((ax_fold, 1.1), (ax, xs[-1] + 0.6)):
        a.set_xlim(-0.1 if a is ax_fold else -0.9, right)
        a.set_ylim(0, 1)
        a.axis("off")
    fig.tight_layout()
    return fig
