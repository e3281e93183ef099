"""benchmarks/gpu_check.py: its CPU half runs here (``--quick``), and it fails on a
disagreement between devices, a reference short of full marks or a release that scores."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from autograder.result import GradeResult, PartResult

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import gpu_check  # noqa: E402


def _result(points: list[float]) -> GradeResult:
    result = GradeResult("collab", "submission.ipynb", "graded")
    for index, value in enumerate(points):
        result.parts.append(PartResult(f"p{index}", f"P{index}", value, 2.0, value == 2.0,
                                       ["correct"], 0.1, 0.1))  # fmt: skip
    return result


def test_rows_fail_on_disagreement_or_wrong_reference_and_release(capsys):
    same = {"cpu": _result([2.0, 0.0]), "cuda": _result([2.0, 0.0])}
    assert gpu_check._print_rows("collab", "test: x", same, ["cpu", "cuda"]) == 0
    differ = {"cpu": _result([2.0, 0.0]), "cuda": _result([2.0, 2.0])}
    assert gpu_check._print_rows("collab", "test: x", differ, ["cpu", "cuda"]) == 1
    assert gpu_check._print_rows("collab", "reference", same, ["cpu", "cuda"]) == 1
    assert gpu_check._print_rows("collab", "release", same, ["cpu", "cuda"]) == 1
    out = capsys.readouterr().out
    assert "DISAGREE" in out and "REFERENCE NOT FULL" in out and "RELEASE NOT ZERO" in out


def test_quick_check_runs_the_cpu_half(capsys):
    code = gpu_check.main(["--quick", "--students", "4"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 failure(s)" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("collab ")]
    assert any(r[1] == "reference" and r[-1] == "ok" for r in rows)
    assert any(r[1] == "mistake:" for r in rows) and any(r[1] == "test:" for r in rows)
    assert "cpu (bwrap)" in out or "cpu (rlimits)" in out
    assert "4 students" in out
    if not torch.cuda.is_available():
        assert "GPU half NOT run (no CUDA device)" in out
