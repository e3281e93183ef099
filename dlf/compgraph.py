"""A computation graph traced from a real scalar expression, with its gradients, and its figure.

``trace_graph`` records the operations of a Python expression with ``torch.fx`` and asks
autograd for every value's gradient and every edge's local derivative, so a chapter can check
the chain rule (the gradient of a value is the sum, over the operations that use it, of their
gradient times the local derivative) and ``draw_graph`` can show it.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyArrowPatch

from dlf.figures import HIGHLIGHT

_SYMBOLS = {
    operator.mul: "×",
    operator.add: "+",
    operator.sub: "−",
    operator.pow: "^",
    operator.truediv: "÷",
    operator.neg: "−",
}


@dataclass
class GraphNode:
    """One value of a traced expression: its name, operation, inputs, value and dL/d(value).

    local: input name -> d(this value)/d(that input), the derivative along each edge.
    """

    name: str
    label: str  # the operation with its operands, e.g. "a × x"; an input's own name
    inputs: list[str]
    value: float
    grad: float
    local: dict[str, float] = field(default_factory=dict)


def trace_graph(fn, inputs, names=None):
    """Trace the scalar expression fn(**inputs) with torch.fx and differentiate it.

    inputs: argument name -> number; names: optional display names for the intermediate
    values, in evaluation order (otherwise torch.fx's node names: "mul", "add", ...).

    Returns the nodes in evaluation order (inputs first, the output last), each with its
    value, the gradient of the output with respect to it (by autograd) and the local
    derivative along each incoming edge (by autograd too, one operation at a time, so a value
    used twice gets two edges whose contributions the chain rule adds up).
    """
    graph_module = torch.fx.symbolic_trace(fn)
    leaves = {
        k: torch.tensor(float(v), dtype=torch.float64, requires_grad=True)
        for k, v in inputs.items()
    }
    values: dict[str, torch.Tensor] = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, node):
            values[node.name] = result = super().run_node(node)
            return result

    nodes = [n for n in graph_module.graph.nodes if n.op != "output"]
    order = [n.name for n in nodes if n.op == "placeholder"]
    output = Recorder(graph_module).run(*(leaves[name] for name in order))
    grads = torch.autograd.grad(output, [values[n.name] for n in nodes], retain_graph=True)
    ops = [n.name for n in nodes if n.op != "placeholder"]
    display = dict(zip(ops, names, strict=True)) if names is not None else {}
    rename = display.get
    traced = []
    for node in nodes:
        args = [a.name for a in node.args if isinstance(a, torch.fx.Node)]
        operands = [
            rename(a.name, a.name) if isinstance(a, torch.fx.Node) else f"{a:g}" for a in node.args
        ]
        symbol = _SYMBOLS.get(node.target, str(node.target))
        if node.op == "placeholder":
            label = node.name
        elif len(operands) == 1:
            label = f"{symbol}{operands[0]}"
        else:
            label = f" {symbol} ".join(operands)
        local = _local_derivatives(node, values) if args else {}
        value, grad = values[node.name], grads[nodes.index(node)]
        traced.append(
            GraphNode(
                rename(node.name, node.name),
                label,
                [rename(i, i) for i in args],
                value.item(),
                grad.item(),
                {rename(i, i): d for i, d in local.items()},
            )
        )
    return traced


def _local_derivatives(node, values):
    """d(node)/d(operand) for each operand, the other operands held fixed: the operation is run
    again on detached copies of its inputs, so paths through earlier nodes do not count."""
    copies = {}
    for a in node.args:
        if isinstance(a, torch.fx.Node) and a.name not in copies:
            copies[a.name] = values[a.name].detach().requires_grad_(True)
    args = [copies[a.name] if isinstance(a, torch.fx.Node) else a for a in node.args]
    if node.op == "call_method":
        out = getattr(args[0], node.target)(*args[1:], **node.kwargs)
    else:
        out = node.target(*args, **node.kwargs)
    grads = torch.autograd.grad(out, list(copies.values()))
    return {name: d.item() for name, d in zip(copies, grads, strict=True)}


def draw_graph(nodes):
    """Draw a traced expression (from trace_graph) left to right: each box shows a value and,
    in red, the gradient of the output with respect to it; each edge its local derivative.
    """
    depth: dict[str, int] = {}
    for node in nodes:
        depth[node.name] = 1 + max((depth[i] for i in node.inputs), default=-1)
    for node in nodes:  # an input sits just left of the first operation that uses it
        users = [depth[n.name] for n in nodes if node.name in n.inputs]
        if not node.inputs and users:
            depth[node.name] = min(users) - 1
    pos = {}
    for column in set(depth.values()):
        ops = [n.name for n in nodes if depth[n.name] == column and n.inputs]
        leaves = [n.name for n in nodes if depth[n.name] == column and not n.inputs]
        start = -1.2 * len(ops) if ops else 0.6 * (len(leaves) - 1)
        pos.update({name: (column, -1.2 * r) for r, name in enumerate(ops)})
        pos.update({name: (column, start - 1.2 * r) for r, name in enumerate(leaves)})
    width = max(depth.values()) + 1
    low, high = min(y for _, y in pos.values()), max(y for _, y in pos.values())
    fig, ax = plt.subplots(figsize=(2.3 * width + 1, 0.9 * (high - low) + 1.6))
    for node in nodes:
        for name in node.inputs:
            (x0, y0), (x1, y1) = pos[name], pos[node.name]
            ax.add_patch(
                FancyArrowPatch(
                    (x0, y0),
                    (x1, y1),
                    arrowstyle="-|>",
                    mutation_scale=12,
                    color="0.45",
                    shrinkA=34,
                    shrinkB=34,
                )
            )
            ax.text(
                x0 + 0.55 * (x1 - x0),
                y0 + 0.55 * (y1 - y0) + 0.12,
                f"∂{node.name}/∂{name} = {node.local[name]:.3g}",
                fontsize=7.5,
                color="tab:blue",
                ha="center",
                va="bottom",
            )
    for node in nodes:
        title = node.name if not node.inputs else f"{node.name} = {node.label}"
        ax.text(
            *pos[node.name],
            f"{title}\nvalue {node.value:.3g}",
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": "whitesmoke"},
        )
        ax.text(
            pos[node.name][0],
            pos[node.name][1] - 0.33,
            f"∂L/∂{node.name} = {node.grad:.3g}",
            ha="center",
            va="top",
            fontsize=8,
            color=HIGHLIGHT,
        )
    ax.set_xlim(-0.6, width - 0.4)
    ax.set_ylim(low - 0.7, high + 0.4)
    ax.axis("off")
    fig.tight_layout()
    return fig
