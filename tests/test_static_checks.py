"""Forbidden APIs are found however they are spelled or imported."""

import pytest

from autograder.static_checks import forbidden_uses

FORBIDDEN = ["F.conv2d", "nn.Conv2d", "F.embedding"]


@pytest.mark.parametrize(
    "imports, source",
    [(["import torch.nn.functional as fn"], "def f(x, w):\n    return fn.conv2d(x, w)"),
     (["from torch.nn import functional as G"], "def f(x, w):\n    return G.conv2d(x, w)"),
     (["import torch"], "def f(x, w):\n    return torch.nn.functional.conv2d(x, w)"),
     (["from torch import nn"], "def f():\n    return nn.Conv2d(1, 1, 3)"),
     (["from torch.nn import Conv2d as C"], "def f():\n    return C(1, 1, 3)"),
     (["import torch.nn.functional as F"],
      "def f(i, w):\n    return getattr(F, 'embedding')(i, w)")],
)  # fmt: skip
def test_forbidden_uses_are_found(imports, source):
    assert forbidden_uses([source], imports, FORBIDDEN)


def test_own_names_and_allowed_apis_are_fine():
    source = ("class Conv2d:\n    pass\n"
              "def conv2d(x, w):\n    return (x.unfold(2, 3, 1) * w).sum()\n"
              "def g(x):\n    return F.relu(x)")  # fmt: skip
    assert forbidden_uses([source], ["import torch.nn.functional as F"], FORBIDDEN) == []
