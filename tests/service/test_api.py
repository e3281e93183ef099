"""The service's HTTP API against a real server (uvicorn, in a subprocess, on loopback): correct,
wrong and hostile notebooks are graded exactly as ``grade`` grades them; junk, oversized,
too frequent and too many uploads are refused with the reason (and Retry-After)."""

from __future__ import annotations

import concurrent.futures
import json
import sqlite3
import time

import httpx
import pytest
from nbgrader.api import Gradebook

from autograder.course.cycle import record_assignment
from autograder.result import GradeResult
from tests.conftest import grader_for
from tests.course.conftest import make_course
from tests.service.conftest import Service, notebook_bytes, require_bwrap
from tests.submissions import append_code, release_notebook, replace_in_cell, source_notebook

pytestmark = [pytest.mark.task("service"), pytest.mark.slow, pytest.mark.xdist_group("service")]

BOOK = "http://book.example.test"
FAST = ["create_params", "embedding", "sigmoid_range", "dot_product", "embedding_dot_bias"]
WRONG_SCALE = ("sigmoid_range-solution", "* (high - low) + low", "* high + low")


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    require_bwrap()
    folder = tmp_path_factory.mktemp("service")
    course = make_course(folder / "course", ["collab"])
    record_assignment(course, "collab", in_process=True)  # faster than the service's own
    (folder / "tokens.txt").write_text("# student token\nada s3cret-ada\n")
    server = Service(
        folder, "--workers", "1", "--warm", "collab:quick", "--max-queue", "3",
        "--rate", "3/minute", "--request-rate", "30/minute", "--max-upload-kb", "256",
        "--allow-origin", BOOK,
        "--tokens", str(folder / "tokens.txt"), "--course", str(course.root),
        "--retention-days", "-1",
    )  # fmt: skip
    server.course = course
    try:
        yield server.start()
    finally:
        server.stop()


def rows(service: Service) -> list[dict]:
    with sqlite3.connect(service.db.removeprefix("sqlite:///")) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM submissions ORDER BY seq")]


def same_feedback(got: dict, expected: GradeResult) -> None:
    """What the service reports is what ``grade`` reports (but the timings)."""
    want = expected.to_dict()
    for key in ("status", "score", "max_score", "isolation", "device", "warnings", "error"):
        assert got[key] == want[key], key
    strip = [{k: v for k, v in p.items() if "seconds" not in k} for p in want["parts"]]
    assert [{k: v for k, v in p.items() if "seconds" not in k} for p in got["parts"]] == strip


def test_lists_assignments_health_and_docs(service):
    listing = httpx.get(f"{service.url}/api/assignments").json()
    collab = next(a for a in listing if a["id"] == "collab")
    assert [p["id"] for p in collab["parts"]][:5] == FAST
    assert not next(p for p in collab["parts"] if p["id"] == "train")["quick"]
    health = httpx.get(f"{service.url}/healthz").json()
    assert health["isolation"] == "bwrap" and health["workers"] == 1
    spec = httpx.get(f"{service.url}/openapi.json").json()
    assert "/api/assignments/{assignment_id}/submissions" in spec["paths"]


def test_correct_and_wrong_notebooks_get_what_grade_reports(service, tmp_path):
    right = service.submit("collab", notebook_bytes(source_notebook("collab")), "10.0.1.1")
    wrong_nb = replace_in_cell(source_notebook("collab"), *WRONG_SCALE)
    wrong = service.submit("collab", notebook_bytes(wrong_nb), "10.0.1.2", filename="mine.ipynb")
    assert right.status_code == wrong.status_code == 202, (right.text, wrong.text)
    assert right.headers["location"] == right.json()["url"]
    assert right.json()["state"] in ("queued", "running")
    done = service.wait(right.json()["id"])
    assert done["state"] == "graded"
    assert done["result"]["score"] == done["result"]["max_score"] == 8
    assert all(done["phases"][p] for p in ("received", "queued", "started", "finished"))
    bad = service.wait(wrong.json()["id"])
    grader = grader_for("collab")
    path = tmp_path / "mine.ipynb"
    path.write_text(json.dumps(wrong_nb))
    expected = grader.grade(path, only=FAST)
    same_feedback(bad["result"], expected)
    assert bad["result"]["submission"] == "mine.ipynb"
    sigmoid = next(p for p in bad["result"]["parts"] if p["id"] == "sigmoid_range")
    assert not sigmoid["passed"] and any("Likely mistake" in m for m in sigmoid["messages"])
    assert bad["text"] == GradeResult.from_dict(bad["result"]).to_text()
    page = httpx.get(f"{service.url}{bad['page']}").text
    assert "[FAIL] sigmoid_range" in page and f"Score: {bad['result']['score']:g} / 8" in page


def test_hostile_notebook_is_contained_and_its_words_escaped(service):
    hostile = append_code(
        source_notebook("collab"),
        "def sigmoid_range(x, low, high):\n"
        "    import socket\n"
        f"    socket.create_connection(('127.0.0.1', {service.port}), timeout=2)\n"
        "    raise ValueError('<script>alert(1)</script>')\n",
    )
    sent = service.submit("collab", notebook_bytes(hostile), "10.0.2.1")
    assert sent.status_code == 202, sent.text
    done = service.wait(sent.json()["id"])
    sigmoid = next(p for p in done["result"]["parts"] if p["id"] == "sigmoid_range")
    assert not sigmoid["passed"]
    assert "<script>" not in " ".join(sigmoid["messages"])  # no network: it never got there
    passed = {p["id"] for p in done["result"]["parts"] if p["passed"]}
    assert passed == {"create_params", "embedding", "dot_product"}  # the rest use sigmoid_range
    page = httpx.get(f"{service.url}{done['page']}").text
    assert "<script>alert" not in page
    assert httpx.get(f"{service.url}/healthz").json()["status"] == "ok"


def test_junk_is_refused_with_the_reason_and_does_not_count(service):
    url = f"{service.url}/api/assignments"
    client = {"X-Forwarded-For": "10.0.3.1"}
    for junk in (b"", b"not json", b'{"cells": 3}', b"\xff\xfe"):
        refused = service.submit("collab", junk, "10.0.3.1")
        assert refused.status_code == 422, refused.text
        assert "not a notebook" in refused.json()["detail"] or "cell" in refused.json()["detail"]
    unknown = service.submit("nope", b"{}", "10.0.3.1")
    assert unknown.status_code == 404 and "unknown assignment 'nope'" in unknown.text
    plain = httpx.post(f"{url}/collab/submissions", content=b"x", headers=client)
    assert plain.status_code == 415
    bad_token = service.submit(
        "collab", b"{}", "10.0.3.1", headers={"Authorization": "Bearer guess"}
    )
    assert bad_token.status_code == 401 and "token" in bad_token.text
    # none of those counted: the client still has its 3 attempts
    release = notebook_bytes(release_notebook("collab"))
    sent = [service.submit("collab", release, "10.0.3.1") for _ in range(3)]
    assert [s.status_code for s in sent] == [202, 202, 202], [s.text for s in sent]
    limited = service.submit("collab", release, "10.0.3.1")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert service.submit("collab", release, "10.0.3.2").status_code == 202  # others may
    for s in sent:
        assert service.wait(s.json()["id"])["result"]["score"] == 0


def test_a_raw_json_body_is_a_submission_and_deep_nesting_is_refused(service):
    url = f"{service.url}/api/assignments/collab/submissions?parts=quick"
    headers = {"Content-Type": "application/x-ipynb+json", "X-Forwarded-For": "10.0.7.1"}
    sent = httpx.post(url, content=notebook_bytes(release_notebook("collab")), headers=headers)
    assert sent.status_code == 202, sent.text
    assert service.wait(sent.json()["id"])["result"]["score"] == 0
    nested = b'{"cells": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    refused = httpx.post(url, content=nested, headers=headers)
    assert refused.status_code == 422 and "nested too deeply" in refused.text, refused.text


def test_oversized_upload_is_413(service):
    big = b'{"cells": [], "padding": "' + b"x" * 300_000 + b'"}'
    refused = service.submit("collab", big, "10.0.4.1")
    assert refused.status_code == 413 and "larger than" in refused.json()["detail"]
    streamed = httpx.post(
        f"{service.url}/api/assignments/collab/submissions",
        content=iter([big[:100_000], big[100_000:]]),  # chunked: no Content-Length
        headers={"Content-Type": "application/json", "X-Forwarded-For": "10.0.4.1"},
    )
    assert streamed.status_code == 413


def test_course_token_records_the_student_and_the_gradebook(service):
    sent = service.submit(
        "collab", notebook_bytes(source_notebook("collab")), "10.0.5.1",
        headers={"Authorization": "Bearer s3cret-ada"},
    )  # fmt: skip
    assert sent.status_code == 202, sent.text
    service.wait(sent.json()["id"])
    row = next(r for r in rows(service) if r["id"] == sent.json()["id"])
    assert row["student"] == "ada" and row["client"] == "student:ada"
    course = service.course
    deadline = time.monotonic() + 60
    while True:  # the gradebook is written just after the result
        try:
            with Gradebook(course.db_url, course.course_id) as gb:
                submission = gb.find_submission("collab", "ada")
                if submission.score == 8:
                    break
        except Exception:  # noqa: BLE001 - not there yet
            pass
        assert time.monotonic() < deadline, "not in the gradebook"
        time.sleep(0.5)


def test_cors_allows_only_the_books_origin(service):
    url = f"{service.url}/api/assignments/collab/submissions"
    ask = {"Access-Control-Request-Method": "POST"}
    ok = httpx.options(url, headers={"Origin": BOOK, **ask})
    assert ok.headers.get("access-control-allow-origin") == BOOK
    other = httpx.options(url, headers={"Origin": "http://evil.test", **ask})
    assert "access-control-allow-origin" not in other.headers


def test_a_full_queue_answers_503_with_retry_after(service):
    release = notebook_bytes(release_notebook("collab"))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda i: service.submit("collab", release, f"10.0.6.{i}"), range(8))
        )
    codes = [a.status_code for a in answers]
    assert 503 in codes and set(codes) <= {202, 503}, codes
    full = next(a for a in answers if a.status_code == 503)
    assert int(full.headers["retry-after"]) >= 1 and "queue is full" in full.text
    for answer in answers:
        if answer.status_code == 202:
            assert service.wait(answer.json()["id"])["state"] == "graded"
