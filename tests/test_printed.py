"""A failed part shows the end of what the student's code printed, bounded; a passing part
shows none; old records without it still load."""

from __future__ import annotations

import pytest

from autograder.course.feedback import feedback_html, feedback_text
from autograder.result import PRINTED, GradeResult, PartResult
from autograder.sandbox.readback import PRINTED_CHARS, PRINTED_LINES, printed_tail
from tests.submissions import append_code, part, source_notebook, write

pytestmark = pytest.mark.task("collab")

CHATTY = (
    "def sigmoid_range(x, low, high):\n"
    "    print('shape of x:', tuple(x.shape))\n"
    "    print('low <b>', low)\n"
    "    return torch.sigmoid(x) * (high - low)\n"
)
# About 10 MB of output (on the first probe), then a crash: only the end comes back.
FLOOD = (
    "def sigmoid_range(x, low, high):\n"
    "    if not getattr(sigmoid_range, 'flooded', False):\n"
    "        sigmoid_range.flooded = True\n"
    "        for i in range(200_000):\n"
    "            print(f'line {i} ' + 'y' * 40)\n"
    "    raise ValueError('gave up')\n"
)


def test_a_failing_part_shows_what_it_printed(collab_grader, tmp_path):
    nb = append_code(source_notebook("collab"), CHATTY)
    result = collab_grader.grade(write(nb, tmp_path), only=["sigmoid_range", "dot_product"])
    failed, passed = part(result, "sigmoid_range"), part(result, "dot_product")
    assert not failed.passed and "shape of x:" in failed.printed, failed
    assert "low <b>" in failed.printed
    assert passed.passed and passed.printed == ""
    report = result.to_text()
    assert PRINTED in report and "| shape of x:" in report
    assert "low &lt;b&gt;" in feedback_html(failed) and "<b>" not in feedback_html(failed)
    assert PRINTED in feedback_text(failed)


def test_ten_megabytes_of_prints_come_back_as_a_bounded_tail(collab_grader, tmp_path):
    nb = append_code(source_notebook("collab"), FLOOD)
    result = collab_grader.grade(write(nb, tmp_path), only=["sigmoid_range"])
    failed = part(result, "sigmoid_range")
    assert not failed.passed and "ValueError: gave up" in " ".join(failed.messages)
    lines = failed.printed.splitlines()
    assert lines[0] == "..." and lines[-1].startswith("line 199999 ")
    assert len(lines) <= PRINTED_LINES + 1 and len(failed.printed) <= PRINTED_CHARS + 4


def test_the_tail_keeps_short_output_whole_and_marks_a_cut():
    assert printed_tail(b"one\ntwo\n") == "one\ntwo"
    many = "\n".join(f"n{i}" for i in range(100)).encode()
    kept = printed_tail(many).splitlines()
    assert kept[0] == "..." and kept[1:] == [f"n{i}" for i in range(80, 100)]
    assert printed_tail(b"\xff" * 5000).startswith("...\n")


def test_a_record_written_before_printed_output_loads():
    old = {"id": "p", "title": "P", "points": 0, "max_points": 1, "passed": False}
    result = GradeResult.from_dict({"assignment": "a", "submission": "s", "status": "graded",
                                    "parts": [old]})  # fmt: skip
    assert result.parts[0].printed == "" and PRINTED not in result.to_text()
    assert PartResult("p", "P", 0, 1, False, printed="hi").printed_block() == [PRINTED, "| hi"]
