"""The tamper and fault corpus: hostile or broken submissions earn nothing they did not
implement, the grader never crashes, and the message says what happened."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from pathlib import Path

import pytest

from autograder.assignments import get
from autograder.grade import Grader
from autograder.sandbox import Limits
from tests.submissions import (
    append_code,
    grade,
    part,
    release_notebook,
    replace_in_cell,
    source_notebook,
)

pytestmark = pytest.mark.task("collab")

SHORT = Limits(wall=4, cpu=4, memory=1 << 30, extra_processes=32)
FAST = ["create_params", "sigmoid_range", "embedding"]


@pytest.fixture(scope="module")
def grader():
    """A collab grader with short limits, so hangs and bombs are cut quickly."""
    spec = get("collab")
    parts = [dataclasses.replace(p, limits=SHORT) for p in spec.parts]
    with Grader(dataclasses.replace(spec, parts=parts), device="cpu") as g:
        yield g


def sabotage_sigmoid(body: str):
    """The release notebook (nothing implemented) with sigmoid_range replaced by ``body``."""
    nb = release_notebook("collab")
    return append_code(nb, "def sigmoid_range(x, low, high):\n" + body)


def test_patched_comparison_functions_earn_nothing(grader, tmp_path):
    nb = append_code(release_notebook("collab"), "import torch\n"
                     "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
                     "def sigmoid_range(x, low, high):\n    torch.testing.assert_close = print\n"
                     "    return x")  # fmt: skip
    result = grade(grader, tmp_path, nb, only=FAST)
    assert result.score == 0, result.to_text()


def test_always_equal_tensor_subclass_earns_nothing(grader, tmp_path):
    nb = append_code(release_notebook("collab"), "import torch\n"
                     "class Liar(torch.Tensor):\n"
                     "    def __eq__(self, other):\n        return True\n"
                     "    def allclose(self, *a, **k):\n        return True\n"
                     "def sigmoid_range(x, low, high):\n"
                     "    return torch.zeros_like(x).as_subclass(Liar)")  # fmt: skip
    result = grade(grader, tmp_path, nb, only=FAST)
    assert not part(result, "sigmoid_range").passed
    assert "values differ" in " ".join(part(result, "sigmoid_range").messages)


def test_assert_rewriting_input_transformer_earns_nothing(grader, tmp_path):
    nb = append_code(release_notebook("collab"), "ip = get_ipython()\n"
                     "ip.input_transformers_cleanup.append(lambda lines: "
                     "[l.replace('assert', 'pass #') for l in lines])")  # fmt: skip
    result = grade(grader, tmp_path, nb)
    assert result.score == 0


@pytest.mark.parametrize(
    "body, phrase",
    [("    import os\n    os._exit(0)", "exited"),
     ("    import sys\n    sys.exit(0)", "SystemExit"),
     ("    raise KeyboardInterrupt", "KeyboardInterrupt"),
     ("    while True:\n        pass", "time limit"),
     ("    junk = [bytearray(2**28) for _ in range(1000)]", "memory"),
     ("    import os, time\n    while True:\n        try:\n            os.fork()\n"
      "        except OSError:\n            time.sleep(0.01)", "time limit"),
     ("    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)", "sigmoid_range")],
    ids=["os._exit", "sys.exit", "KeyboardInterrupt", "infinite loop", "memory bomb",
         "fork bomb", "kill the zygote"],
)  # fmt: skip
def test_faults_cost_only_their_part(grader, tmp_path, body, phrase):
    nb = append_code(source_notebook("collab"), "import torch\n"
                     "def sigmoid_range(x, low, high):\n" + body)  # fmt: skip
    result = grade(grader, tmp_path, nb, only=FAST)
    broken = part(result, "sigmoid_range")
    assert not broken.passed and phrase in " ".join(broken.messages), result.to_text()
    # The other parts are graded normally, and the grader keeps working afterwards.
    assert part(result, "create_params").passed and part(result, "embedding").passed
    again = grade(grader, tmp_path, source_notebook("collab"), only=FAST)
    assert again.score == again.max_score, again.to_text()


def test_reading_the_solutions_fails(grader, tmp_path):
    root = Path(__file__).resolve().parent.parent
    body = (
        "    import json\n"
        f"    nb = json.load(open({str(root / 'solutions/collab/collab.ipynb')!r}))\n"
        "    src = [c['source'] for c in nb['cells'] if 'def sigmoid_range' in c['source']]\n"
        "    return torch.sigmoid(x) * (high - low) + low if src else x"
    )
    nb = append_code(source_notebook("collab"), "import torch\n"
                     "def sigmoid_range(x, low, high):\n" + body)  # fmt: skip
    result = grade(grader, tmp_path, nb, only=FAST)
    broken = part(result, "sigmoid_range")
    assert not broken.passed
    assert "FileNotFoundError" in " ".join(broken.messages)


def test_writing_outside_its_folder_fails(grader, tmp_path):
    root = Path(__file__).resolve().parent.parent
    targets = [tmp_path / "pwned", root / "pwned", Path("/usr/pwned")]
    body = "".join(f"    open({str(t)!r}, 'w').write('x')\n" for t in targets)
    nb = append_code(source_notebook("collab"), "import torch\n"
                     "def sigmoid_range(x, low, high):\n" + body + "    return x")  # fmt: skip
    result = grade(grader, tmp_path, nb, only=FAST)
    assert not part(result, "sigmoid_range").passed
    assert not any(t.exists() for t in targets)


def test_no_network(grader, tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(6)
    port = server.getsockname()[1]
    received = []

    def accept():
        try:
            conn, _ = server.accept()
            received.append(conn.recv(100))
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    body = (
        "    import socket\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'leak')\n"
        "    return torch.sigmoid(x) * (high - low) + low"
    )
    nb = append_code(source_notebook("collab"), "import torch\n"
                     "def sigmoid_range(x, low, high):\n" + body)  # fmt: skip
    result = grade(grader, tmp_path, nb, only=FAST)
    thread.join()
    server.close()
    assert received == []
    assert not part(result, "sigmoid_range").passed
    assert "Error" in " ".join(part(result, "sigmoid_range").messages)


def test_not_json_and_empty_notebooks_are_reported(grader, tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("this is not json")
    result = grader.grade(bad)
    assert result.status == "ungradable" and "invalid JSON" in result.error
    empty = tmp_path / "empty.ipynb"
    empty.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    result = grader.grade(empty)
    assert result.status == "graded" and result.score == 0
    assert all("not found" in p.messages[0] for p in result.parts)


def test_forged_points_in_the_submission_are_ignored(grader, tmp_path):
    nb = release_notebook("collab")
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            meta["points"] = 1000
    result = grade(grader, tmp_path, nb)
    assert result.max_score == 10 and result.score == 0


def test_an_exception_message_cannot_claim_success(grader, tmp_path):
    nb = replace_in_cell(source_notebook("collab"), "sigmoid_range-solution",
                         "return torch.sigmoid(x) * (high - low) + low",
                         "raise RuntimeError('correct')")  # fmt: skip
    result = grade(grader, tmp_path, nb, only=FAST)
    assert not part(result, "sigmoid_range").passed
