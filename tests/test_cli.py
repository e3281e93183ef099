"""The command line: exit codes tell graded from could-not-grade; JSON and report written."""

from __future__ import annotations

import json
import subprocess
import sys

from autograder.spec import ROOT


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_grade_writes_json_and_report_and_exits_0(tmp_path):
    release = ROOT / "exercises/collab/collab.ipynb"
    out, report = tmp_path / "result.json", tmp_path / "report.txt"
    done = run("grade", str(release), "--assignment", "collab", "--device", "cpu",
               "--json", str(out), "--report", str(report))  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["status"] == "graded" and result["score"] == 0 and result["max_score"] == 10
    assert "not implemented" in report.read_text()
    assert result["isolation"] == "bwrap"


def test_not_a_notebook_exits_3_with_the_reason(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{")
    done = run("grade", str(bad), "-a", "collab", "--device", "cpu")
    assert done.returncode == 3
    assert "invalid JSON" in done.stdout


def test_unknown_assignment_exits_2():
    done = run("grade", "x.ipynb", "-a", "nope")
    assert done.returncode == 2 and "unknown assignment" in done.stderr


def test_cuda_without_a_gpu_is_a_clear_usage_error():
    import torch

    if torch.cuda.is_available():
        return
    done = run("grade", "x.ipynb", "-a", "collab", "--device", "cuda")
    assert done.returncode == 2 and "no CUDA device" in done.stderr


def test_list_names_every_part():
    done = run("list")
    assert done.returncode == 0
    assert "collab: create_params, embedding, sigmoid_range" in done.stdout
