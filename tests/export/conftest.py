"""The exported bundles of every assignment, written once per session (in this process:
an export is a copy of files; the command line is tested once, in test_bundle.py)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from autograder import assignments
from autograder.export import PLATFORMS


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """(platform, assignment id) -> the Gradescope zip or the PrairieLearn question folder."""
    out = tmp_path_factory.mktemp("exported")
    written = {}
    for platform in PLATFORMS:
        module = importlib.import_module(f"autograder.export.{platform}")
        for assignment_id in assignments.ASSIGNMENT_IDS:
            result = module.export(assignments.get(assignment_id), out / platform)
            written[(platform, assignment_id)] = result.path
    return written
