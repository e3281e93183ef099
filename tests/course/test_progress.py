"""The progress line: counts, unchanged items, an ETA from the items graded in this run."""

from __future__ import annotations

from io import StringIO

import pytest

from autograder.course.progress import Progress, clock

pytestmark = pytest.mark.task("course")


def test_clock():
    assert clock(0) == "0:00" and clock(75) == "1:15" and clock(3725) == "1:02:05"


def test_eta_counts_only_graded_items_and_lines_are_printed_in_a_log():
    stream = StringIO()
    progress = Progress(10, "grade collab", stream, every=0.0)
    assert progress.eta() is None
    progress.skip(4)  # unchanged submissions: no time spent, no rate yet
    assert progress.eta() is None
    progress.started -= 6.0  # as if the 2 graded items took 3 s each
    progress.advance()
    progress.advance(failed=True)
    assert progress.eta() == pytest.approx(3.0 * 4, rel=0.05)
    line = progress.line()
    assert "6/10 (60%)" in line and "4 unchanged" in line and "1 not graded" in line
    assert "ETA 0:12" in line
    assert stream.getvalue().count("\n") == 3 and "\r" not in stream.getvalue()
