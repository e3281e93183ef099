"""The grading loop: CPU time per part, and a definition that hangs costs one time limit."""

from __future__ import annotations

import pytest

from tests.submissions import append_code, part, source_notebook, write

pytestmark = pytest.mark.task("collab")

HANGING_SIGMOID = "def sigmoid_range(x, low, high):\n    while True:\n        pass"


def test_each_part_reports_the_cpu_time_of_its_sandboxed_process(collab_grader, tmp_path):
    result = collab_grader.grade(write(source_notebook("collab"), tmp_path), only=["embedding"])
    embedding = part(result, "embedding")
    assert embedding.passed and 0 < embedding.cpu_seconds < 2, embedding


def test_a_part_using_a_definition_that_hung_is_not_run_again(collab_grader, tmp_path):
    nb = append_code(source_notebook("collab"), HANGING_SIGMOID)
    only = ["sigmoid_range", "dot_product", "embedding_dot_bias"]
    result = collab_grader.grade(write(nb, tmp_path), only=only)
    hung, bias = part(result, "sigmoid_range"), part(result, "embedding_dot_bias")
    assert not hung.passed and "time limit" in hung.messages[0], hung.messages
    limit = collab_grader.assignment.parts[2].limits.cpu  # sigmoid_range's
    assert limit - 0.5 <= hung.cpu_seconds <= limit + 1.5  # stopped by its CPU limit
    assert not bias.passed and bias.cpu_seconds == 0, bias
    assert "not run" in bias.messages[0] and "`sigmoid_range`" in bias.messages[0], bias.messages
    assert "part sigmoid_range" in bias.messages[0], bias.messages
    # DotProduct does not use sigmoid_range: graded as usual.
    assert part(result, "dot_product").passed


def test_without_the_earlier_part_the_hang_is_met_where_it_happens(collab_grader, tmp_path):
    """Only evidence from this submission's own run skips a part: graded alone,
    EmbeddingDotBias runs and is stopped by its own limit."""
    nb = append_code(source_notebook("collab"), HANGING_SIGMOID)
    result = collab_grader.grade(write(nb, tmp_path), only=["embedding_dot_bias"])
    bias = part(result, "embedding_dot_bias")
    assert not bias.passed and "time limit" in " ".join(bias.messages), bias.messages
    assert "not run" not in " ".join(bias.messages)


def test_ignoring_the_cpu_limit_signals_still_stops_the_part(collab_grader, tmp_path):
    nb = append_code(
        source_notebook("collab"),
        "import signal\n"
        "def sigmoid_range(x, low, high):\n"
        "    signal.signal(signal.SIGPROF, signal.SIG_IGN)\n"
        "    signal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
        "    while True:\n"
        "        pass",
    )
    result = collab_grader.grade(write(nb, tmp_path), only=["sigmoid_range"])
    hung = part(result, "sigmoid_range")
    limit = collab_grader.assignment.parts[2].limits.cpu
    assert not hung.passed and f"CPU time limit of {limit:g} s" in hung.messages[0], hung.messages


def test_a_process_left_flooding_the_progress_channel_costs_only_its_part(collab_grader, tmp_path):
    """The child reports progress on fd 3: a process the student's code leaves behind,
    writing there without end after the child exited, does not hang the grader. (Lines
    that imitate the child's could only move the blame to another of the student's own
    parts: scores come from outputs compared in the trusted process.)"""
    nb = append_code(
        source_notebook("collab"),
        "import os\n"
        "def sigmoid_range(x, low, high):\n"
        "    if os.fork() == 0:\n"
        "        while True:\n"
        "            os.write(3, b'junk\\n' * 512)\n"
        "    os._exit(0)",
    )
    only = ["sigmoid_range", "dot_product"]
    result = collab_grader.grade(write(nb, tmp_path), only=only)
    # The part fails (the child exited; or the process it left, a copy of it, reports its
    # own error first), the next part is graded in a fresh child, and the grader goes on.
    assert not part(result, "sigmoid_range").passed, result.to_text()
    assert part(result, "dot_product").passed, result.to_text()
    again = collab_grader.grade(write(source_notebook("collab"), tmp_path), only=only)
    assert again.score == again.max_score, again.to_text()
