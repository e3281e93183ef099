"""Forbidden APIs are found however they are spelled or imported."""

import pytest

from autograder.static_checks import escape_hatches, forbidden_uses

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


@pytest.mark.parametrize(
    "imports, source, phrase",
    [([], "def f():\n    import sys\n    return sys._getframe().f_back", "stack frames"),
     ([], "def f(e):\n    return e.__traceback__.tb_frame.f_globals", "stack frames"),
     ([], "def f(g):\n    return g.gi_frame", "stack frames"),
     (["import gc"], "def f():\n    return 1", "every object"),
     (["from ctypes import CDLL"], "def f():\n    return 1", "calls C"),
     (["import torch"], "def f():\n    return torch.library.Library('aten', 'IMPL')", "operators"),
     (["import torch"], "def f():\n    return torch._C._dispatch_get_all_op_names()",
      "dispatcher"),
     (["import torch.nn.functional as F"], "def f(i, w):\n    return getattr(F, 'embed' + 'ding')",
      "by computation"),
     (["import sys"], "def f():\n    return sys.modules['drivers.runtime']", "modules by name"),
     ([], "def f(s):\n    return eval(s)", "run time"),
     (["import torch"], "def f(s):\n    return torch.nn.functional.__dict__[s]", "computation")],
)  # fmt: skip
def test_escape_hatches_are_refused_with_what_they_do(imports, source, phrase):
    found = escape_hatches([source], imports)
    assert found and phrase in " ".join(found), found


def test_no_solution_uses_an_escape_hatch():
    from autograder import assignments
    from autograder.extract import extract
    from autograder.notebook import code_cells, read_cells

    for assignment in assignments.all_assignments():
        extraction = extract(code_cells(read_cells(assignment.source_path)))
        sources = [d.source for d in extraction.definitions.values()]
        assert escape_hatches(sources, extraction.imports) == [], assignment.id
