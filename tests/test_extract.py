"""Definitions are found by name wherever they sit in the notebook."""

from autograder.extract import extract


def test_keeps_imports_defs_and_needed_constants_only():
    cells = [
        "import torch\nSCALE = 0.01\nUNUSED = 5\nprint('hello')",
        "def f(x):\n    return x * SCALE",
        "model = f(3)\nfor i in range(10**9):\n    pass",
    ]
    found = extract(cells)
    assert found.imports == ["import torch"]
    assert set(found.definitions) == {"f", "SCALE"}
    statements = "\n".join(found.statements())
    assert "range(10 ** 9)" not in statements and "print" not in statements


def test_last_definition_wins_and_reordered_cells_are_fine():
    cells = ["def g():\n    return helper() + 1", "def helper():\n    return 1",
             "def helper():\n    return 2"]  # fmt: skip
    found = extract(cells)
    assert found.definitions["helper"].source.endswith("return 2")
    assert found.closure(["g"]) == ["g", "helper"]


def test_syntax_errors_and_magics_do_not_stop_extraction():
    cells = ["%matplotlib inline\nimport math", "def broken(:\n    pass", "!pip install x",
             "def ok():\n    return math.pi"]  # fmt: skip
    found = extract(cells)
    assert found.has("ok") and not found.has("broken")
    assert any("cell 2" in s for s in found.skipped_cells)


def test_attribute_assignments_are_never_kept():
    found = extract(["import torch\ntorch.allclose = lambda *a, **k: True\ndef f():\n    return 1"])
    assert all("allclose" not in s for s in found.statements())


def test_nested_definitions_and_local_imports_are_not_globals():
    cells = ["def outer():\n    import math\n    def inner():\n        return math.pi\n"
             "    return inner()", "inner = expensive()\nmath = None"]  # fmt: skip
    found = extract(cells)
    assert set(found.definitions) == {"outer"}
