"""The entry point's pieces: which file is graded, which parts fit in the time left, and
the watchdog that writes the results before the platform's limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest

from autograder.export import gradescope, prairielearn
from autograder.export.bundle import Manifest
from autograder.export.harness import Outcome, find_notebook, fitting
from autograder.result import PartResult
from autograder.spec import ROOT
from tests.export.platforms import validate


def test_the_notebook_named_for_the_assignment_is_graded_and_the_rest_listed(tmp_path):
    (tmp_path / "nested").mkdir()
    for name in ("collab.ipynb", "nested/collab.ipynb", "draft.ipynb", "notes.txt"):
        (tmp_path / name).write_text("{}")
    path, problem, notes = find_notebook(tmp_path, "collab.ipynb")
    assert problem is None and path == tmp_path / "collab.ipynb"
    assert "draft.ipynb" in notes[0] and "notes.txt" in notes[0]
    assert "nested/collab.ipynb" in notes[0]


def test_a_single_notebook_of_another_name_is_graded_with_a_note(tmp_path):
    (tmp_path / "my work.ipynb").write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "collab-checkpoint.ipynb").write_text("{}")
    path, problem, notes = find_notebook(tmp_path, "collab.ipynb")
    assert path == tmp_path / "my work.ipynb" and problem is None
    assert notes == ["Graded my work.ipynb; name your notebook collab.ipynb next time."]


def test_missing_ambiguous_and_linked_uploads_are_not_graded(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "upload collab.ipynb" in find_notebook(empty, "collab.ipynb")[1]
    assert "Nothing was submitted" in find_notebook(tmp_path / "absent", "collab.ipynb")[1]
    several = tmp_path / "several"
    several.mkdir()
    (several / "a.ipynb").write_text("{}")
    (several / "b.ipynb").write_text("{}")
    path, problem, _ = find_notebook(several, "collab.ipynb")
    assert path is None and "a.ipynb, b.ipynb" in problem
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "collab.ipynb").symlink_to(ROOT / "solutions/collab/collab.ipynb")
    path, problem, _ = find_notebook(linked, "collab.ipynb")
    assert path is None and "collab.ipynb (a link)" in problem


@dataclass
class _Part:
    id: str
    wall: float

    @property
    def limits(self):
        return self


def test_parts_are_planned_in_order_while_their_limits_fit():
    parts = [_Part("a", 20), _Part("b", 20), _Part("c", 120)]
    assert fitting(parts, 1000) == parts
    assert fitting(parts, 50) == parts[:2]
    assert fitting(parts, 21) == []  # a part's whole limit, and time to judge it


def _outcome(graded: int) -> Outcome:
    manifest = Manifest("collab", "collab.ipynb", "gradescope", 600, parts=[
        {"id": "a", "title": "A", "points": 1.0, "wall": 20},
        {"id": "b", "title": "B", "points": 2.0, "wall": 20},
    ])  # fmt: skip
    outcome = Outcome(manifest, limit=600)
    wrong = ["B: wrong", "Likely mistake: x"]
    results = [PartResult("a", "A", 1.0, 1.0, True, ["correct"]),
               PartResult("b", "B", 0.0, 2.0, False, wrong)]  # fmt: skip
    outcome.parts = results[:graded]
    return outcome


def test_results_carry_every_part_and_validate():
    outcome = _outcome(2)
    gs = gradescope.results(outcome)
    validate("gradescope", gs)
    assert gs["score"] == 1.0 and [t["max_score"] for t in gs["tests"]] == [1.0, 2.0]
    assert gs["tests"][1]["output"] == "B: wrong\nLikely mistake: x"
    assert gs["stdout_visibility"] == "hidden"
    pl = prairielearn.results(outcome)
    validate("prairielearn", pl)
    assert pl["gradable"] is True and pl["score"] == pytest.approx(1 / 3)


def test_parts_left_for_lack_of_time_score_zero_and_say_so():
    outcome = _outcome(1)
    outcome.out_of_time = True
    gs = gradescope.results(outcome)
    validate("gradescope", gs)
    assert gs["tests"][1]["score"] == 0 and "time limit of 600 s" in gs["tests"][1]["output"]
    assert "Some parts were not graded" in gs["output"]
    pl = prairielearn.results(outcome)
    validate("prairielearn", pl)
    assert pl["score"] == pytest.approx(1 / 3) and "not graded" in pl["tests"][1]["message"]


def test_an_ungradable_upload_costs_no_prairielearn_attempt():
    outcome = _outcome(0)
    outcome.problem = "collab.ipynb: not a notebook: invalid JSON at line 1, column 1"
    pl = prairielearn.results(outcome)
    validate("prairielearn", pl)
    assert pl["gradable"] is False and "not a notebook" in pl["format_errors"][0]
    gs = gradescope.results(outcome)
    validate("gradescope", gs)
    assert gs["score"] == 0 and gs["tests"] == [] and "not a notebook" in gs["output"]


def test_the_watchdog_writes_the_results_and_ends_the_process(tmp_path):
    """At the deadline the results (parts so far) are written and the process leaves, even
    while grading is still blocked."""
    script = textwrap.dedent(f"""
        import threading, time
        from pathlib import Path
        from autograder.export import gradescope
        from autograder.export.harness import Writer
        from tests.export.test_harness import _outcome
        outcome = _outcome(1)
        writer = Writer(gradescope.layout(Path({str(tmp_path)!r})), gradescope.results)
        threading.Timer(0.5, writer.expire, args=(outcome, time.monotonic())).start()
        time.sleep(60)  # grading that would outlast the platform's limit
        raise SystemExit(5)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=50)  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    validate("gradescope", results)
    assert results["extra_data"]["out_of_time"] is True
    assert [t["score"] for t in results["tests"]] == [1.0, 0.0]
    assert "time budget ran out" in done.stdout
