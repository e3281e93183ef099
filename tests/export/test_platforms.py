"""Each bundle run as its platform runs it, without the platform: a correct, a wrong, a
hostile, a missing, an extra and a broken upload; the results file validated against the
platform's schema, and part by part the same as ``python -m autograder grade``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import nbformat
import pytest

from autograder import assignments
from autograder.export import gradescope
from autograder.spec import ROOT
from tests.export import platforms
from tests.submissions import release_notebook, replace_in_cell, set_cell, source_notebook

pytestmark = pytest.mark.slow
UNHURRIED = 3600  # seconds: a time limit for tests that are not about the time limit


def _text(nb) -> str:
    return nbformat.writes(nb)


def _wrong_collab():
    """sigmoid_range not shifted by ``low`` (a mistake the grader names)."""
    nb = source_notebook("collab")
    return replace_in_cell(nb, "sigmoid_range-solution", "* (high - low) + low", "* (high - low)")


def test_uploads_graded_in_either_platform_agree_with_grade_part_by_part(exported, tmp_path):
    correct, wrong = tmp_path / "correct.ipynb", tmp_path / "wrong.ipynb"
    correct.write_text(_text(source_notebook("collab")))
    wrong.write_text(_text(_wrong_collab()))
    extra = {"collab.ipynb": correct, "scratch.ipynb": "{}", "notes.txt": "my notes"}
    gs_root = platforms.gradescope_root(tmp_path / "gs", exported[("gradescope", "collab")], extra)
    pl_root = platforms.prairielearn_root(
        tmp_path / "pl", exported[("prairielearn", "collab")], {"collab.ipynb": wrong}
    )
    out = tmp_path / "grade.json"
    grading = subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", str(correct), str(wrong), "-a", "collab",
         "--device", "cpu", "-q", "--json", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    # A limit no loaded test machine can run out of: the budget is tested on its own below.
    gs_process = platforms.start("gradescope", gs_root, timeout=UNHURRIED)
    pl_process = platforms.start("prairielearn", pl_root, timeout=UNHURRIED)
    gs = platforms.finish("gradescope", gs_root, gs_process)
    pl = platforms.finish("prairielearn", pl_root, pl_process)
    assert grading.wait(timeout=300) == 0, grading.stdout.read()
    by_grade = json.loads(out.read_text())
    assert gs.returncode == pl.returncode == 0
    # Gradescope: the correct notebook, the extra files named and ignored.
    expected = by_grade[0]["parts"]
    assert [t["name"].split(":")[0] for t in gs.results["tests"]] == [p["id"] for p in expected]
    for test, part in zip(gs.results["tests"], expected, strict=True):
        assert (test["score"], test["max_score"]) == (part["points"], part["max_points"])
        assert test["output"] == "\n".join(part["messages"])
    assert gs.results["score"] == by_grade[0]["score"] == 10
    assert "ignored: scratch.ipynb, notes.txt" in gs.results["output"]
    assert f"grader: {gs_root}/source/grader" in gs.stdout  # the bundle's code, not the checkout's
    assert "outside the bundle" not in gs.stdout + pl.stdout
    # PrairieLearn: the wrong notebook, the same feedback and mistake as `grade`.
    expected = by_grade[1]["parts"]
    for test, part in zip(pl.results["tests"], expected, strict=True):
        assert test["name"] == part["id"]
        assert (test["points"], test["max_points"]) == (part["points"], part["max_points"])
        assert test["message"] == "\n".join(part["messages"])
    assert pl.results["gradable"] is True
    assert pl.results["score"] == pytest.approx(by_grade[1]["score"] / 10)
    assert 0 < pl.results["score"] < 1
    assert "Likely mistake" in json.dumps(pl.results)
    for run in (gs, pl):
        shown = json.dumps(run.results)
        assert "HIDDEN TESTS" not in shown and "BEGIN SOLUTION" not in shown


HOSTILE = """
def sigmoid_range(x, low, high):
    import os
    seen = []
    for path in {readable!r}:
        try:
            with open(path) as fh:
                seen.append("READ:" + fh.read(60).replace("\\n", " "))
        except Exception as err:
            seen.append(type(err).__name__)
    try:
        with open({results!r}, "w") as fh:
            fh.write('{{"score": 999}}')
        seen.append("WROTE")
    except Exception as err:
        seen.append(type(err).__name__)
    raise RuntimeError(f"uid={{os.getuid()}} " + " ".join(seen))
"""


def _hostile_run(exported, tmp_path, isolation: str):
    """A submission whose code tries to read the reference, the spec (hidden probes) and the
    platform's file about the student, and to write the results file."""
    if isolation == "auto":
        bundle = exported[("gradescope", "collab")]
    else:
        collab = assignments.get("collab")
        bundle = gradescope.export(collab, tmp_path / "bundle", isolation=isolation).path
    root = tmp_path / "autograder"
    grader = root / "source" / "grader"
    readable = [
        str(grader / "solutions" / "collab" / "collab.ipynb"),
        str(grader / "autograder" / "assignments" / "collab.py"),
        str(root / "submission_metadata.json"),
    ]
    source = HOSTILE.format(readable=readable, results=str(root / "results" / "results.json"))
    nb = set_cell(release_notebook("collab"), "sigmoid_range-solution", source)
    root = platforms.gradescope_root(tmp_path, bundle, {"collab.ipynb": _text(nb)})
    run = platforms.run("gradescope", root, timeout=UNHURRIED)
    assert run.returncode == 0
    test = next(t for t in run.results["tests"] if t["name"].startswith("sigmoid_range"))
    assert test["score"] == 0 and "uid=" in test["output"], test["output"]
    assert run.results["score"] == 0  # the release scores nothing, whatever was written
    assert "BEGIN SOLUTION" not in json.dumps(run.results)
    return run, test["output"]


def test_hostile_code_under_bubblewrap_sees_none_of_the_grader(exported, tmp_path):
    run, output = _hostile_run(exported, tmp_path, "auto")
    assert "isolation: bwrap" in run.stdout
    assert "READ:" not in output and "WROTE" not in output
    assert output.count("FileNotFoundError") >= 3 or "PermissionError" in output


def test_hostile_code_under_rlimits_as_root_reads_and_writes_nothing(exported, tmp_path):
    """Where the container allows no namespaces: rlimits, asked for by name, said in the
    staff output; the reference, the spec and the metadata root-only (0700), the results
    folder not writable. Holds once ``rlimits`` runs the student as an unprivileged user
    when the grader is root (issue 14)."""
    run, output = _hostile_run(exported, tmp_path, "rlimits")
    assert "isolation: rlimits (weaker)" in run.stdout
    grader = run.root / "source" / "grader"
    assert (grader / "solutions").stat().st_mode & 0o777 == 0o700
    assert (grader / "autograder" / "assignments").stat().st_mode & 0o777 == 0o700
    assert (run.root / "submission_metadata.json").stat().st_mode & 0o777 == 0o600
    if "uid=0 " in output:
        pytest.xfail("rlimits still runs the student's code as root (issue 14 not merged)")
    assert "READ:" not in output and "WROTE" not in output, output
    assert output.count("PermissionError") == 4, output


def test_missing_several_and_broken_uploads_get_a_plain_answer(exported, tmp_path):
    gs_zip = exported[("gradescope", "collab")]
    missing = platforms.run("gradescope", platforms.gradescope_root(tmp_path / "m", gs_zip, {}))
    assert missing.results["score"] == 0 and missing.results["tests"] == []
    assert "upload collab.ipynb" in missing.results["output"]
    several = {"a.ipynb": "{}", "b.ipynb": "{}"}
    many = platforms.run("gradescope", platforms.gradescope_root(tmp_path / "s", gs_zip, several))
    assert "none is named collab.ipynb" in many.results["output"]
    question = exported[("prairielearn", "collab")]
    broken = {"collab.ipynb": "this is not a notebook"}
    pl = platforms.run(
        "prairielearn", platforms.prairielearn_root(tmp_path / "b", question, broken)
    )
    assert pl.results["gradable"] is False and "score" not in pl.results
    assert "collab.ipynb: not a notebook" in pl.results["format_errors"][0]
    assert str(tmp_path) not in json.dumps(pl.results)  # no server paths shown to students
    assert all(run.returncode == 0 for run in (missing, many, pl))


def test_parts_that_do_not_fit_the_time_limit_are_reported_not_graded(exported, tmp_path):
    nb = {"collab.ipynb": _text(source_notebook("collab"))}
    root = platforms.gradescope_root(tmp_path, exported[("gradescope", "collab")], nb)
    run = platforms.run("gradescope", root, timeout=20)  # less than any part's own limit
    assert run.returncode == 0
    assert run.results["score"] == 0 and len(run.results["tests"]) == 6
    assert all("not graded: the time limit of 20 s" in t["output"] for t in run.results["tests"])
    assert run.results["extra_data"]["out_of_time"] is True


@pytest.mark.parametrize("platform", ["gradescope", "prairielearn"])
def test_results_are_written_even_if_python_cannot_start(exported, tmp_path, platform):
    bundle = exported[(platform, "collab")]
    if platform == "gradescope":
        root = platforms.gradescope_root(tmp_path, bundle, {"collab.ipynb": "{}"})
    else:
        root = platforms.prairielearn_root(tmp_path, bundle, {"collab.ipynb": "{}"})
    run = platforms.run(platform, root, python="/bin/false")
    assert run.returncode != 0
    assert "did not finish" in json.dumps(run.results)
    assert run.results.get("score", 0) == 0 and not run.results.get("gradable", False)


def test_a_grader_stopped_by_the_platform_still_leaves_results(exported, tmp_path):
    """SIGTERM (a platform stopping the job) while a part hangs: results are written."""
    hang = "def create_params(size):\n    import time\n    time.sleep(600)\n"
    nb = set_cell(release_notebook("collab"), "create_params-solution", hang)
    question = exported[("prairielearn", "collab")]
    root = platforms.prairielearn_root(tmp_path, question, {"collab.ipynb": _text(nb)})
    proc = platforms.start("prairielearn", root)
    started = time.monotonic()
    staged = root / "tests" / "grader" / "solutions"
    while staged.stat().st_mode & 0o077 and time.monotonic() - started < 120:
        time.sleep(0.2)  # the reference is made root-only once the upload is checked
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    run = platforms.finish("prairielearn", root, proc, limit_s=60)
    assert run.returncode == 0, run.stdout
    results = run.results
    assert "time budget ran out" in run.stdout
    assert results["gradable"] is True and results["score"] == 0
    assert all("not graded" in t["message"] for t in results["tests"])


def test_every_assignments_bundle_grades_its_released_notebook_from_the_bundle_alone(
    exported, tmp_path
):
    """Each assignment's bundle (the platforms taken in turn) runs on its own files: the
    released notebook scores 0, every part saying it is not implemented yet."""
    started = []
    for index, assignment_id in enumerate(assignments.ASSIGNMENT_IDS):
        assignment = assignments.get(assignment_id)
        platform = ("gradescope", "prairielearn")[index % 2]
        upload = {assignment.notebook: assignment.release_path}
        lay_out = platforms.gradescope_root if index % 2 == 0 else platforms.prairielearn_root
        root = lay_out(tmp_path / assignment_id, exported[(platform, assignment_id)], upload)
        process = platforms.start(platform, root, timeout=UNHURRIED)
        started.append((assignment, platform, root, process))
    for assignment, platform, root, process in started:
        run = platforms.finish(platform, root, process)
        assert run.returncode == 0, run.stdout
        assert "outside the bundle" not in run.stdout  # the bundle has all it imports
        tests = run.results["tests"]
        assert [t["name"].split(":")[0] for t in tests] == [p.id for p in assignment.parts]
        points = [t.get("score", t.get("points")) for t in tests]
        assert points == [0] * len(tests), run.stdout
        messages = [t.get("output", t.get("message")) for t in tests]
        assert all("not implemented" in m for m in messages), (assignment.id, messages)
