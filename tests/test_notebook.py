"""Broken files get a clear NotebookError, never a traceback."""

import json
import subprocess
import sys

import pytest

from autograder.notebook import NotebookError, grade_cells, read_cells, read_notebook
from autograder.spec import ROOT


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"{not json", "invalid JSON"),
        (b'{"cells": 3}', "no list of cells"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "no list of cells"),
    ],  # fmt: skip
)
def test_bad_files_are_rejected_clearly(tmp_path, content, message):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookError, match=message):
        read_notebook(path)


def test_missing_file(tmp_path):
    with pytest.raises(NotebookError, match="no such file"):
        read_notebook(tmp_path / "nope.ipynb")


def test_grade_cells_of_the_collab_source():
    cells = grade_cells(read_notebook(ROOT / "solutions/collab/collab.ipynb"))
    ids = [c.grade_id for c in cells]
    assert ids == ["create_params", "embedding", "sigmoid_range", "dot_product",
                   "embedding_dot_bias", "train"]  # fmt: skip
    assert sum(c.points for c in cells) == 10


def test_grading_processes_do_not_import_nbformat():
    """nbformat's import (jsonschema and its format checkers) costs seconds in every process:
    the grader reads notebooks as JSON, so a worker doesn't pay for it."""
    code = (
        "import sys, autograder.grade, autograder.course.batch, autograder.course.cluster\n"
        "from autograder.notebook import read_cells, grade_cells\n"
        "cells = grade_cells(read_cells('solutions/collab/collab.ipynb'))\n"
        "print(len(cells), 'nbformat' in sys.modules, 'jsonschema' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.stdout.split() == ["6", "False", "False"], done.stderr[-2000:]


def test_read_cells_joins_sources_and_upgrades_old_notebooks(tmp_path):
    path = tmp_path / "old.ipynb"
    code = {"cell_type": "code", "input": ["x = 1\n", "y = 2"], "metadata": {}, "outputs": []}
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [code]}]}
    path.write_text(json.dumps(v3))
    assert read_cells(path)["cells"][0]["source"] == "x = 1\ny = 2"  # upgraded to version 4
    code = {"cell_type": "code", "source": ["x = 1\n", "y = 2"], "metadata": {}}
    v4 = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [code]}
    path.write_text(json.dumps(v4))
    assert read_cells(path)["cells"][0]["source"] == "x = 1\ny = 2"
