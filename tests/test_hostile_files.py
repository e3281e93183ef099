"""Whatever a file or a sandboxed process contains, that one submission is reported as
ungradable (or its part as failed) with a plain message, and the run goes on: ``grade``
writes a result for every file, ``grade-class`` grades the others and reruns cleanly."""

from __future__ import annotations

import copy
import json

import pytest

from tests.submissions import (
    append_code,
    fast_collab_grader,
    grade,
    part,
    source_notebook,
    write,
)

pytestmark = pytest.mark.task("collab")


@pytest.fixture(scope="module")
def fast_grader():
    yield from fast_collab_grader()


def depth_bomb() -> bytes:
    return b"[" * 100_000 + b"]" * 100_000


def long_expression_notebook():
    """A code cell that is one 100,000-character expression."""
    return append_code(source_notebook("collab"), "x = " + "+".join(["1"] * 50_000))


def wrong_metadata_notebooks():
    nb = copy.deepcopy(source_notebook("collab"))
    nb.cells[1].metadata["nbgrader"] = [1]
    other = copy.deepcopy(source_notebook("collab"))
    graded = next(c for c in other.cells if c.metadata.get("nbgrader", {}).get("grade"))
    graded.metadata["nbgrader"]["grade_id"] = {"a": [1]}
    graded.metadata["nbgrader"]["points"] = "lots"
    return nb, other


def test_a_depth_bomb_notebook_is_ungradable(fast_grader, tmp_path):
    path = tmp_path / "deep.ipynb"
    path.write_bytes(b'{"cells": ' + depth_bomb() + b', "nbformat": 4}')
    result = fast_grader.grade(path)
    assert result.status == "ungradable" and "nested too deeply" in result.error


def test_a_huge_expression_is_skipped_with_a_message(fast_grader, tmp_path):
    result = grade(fast_grader, tmp_path, long_expression_notebook())
    assert result.status == "graded" and result.score == result.max_score, result.to_text()
    assert any("too large or too deeply nested" in w for w in result.warnings), result.warnings


def test_wrong_typed_nbgrader_metadata_is_ungradable(fast_grader, tmp_path):
    for nb in wrong_metadata_notebooks():
        path = write(nb, tmp_path)
        result = fast_grader.grade(path)
        assert result.status == "ungradable" and "nbgrader metadata" in result.error, result


def test_a_malformed_meta_json_fails_its_part_only(fast_grader, tmp_path):
    forge = (  # the sandbox's runtime writes meta.json with json.dumps: 50,000 deep
        "import json, torch\n"
        "def _forge(data, **kwargs):\n"
        "    return '[' * 50000 + ']' * 50000\n"
        "def sigmoid_range(x, low, high):\n"
        "    json.dumps = _forge\n"
        "    return torch.sigmoid(x) * (high - low) + low\n"
    )
    result = grade(fast_grader, tmp_path, append_code(source_notebook("collab"), forge))
    assert result.status == "graded", result.to_text()
    broken = part(result, "sigmoid_range")
    assert not broken.passed and "not valid, plain JSON" in " ".join(broken.messages)
    assert part(result, "create_params").passed


def test_grade_writes_a_result_for_every_file(tmp_path):
    from autograder import cli

    deep = tmp_path / "deep.ipynb"
    deep.write_bytes(depth_bomb())
    wrong, _ = wrong_metadata_notebooks()
    long = write(long_expression_notebook(), tmp_path, "long.ipynb")
    files = [str(deep), str(write(wrong, tmp_path, "wrong.ipynb")), str(long)]
    out = tmp_path / "out.json"
    only_fast = ["--device", "cpu", "-q", "--json", str(out)]
    assert cli.main(["grade", *files, "-a", "collab", *only_fast]) == 3
    results = json.loads(out.read_text())
    assert [r["status"] for r in results] == ["ungradable", "ungradable", "graded"], results
    assert results[2]["score"] == results[2]["max_score"]


UNGUARD = """
import sys
import torch.nn.functional as F


def _unguard():
    frame = sys._getframe()
    while frame is not None:
        guard = frame.f_locals.get("guard")
        if guard is not None and hasattr(guard, "hit"):
            guard.__exit__(None, None, None)
        frame = frame.f_back


class Embedding(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.weight = create_params(n, d)

    def forward(self, idx):
        _unguard()
        return getattr(F, "embed" + "ding")(idx, self.weight)
"""


def test_walking_frames_to_the_guard_is_refused_with_a_lesson(fast_grader, tmp_path):
    result = grade(fast_grader, tmp_path, append_code(source_notebook("collab"), UNGUARD))
    refused = part(result, "embedding")
    text = " ".join(refused.messages)
    assert not refused.passed and "sys._getframe" in text and "stack frames" in text, text
    assert "ordinary tensor operations" in text
    assert part(result, "sigmoid_range").passed
