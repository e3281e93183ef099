"""Benchmark: the grading service under a bounded load, against ``grade-class``, same files.

Not a test (no assertions on time). It generates ``--submissions`` notebooks of ``collab``
(correct, wrong in one of the known ways, unanswered), then, in one run on this machine:

1. ``grade-class`` (the course batch: :class:`~autograder.course.batch.ClassGrader` on a
   local pool of ``--workers`` warm processes, gradebook off) grades them from a course
   folder; its workers are warmed before the clock starts;
2. ``python -m autograder serve`` (same workers, warmed the same way) receives them from
   ``--clients`` concurrent clients on loopback, each uploading one notebook, polling until
   its result is in, then uploading the next;
3. one submission to the idle service, ``--idle`` times: the latency a lone reader sees.

Both grade the assignment without its training part (``parts=quick``). It prints the
throughput of each and their ratio (the service's overhead), p50 and p95 of upload ->
result, and the idle latencies, next to the cold start of a new process grading the same
submission (what ``python -m autograder grade`` pays each time). Usage::

    python benchmarks/bench_service.py [--submissions 200] [--clients 16] [--workers 2]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from autograder.course.batch import ClassGrader  # noqa: E402
from autograder.course.cluster import make_pool  # noqa: E402
from autograder.course.worker import GraderSettings  # noqa: E402
from autograder.service.dispatch import quick_parts  # noqa: E402
from tests.course.conftest import make_course  # noqa: E402
from tests.course.students import submission  # noqa: E402
from tests.service.conftest import Service  # noqa: E402

ASSIGNMENT = "collab"
# What `grade` does from a cold start, for these parts (the CLI grades every part: training too).
COLD = (
    "import sys; from autograder.assignments import get; from autograder.grade import Grader; "
    "from autograder.service.dispatch import quick_parts; "
    "g = Grader(get('collab'), 'cpu', 'bwrap'); "
    "r = g.grade(sys.argv[1], list(quick_parts('collab'))); "
    "g.close(); assert r.status == 'graded'"
)
MIX = ["correct"] * 10 + ["wrong"] * 7 + ["unanswered"] * 3


def notebooks(count: int) -> list[bytes]:
    kinds = [MIX[(7 * i) % len(MIX)] for i in range(count)]
    return [
        nbformat.writes(submission(ASSIGNMENT, k, seed=i)).encode() for i, k in enumerate(kinds)
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def grade_class(folder: Path, files: list[bytes], workers: int) -> float:
    """Seconds for the course batch to grade ``files`` with warm workers."""
    course = make_course(folder / "course", [ASSIGNMENT])
    for i, data in enumerate(files):
        target = course.submitted(f"s{i:03d}", ASSIGNMENT) / f"{ASSIGNMENT}.ipynb"
        target.parent.mkdir(parents=True)
        target.write_bytes(data)
    settings = GraderSettings(ASSIGNMENT, "cpu", "bwrap", None, quick_parts(ASSIGNMENT))
    grader = ClassGrader(course, settings, gradebook=False, stream=io.StringIO())
    with make_pool(settings, "local", workers) as pool:
        warmups = [pool.executor.submit(time.sleep, 0.5) for _ in range(workers)]
        concurrent.futures.wait(warmups)  # the initializer (warm-up) ran before these
        started = time.monotonic()
        report = grader.run(pool)
        seconds = time.monotonic() - started
    print(f"grade-class: {len(report.graded)} graded, {len(report.ungradable)} ungradable")
    return seconds


def upload_and_wait(service: Service, data: bytes, client: str) -> float:
    started = time.monotonic()
    sent = service.submit(ASSIGNMENT, data, client)
    sent.raise_for_status()
    url = f"{service.url}{sent.json()['url']}?wait=30"  # long polling
    while True:
        info = service.http.get(url, timeout=60).json()
        if info["state"] not in ("queued", "running"):
            assert info["state"] == "graded", info
            return time.monotonic() - started


def load(service: Service, files: list[bytes], clients: int) -> tuple[float, list[float]]:
    """``clients`` threads share ``files``; each waits for its result before the next."""
    todo = list(enumerate(files))
    lock = threading.Lock()
    latencies: list[float] = []

    def client(n: int) -> None:
        while True:
            with lock:
                if not todo:
                    return
                _, data = todo.pop()
            latencies.append(upload_and_wait(service, data, f"10.9.0.{n}"))

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--idle", type=int, default=5)
    args = parser.parse_args()
    files = notebooks(args.submissions)
    correct = nbformat.writes(submission(ASSIGNMENT, "correct")).encode()
    with tempfile.TemporaryDirectory(prefix="dlf-bench-service-") as tmp:
        folder = Path(tmp)
        batch = grade_class(folder, files, args.workers)
        options = ["--workers", str(args.workers), "--warm", f"{ASSIGNMENT}:quick"]
        options += ["--device", "cpu", "--rate", "100000/minute", "--request-rate"]
        options += ["100000/minute", "--max-queue", "100000"]
        service = Service(folder, *options).start()
        try:
            warm = [upload_and_wait(service, correct, f"10.8.0.{i}") for i in range(2)]
            print(f"service warm-up: {', '.join(f'{w:.2f}' for w in warm)} s")
            wall, latencies = load(service, files, args.clients)
            time.sleep(1.0)
            idle = [upload_and_wait(service, correct, "10.7.0.1") for _ in range(args.idle)]
        finally:
            service.stop()
        path = folder / "correct.ipynb"
        path.write_bytes(correct)
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-c", COLD, str(path)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True,
        )  # fmt: skip
        cold = time.monotonic() - started
    n = args.submissions
    print(f"\n{n} submissions of {ASSIGNMENT} (quick parts), {args.workers} workers, CPU")
    print(f"grade-class (warm workers):  {batch:7.1f} s  {n / batch:6.2f} submissions/s")
    print(
        f"service, {args.clients} clients:       {wall:7.1f} s  {n / wall:6.2f} submissions/s"
        f"  (service time / grade-class time: {wall / batch:.2f})"
    )
    print(
        f"upload -> result under load: p50 {percentile(latencies, 0.5):.2f} s, "
        f"p95 {percentile(latencies, 0.95):.2f} s"
    )
    print(
        f"idle service, one correct submission: median {statistics.median(idle):.2f} s "
        f"(runs: {', '.join(f'{x:.2f}' for x in idle)})"
    )
    print(f"cold start: a new process grading the same submission (quick parts): {cold:.2f} s")


if __name__ == "__main__":
    main()
