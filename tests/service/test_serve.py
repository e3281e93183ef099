"""``python -m autograder serve`` never runs without working bubblewrap."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.service.conftest import ROOT, python

pytestmark = [pytest.mark.task("service"), pytest.mark.xdist_group("service")]


def test_serve_refuses_to_start_without_bubblewrap(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": str(tmp_path)}  # no bwrap on PATH
    done = subprocess.run(
        [python(), "-m", "autograder", "serve", "--port", "1", "--db", f"sqlite:///{tmp_path}/x"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "bubblewrap" in done.stderr and "never grades without it" in done.stderr
    assert not (tmp_path / "x").exists()  # refused before touching anything
