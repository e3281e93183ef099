"""Broken files get a clear NotebookError, never a traceback."""

import json

import pytest

from autograder.notebook import NotebookError, grade_cells, read_notebook
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


def test_a_notebook_without_a_cell_list_is_refused(tmp_path):
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {},
          "worksheets": [{"cells": [{"cell_type": "code", "input": "x = 1", "outputs": [],
                                     "language": "python"}]}]}  # fmt: skip
    path = tmp_path / "v3.ipynb"
    path.write_text(json.dumps(v3))
    with pytest.raises(NotebookError):
        read_notebook(path)  # no top-level cells list: refused with a message
