"""Every assignment exports both bundles: the platform's files, the grader, that assignment's
reference and spec and nothing else of the course, the pinned environment, the time limit."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import jsonschema
import pytest

from autograder import assignments
from autograder.export import bundle, gradescope, prairielearn
from autograder.spec import ROOT
from tests.export.platforms import schema

IDS = assignments.ASSIGNMENT_IDS


def _requirements_pins() -> set[str]:
    return {line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()}


def _check_grader_files(names: set[str], assignment_id: str, prefix: str) -> dict:
    """The bundle holds this assignment's reference and spec, not the others'; the course
    tools and command line stay out; returns the manifest."""
    assignment = assignments.get(assignment_id)
    assert f"{prefix}grader/solutions/{assignment_id}/{assignment.notebook}" in names
    spec = f"{prefix}grader/autograder/assignments/{assignment_id}"  # a module or a package
    assert f"{spec}.py" in names or f"{spec}/__init__.py" in names, spec
    assert f"{prefix}grader/autograder/drivers/{assignment.driver}.py" in names
    assert f"{prefix}grader/autograder/export/harness.py" in names
    for other in IDS:
        if other != assignment_id:
            assert not any(f"solutions/{other}/" in n for n in names), other
            assert not any(f"/assignments/{other}" in n for n in names), other
    assert not any("/course/" in n or n.endswith("/cli.py") for n in names)
    assert not any("exercises/" in n or "gradebook" in n or "__pycache__" in n for n in names)


def _check_manifest(manifest: dict, assignment_id: str, timeout: int) -> None:
    assignment = assignments.get(assignment_id)
    assert manifest["assignment"] == assignment_id
    assert manifest["notebook"] == assignment.notebook
    assert manifest["timeout"] == timeout
    assert [p["id"] for p in manifest["parts"]] == [p.id for p in assignment.parts]
    assert all(p["points"] > 0 for p in manifest["parts"])


def _check_pins(text: str) -> None:
    lines = [x for x in text.splitlines() if x and not x.startswith("#")]
    assert lines and set(lines) <= _requirements_pins()
    names = {x.split("==")[0].lower() for x in lines}
    assert {"torch", "safetensors", "numpy"} <= names
    assert not names & {"jupyter-book", "nbgrader", "playwright", "pytest", "ruff"}


@pytest.mark.parametrize("assignment_id", IDS)
def test_gradescope_zip_has_its_scripts_and_only_this_assignment(exported, assignment_id):
    path = exported[("gradescope", assignment_id)]
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        for script in ("setup.sh", "run_autograder"):
            assert script in names  # at the root of the archive, as Gradescope requires
            assert (archive.getinfo(script).external_attr >> 16) & 0o111, script
        manifest = json.loads(archive.read("grader/bundle.json"))
        setup = archive.read("setup.sh").decode()
        run = archive.read("run_autograder").decode()
        pins = archive.read(bundle.REQUIREMENTS).decode()
    _check_grader_files(names, assignment_id, "")
    _check_manifest(manifest, assignment_id, gradescope.DEFAULT_TIMEOUT)
    _check_pins(pins)
    torch = bundle.torch_pin(pins.splitlines()[1:])
    assert f'"{torch}"' in setup and bundle.TORCH_CPU_INDEX in setup and "bubblewrap" in setup
    assert "harness gradescope" in run and "/autograder" in run
    for script in (setup, run):
        done = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("assignment_id", IDS)
def test_prairielearn_question_enables_external_grading_within_600_s(exported, assignment_id):
    folder = exported[("prairielearn", assignment_id)]
    assignment = assignments.get(assignment_id)
    info = json.loads((folder / "info.json").read_text())
    jsonschema.validate(info, schema("prairielearn_info"))
    options = info["externalGradingOptions"]
    needed = bundle.needed_seconds(assignment)
    assert options["enabled"] is True and info["gradingMethod"] == "External"
    assert options["timeout"] == min(needed, 600) and options["timeout"] > 30
    assert options["entrypoint"] == "/grade/tests/run.sh"
    run = folder / "tests" / "run.sh"
    assert run.stat().st_mode & 0o111
    question = (folder / "question.html").read_text()
    assert f'<pl-file-upload file-names="{assignment.notebook}">' in question
    assert "<pl-external-grader-results>" in question
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    _check_grader_files(names, assignment_id, "tests/")
    manifest = json.loads((folder / "tests/grader/bundle.json").read_text())
    _check_manifest(manifest, assignment_id, options["timeout"])
    _check_pins((folder / "image" / bundle.REQUIREMENTS).read_text())
    dockerfile = (folder / "image" / "Dockerfile").read_text()
    assert "bubblewrap" in dockerfile and bundle.TORCH_CPU_INDEX in dockerfile


def test_budget_is_the_sum_of_the_parts_limits():
    for assignment in assignments.all_assignments():
        walls = sum(p.limits.wall for p in assignment.parts)
        assert bundle.needed_seconds(assignment) >= walls + bundle.STARTUP_SECONDS
    small = assignments.get("regularization")
    assert bundle.needed_seconds(small) < bundle.needed_seconds(assignments.get("convolutions"))


def test_an_export_is_reproducible(tmp_path):
    collab = assignments.get("collab")
    first = gradescope.export(collab, tmp_path / "a").path.read_bytes()
    second = gradescope.export(collab, tmp_path / "b").path.read_bytes()
    assert first == second


def test_prairielearn_refuses_a_timeout_over_600_s(tmp_path):
    with pytest.raises(ValueError, match="at most 600"):
        prairielearn.export(assignments.get("collab"), tmp_path, timeout=601)


def test_the_command_line_writes_the_bundle(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "export", "prairielearn", "regularization",
         "-o", str(tmp_path), "--image", "me/grader:1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "time limit" in done.stdout
    info = json.loads((tmp_path / "regularization" / "info.json").read_text())
    assert info["externalGradingOptions"]["image"] == "me/grader:1"


def test_the_command_line_rejects_an_unknown_assignment_or_option(tmp_path, capsys):
    from autograder.cli import main

    assert main(["export", "gradescope", "nope", "-o", str(tmp_path)]) == 2
    assert "unknown assignment" in capsys.readouterr().err
    assert main(["export", "gradescope", "collab", "-o", str(tmp_path), "--image", "x"]) == 2
    assert "PrairieLearn" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
