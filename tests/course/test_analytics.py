"""Class analytics: failure rate per part, the commonest messages grouped across probes,
a self-contained HTML page with plots, and CSV tables."""

from __future__ import annotations

import base64
import csv
import re

import pytest

from autograder.assignments import get
from autograder.course.analytics import class_stats, normalise, write_report
from autograder.result import GradeResult, PartResult

pytestmark = pytest.mark.task("course")

ASSIGNMENT = get("collab")
MISTAKE = "Likely mistake: the sigmoid is scaled by `high` instead of `high - low`"


def student(failing: dict[str, list[str]]) -> GradeResult:
    parts = [
        PartResult(p.id, p.title, 0.0 if p.id in failing else 1.0, 1.0, p.id not in failing,
                   failing.get(p.id, ["correct"]))
        for p in ASSIGNMENT.parts
    ]  # fmt: skip
    return GradeResult("collab", "x", "graded", parts)


def klass() -> dict[str, GradeResult]:
    results = {
        f"s{i}": student({"sigmoid_range": [f"output: {i + 3} of 11 values differ", MISTAKE]})
        for i in range(3)
    }
    results["s3"] = student({"embedding": ["<b>NameError</b>: name 'x' is not defined"]})
    results["s4"] = student({})
    results["s5"] = GradeResult("collab", "x", "ungradable", error="not a notebook")
    return results


def test_failure_rates_and_messages_group_across_probes():
    stats = class_stats(ASSIGNMENT, klass())
    rates = {p.id: p.failure_rate for p in stats.parts}
    assert rates["sigmoid_range"] == pytest.approx(3 / 5) and rates["embedding"] == 1 / 5
    assert rates["create_params"] == 0
    assert stats.messages[("sigmoid_range", "output: # of # values differ")] == 3
    assert stats.messages[("sigmoid_range", MISTAKE)] == 3
    assert stats.ungradable == {"s5": "not a notebook"} and stats.students == 6
    assert normalise("shape (3, 4), expected 1e-3") == "shape (#, #), expected #"


def test_report_is_self_contained_html_with_plots_and_csv_tables(tmp_path):
    page = write_report(ASSIGNMENT, klass(), tmp_path)
    text = page.read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 2
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "most missed: sigmoid_range" in text and "60%" in text
    assert "<b>NameError</b>" not in text and "&lt;b&gt;NameError" in text
    parts = {row["part"]: row for row in csv.DictReader((tmp_path / "parts.csv").open())}
    assert parts["sigmoid_range"]["failed"] == "3" and parts["sigmoid_range"]["graded"] == "5"
    scores = {row["student"]: row for row in csv.DictReader((tmp_path / "scores.csv").open())}
    assert scores["s4"]["score"] == "6" and scores["s5"]["status"] == "ungradable"
    messages = list(csv.DictReader((tmp_path / "messages.csv").open()))
    assert messages[0]["students"] == "3"
