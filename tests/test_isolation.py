"""One submission never touches another: what a job writes or starts is gone before the
next; job folders can't be prepared by a submission; the student never runs as host root;
weak isolation only by name, and then loudly."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from autograder.assignments import get
from autograder.grade import Grader
from autograder.sandbox import Sandbox
from autograder.sandbox import isolation as iso
from tests.submissions import (
    SHORT,
    append_code,
    fast_collab_grader,
    grade,
    source_notebook,
    write,
)

pytestmark = pytest.mark.task("collab")

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="only meaningful when run as root")

# Writes a marker and a module named `dlf` (which the collab notebook imports) wherever it
# can: every folder on sys.path, the working and home folders, /tmp, /dev/shm, the
# folders above the job, and the next job folders it can guess.
PLANT = r"""
def _plant():
    import os, sys
    module = "import torch\ntorch.sigmoid = lambda x: torch.zeros_like(x)\n"
    places = [*sys.path, os.getcwd(), os.path.expanduser("~"), "/tmp", "/dev/shm", "/dev",
              "/", "/grader", "/jobs", os.path.dirname(os.getcwd()),
              os.path.dirname(os.path.dirname(os.getcwd()))]
    for place in places:
        try:
            os.makedirs(os.path.join(place, "dlf", "data"), exist_ok=True)
            for name in ("dlf/__init__.py", "dlf/data/__init__.py", "planted-marker"):
                with open(os.path.join(place, name), "w") as fh:
                    fh.write(module)
        except OSError:
            pass
    for guess in range(1, 40):  # the next jobs' folders, as files, links and folders
        for parent in ("/jobs", os.path.dirname(os.path.dirname(os.getcwd()))):
            target = os.path.join(parent, str(guess))
            try:
                os.symlink("/etc", target) if guess % 2 else os.makedirs(target + "/0/x")
            except OSError:
                pass
"""


@pytest.fixture(scope="module")
def fast_grader():
    yield from fast_collab_grader()


@pytest.fixture(scope="module")
def bwrap_sandbox():
    if not iso.bwrap_works():
        pytest.skip("bubblewrap is not available")
    with Sandbox("cpu", "bwrap") as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def rlimits_sandbox():
    with Sandbox("cpu", "rlimits") as sandbox:
        yield sandbox


def hostile_notebook(payload: str, call: str):
    """The solution, with ``sigmoid_range`` running ``call`` (defined in ``payload``) first."""
    body = (f"{payload}\ndef sigmoid_range(x, low, high):\n    {call}\n"
            "    return torch.sigmoid(x) * (high - low) + low\n")  # fmt: skip
    return append_code(source_notebook("collab"), "import torch\n" + body)


def scores(result) -> dict:
    return {p.id: (p.points, tuple(p.messages)) for p in result.parts}


def test_a_planted_module_does_not_reach_the_next_submission(fast_grader, tmp_path):
    alone = grade(fast_grader, tmp_path, source_notebook("collab"))
    assert alone.score == alone.max_score, alone.to_text()
    hostile = grade(fast_grader, tmp_path, hostile_notebook(PLANT, "_plant()"))
    assert hostile.status == "graded", hostile.to_text()
    after = grade(fast_grader, tmp_path, source_notebook("collab"))
    assert scores(after) == scores(alone), after.to_text()


def run_statements(sandbox: Sandbox, statements: list[str], limits=SHORT) -> list[str]:
    part = {"statements": statements, "driver": "runtime", "function": "plain", "cases": []}
    outcome = sandbox.run(part, {}, limits)
    assert outcome.status == "ok", (outcome.status, outcome.printed)
    return outcome.meta["load_failures"]


LOOK = r"""
import os, sys
found = [p for p in [*sys.path, "/tmp", "/dev/shm", "/dev", "/", os.getcwd(),
                     os.path.expanduser("~")]
         if os.path.exists(os.path.join(p, "planted-marker"))]
pids = [p for p in os.listdir("/proc") if p.isdigit()]
raise RuntimeError(f"found={found} pids={len(pids)}")
"""

DAEMON = r"""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(30)
    os._exit(0)
"""


def test_nothing_a_job_writes_or_starts_outlives_it(bwrap_sandbox):
    run_statements(bwrap_sandbox, [PLANT + "\n_plant()", DAEMON])
    failures = run_statements(bwrap_sandbox, [LOOK])
    assert failures and "found=[]" in failures[0], failures
    # A PID namespace per job: the job's own process and its init, nothing else.
    assert "pids=2" in failures[0] or "pids=1" in failures[0], failures


def test_student_code_has_no_capabilities_and_no_user_namespaces(bwrap_sandbox):
    check = (
        "import os, subprocess\n"
        "caps = [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')]\n"
        "userns = subprocess.run(['unshare', '--user', 'true']).returncode\n"
        "raise RuntimeError(f'caps={caps[0]} userns={userns}')"
    )
    failures = run_statements(bwrap_sandbox, [check])
    assert "caps=0000000000000000" in failures[0] and "userns=0" not in failures[0], failures


# Far more forks than the limit allows: RLIMIT_NPROC counts every task of the sandbox's user,
# and the limit is set from a count taken when the job starts, so other tests' sandboxes
# that end meanwhile (under xdist) free some room; hundreds they can't.
FORK_MANY = r"""
import os, time
count = 0
for count in range(1, 400):
    try:
        if os.fork() == 0:
            time.sleep(5)
            os._exit(0)
    except OSError:
        break
raise RuntimeError(f"forked={count} uid={os.getuid()}")
"""


@ROOT_ONLY
@pytest.mark.parametrize("isolation", ["bwrap", "rlimits"])
def test_as_root_the_process_limit_applies(isolation, request):
    sandbox = request.getfixturevalue(f"{isolation}_sandbox")
    limits = dataclasses.replace(SHORT, extra_processes=12)
    failures = run_statements(sandbox, [FORK_MANY], limits)
    forked = int(failures[0].split("forked=")[1].split()[0])
    assert forked < 399, failures  # the kernel refused: not host root


@ROOT_ONLY
def test_as_root_rlimits_runs_the_student_unprivileged(rlimits_sandbox):
    check = (
        "import os\n"
        "caps = [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')]\n"
        "raise RuntimeError(f'uid={os.getuid()} caps={caps[0]}')"
    )
    failures = run_statements(rlimits_sandbox, [check])
    assert f"uid={iso.SANDBOX_UID} caps=0000000000000000" in failures[0], failures


def test_auto_without_bubblewrap_refuses_to_grade(monkeypatch, capsys, tmp_path):
    from autograder import cli

    monkeypatch.setattr(iso, "bwrap_works", lambda: False)
    with pytest.raises(RuntimeError, match="bubblewrap"):
        iso.choose("auto")
    path = write(source_notebook("collab"), tmp_path)
    code = cli.main(["grade", str(path), "-a", "collab", "--device", "cpu"])
    assert code == 2 and "`bubblewrap`" in capsys.readouterr().err


def test_weak_isolation_is_said_in_every_result(tmp_path):
    spec = get("collab")
    parts = [dataclasses.replace(p, limits=SHORT) for p in spec.parts if p.id == "sigmoid_range"]
    with Grader(dataclasses.replace(spec, parts=parts), "cpu", "rlimits") as grader:
        result = grade(grader, tmp_path, source_notebook("collab"))
    assert result.score == result.max_score
    assert any(w.startswith("WARNING: weak isolation") for w in result.warnings), result.warnings
    text = result.to_text()
    assert text.splitlines()[1].startswith("WARNING: weak isolation"), text
    assert "cgroups v2" in result.isolation_note and "uid" in result.isolation_note


def test_grade_twice_in_one_run_second_result_as_alone(tmp_path):
    """``grade good bad good``: the hostile submission changes nothing of the next one's
    result (the first is graded before anything else ran in the sandbox)."""
    from autograder import cli

    good = write(source_notebook("collab"), tmp_path, "good.ipynb")
    bad = write(hostile_notebook(PLANT, "_plant()"), tmp_path, "bad.ipynb")
    out = tmp_path / "out.json"
    argv = ["grade", str(good), str(bad), str(good), "-a", "collab", "--device", "cpu", "-q"]
    assert cli.main([*argv, "--json", str(out)]) == 0
    alone, hostile, after = json.loads(out.read_text())
    assert hostile["status"] == "graded" and alone["score"] == alone["max_score"] == 10
    for key in ("status", "score", "warnings"):
        assert after[key] == alone[key], key
    assert [p["messages"] for p in after["parts"]] == [p["messages"] for p in alone["parts"]]
