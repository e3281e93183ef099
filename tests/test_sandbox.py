"""The sandbox: what is mounted, what is not, and the fallback when bubblewrap is missing."""

from __future__ import annotations

import dataclasses

import pytest

from autograder.assignments import get
from autograder.grade import Grader
from autograder.sandbox import Limits, Sandbox
from autograder.sandbox import isolation as iso
from autograder.spec import ROOT
from tests.submissions import append_code, source_notebook, write


def test_bwrap_command_mounts_no_course_files(tmp_path):
    if not iso.bwrap_works():
        pytest.skip("bubblewrap is not installed")
    cmd = iso.bwrap_command(tmp_path, "cpu")
    mounted = [cmd[i + 1] for i, a in enumerate(cmd) if a in ("--ro-bind", "--bind")]
    root = str(ROOT)
    assert all(not m.startswith(root) or m.startswith((root + "/.venv", str(iso.DRIVERS)))
               for m in mounted), mounted  # fmt: skip
    assert "--unshare-all" in cmd and "--die-with-parent" in cmd


def probe(sandbox: Sandbox, statements: list[str]) -> dict:
    """Run a part whose only step is to load ``statements``: the load failures come back."""
    part = {"statements": statements, "driver": "runtime", "function": "plain", "cases": []}
    return sandbox.run(part, {}, Limits(wall=20)).meta


def test_inside_the_sandbox():
    if not iso.bwrap_works():
        pytest.skip("bubblewrap is not installed")
    checks = [
        f"import os\nassert not os.path.exists({str(ROOT / 'solutions')!r}), 'solutions visible'",
        "import os\nassert os.getuid() == 65534, 'not unprivileged'",
        "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)",
    ]
    with Sandbox("cpu", "bwrap") as sandbox:
        failures = probe(sandbox, checks)["load_failures"]
    assert len(failures) == 1 and "socket" in failures[0] and "OSError" in failures[0], failures


def test_rlimits_fallback_grades_and_says_it_is_weaker(tmp_path):
    spec = get("collab")
    short = [dataclasses.replace(p, limits=Limits(wall=3, cpu=3)) for p in spec.parts]
    with Grader(dataclasses.replace(spec, parts=short), device="cpu", isolation="rlimits") as g:
        result = g.grade(write(source_notebook("collab"), tmp_path), only=["sigmoid_range"])
        assert result.score == result.max_score
        assert result.isolation == "rlimits"
        assert "weak isolation" in g.sandbox.description and "`bubblewrap`" in g.sandbox.description
        looping = append_code(
            source_notebook("collab"),
            "def sigmoid_range(x, low, high):\n    while True:\n        pass",
        )
        result = g.grade(write(looping, tmp_path), only=["sigmoid_range"])
        assert not result.parts[0].passed and "time limit" in result.parts[0].messages[0]


def test_unknown_isolation_is_refused():
    with pytest.raises(ValueError, match="unknown isolation"):
        iso.choose("docker")


def test_parts_run_in_one_child_until_one_is_stopped():
    """A job runs a submission's parts in order, each under its own limits; the outcomes
    end with the part that was stopped, and the parts after it have not run."""
    load = {"driver": "runtime", "function": "plain", "cases": []}
    jobs = [
        ({**load, "statements": ["import os\nfirst = os.getpid()"]}, {}, Limits(wall=20)),
        ({**load, "statements": ["while True:\n    pass"]}, {}, Limits(wall=20, cpu=1)),
        ({**load, "statements": ["x = 1"]}, {}, Limits(wall=20)),
    ]
    with Sandbox("cpu") as sandbox:
        outcomes = sandbox.run_parts(jobs)
        assert [o.status for o in outcomes] == ["ok", "signal:SIGPROF"], outcomes
        assert outcomes[0].finished and not outcomes[1].finished
        assert 0.9 <= outcomes[1].cpu_seconds <= 1.5, outcomes[1]  # its own 1 s, precisely
        # The sandbox is ready for the next job: the third part on its own.
        again = sandbox.run_parts(jobs[2:])
        assert [o.status for o in again] == ["ok"] and again[0].finished
