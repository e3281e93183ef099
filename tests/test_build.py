"""Building an assignment: exercises/ is generated, fresh, and proven to grade."""

from __future__ import annotations

import dataclasses

import pytest

from autograder import assignments
from autograder.build import build, tight_limits, verify
from autograder.result import GradeResult, PartResult
from tests.submissions import replace_in_cell, source_notebook, write


@pytest.mark.parametrize("assignment_id", assignments.ASSIGNMENT_IDS)
def test_exercises_are_generated_from_solutions_and_fresh(assignment_id):
    problems = build(assignments.get(assignment_id), check_only=True, verified=False)
    assert problems == [], "\n".join(problems)


def test_verify_refuses_a_release_that_scores(collab_grader, tmp_path):
    spec = assignments.get("collab")
    problems = verify(spec, spec.source_path, grader=collab_grader)
    assert any("released notebook scores 10" in p for p in problems), problems


def test_verify_refuses_a_solution_that_fails(tmp_path):
    spec = assignments.get("collab")
    # The grader compares with this very notebook, so break what is held to something else:
    # the statistics of create_params and the equality of Embedding with F.embedding.
    broken = replace_in_cell(source_notebook("collab"), "create_params-solution",
                             "normal_(0, 0.01)", "normal_(0, 1.0)")  # fmt: skip
    broken = replace_in_cell(broken, "embedding-solution", "return self.weight[idx]",
                             "return self.weight[idx] * 2")  # fmt: skip
    folder = tmp_path / "solutions" / "collab"
    folder.mkdir(parents=True)
    write(broken, folder, "collab.ipynb")
    fast = [p for p in spec.parts if p.id != "train"]
    moved = dataclasses.replace(spec, parts=fast, root=tmp_path)
    problems = verify(moved, spec.release_path)
    assert len(problems) == 1 and "reference solution scores" in problems[0], problems
    assert "create_params" in problems[0] and "nn.Embedding" in problems[0], problems


def test_a_cpu_limit_without_headroom_fails_the_build():
    spec = assignments.get("collab")
    part = next(p for p in spec.parts if p.id == "sigmoid_range")
    tight = dataclasses.replace(part, limits=dataclasses.replace(part.limits, cpu=1.0))
    moved = dataclasses.replace(spec, parts=[tight])
    result = GradeResult("collab", "solution", "graded")
    result.parts.append(PartResult("sigmoid_range", "sigmoid_range", 1, 1, True, [], 0.2, 0.15))
    problems = tight_limits(moved, result)
    assert len(problems) == 1 and "0.15 s of CPU" in problems[0], problems
    assert "at least 2 s" in problems[0], problems  # 10x the reference's 0.15 s
    result.parts[0].cpu_seconds = 0.05  # 10x fits under 1 s
    assert tight_limits(moved, result) == []
