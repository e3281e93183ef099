"""Run an exported bundle as its platform would, without the platform: its directories in a
temporary root, its entry point run as a process, its results file read and validated
against a schema written from the platform's documentation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import jsonschema

SCHEMAS = Path(__file__).resolve().parent / "schemas"
MAX_RESULTS_BYTES = 1 << 20  # PrairieLearn's limit on results.json


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.json").read_text())


def validate(platform: str, results: dict) -> None:
    jsonschema.validate(results, schema(f"{platform}_results"))


@dataclass
class Run:
    """One run of an entry point: its exit code, its (staff-only) output and its results."""

    returncode: int
    stdout: str
    results: dict
    root: Path


def _files(folder: Path, files: dict[str, bytes | str | Path]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_bytes(content.encode() if isinstance(content, str) else content)


def gradescope_root(tmp: Path, bundle: Path, files: dict) -> Path:
    """``/autograder`` as Gradescope lays it out: the zip in source/, run_autograder copied
    up, the upload in submission/, the submission's metadata beside it."""
    root = tmp / "autograder"
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    _files(root / "submission", files)
    (root / "submission_metadata.json").write_text('{"users": [{"email": "s@example.org"}]}')
    return root


def prairielearn_root(tmp: Path, question: Path, files: dict) -> Path:
    """``/grade`` as PrairieLearn lays it out: the question's tests/ copied, the upload in
    student/, the question's data in data/."""
    root = tmp / "grade"
    shutil.copytree(question / "tests", root / "tests")
    _files(root / "student", files)
    (root / "data").mkdir()
    (root / "data" / "data.json").write_text('{"params": {}, "submitted_answers": {}}')
    return root


def start(platform: str, root: Path, timeout: float | None = None, python: str | None = None):
    """Start the platform's entry point over ``root`` (as the platform would: the script,
    with the platform's folder as working directory)."""
    script = root / ("run_autograder" if platform == "gradescope" else "tests/run.sh")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DLF_PLATFORM_ROOT": str(root),
        "DLF_PYTHON": python or sys.executable,
    }
    if timeout is not None:
        env["DLF_PLATFORM_TIMEOUT"] = str(timeout)
    return subprocess.Popen([str(script)], cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def finish(platform: str, root: Path, process, limit_s: int = 300) -> Run:
    """Wait for the entry point; the results it wrote, validated against the schema."""
    stdout, _ = process.communicate(timeout=limit_s)
    path = root / "results" / "results.json"
    assert path.is_file(), f"no results.json: {stdout}"
    assert path.stat().st_size <= MAX_RESULTS_BYTES
    results = json.loads(path.read_text())
    validate(platform, results)
    return Run(process.returncode, stdout, results, root)


def run(platform: str, root: Path, timeout: float | None = None, python: str | None = None):
    """Run the platform's entry point over ``root``; the results it wrote, validated."""
    return finish(platform, root, start(platform, root, timeout, python))
