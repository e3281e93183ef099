"""How long grading one correct collab submission takes once the grader is warm.

Prints, for the reference solution graded as a submission:
  - warm: the median of several gradings with one Grader (zygote already started);
  - cold: a fresh Grader (and so a fresh sandbox, Python and torch start-up) per grading;
and the ratio cold / warm, measured in the same run. The training part is timed
separately, since its cost is the student's training loop, not the grader.

    .venv/bin/python benchmarks/bench_grade.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from autograder.assignments import get
from autograder.grade import Grader

ASSIGNMENT = "collab"


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    spec = get(ASSIGNMENT)
    fast = [p.id for p in spec.parts if p.id != "train"]
    path = spec.source_path

    def cold() -> None:
        with Grader(spec, device="cpu") as grader:
            grader.grade(path, only=fast)

    cold_times = [timed(cold) for _ in range(max(2, args.repeat // 2))]
    with Grader(spec, device="cpu") as grader:
        grader.grade(path, only=fast)  # warm up: reference outputs cached, zygote started
        warm_times = [timed(lambda: grader.grade(path, only=fast)) for _ in range(args.repeat)]
        train_time = timed(lambda: grader.grade(path, only=["train"]))
        result = grader.grade(path)
    warm, cold_median = statistics.median(warm_times), statistics.median(cold_times)
    print(f"{ASSIGNMENT}: {len(fast)} parts without training, isolation {result.isolation}")
    print(f"  warm grader: {warm:.2f} s per submission (median of {args.repeat})")
    print(f"  cold grader: {cold_median:.2f} s per submission (median of {len(cold_times)})")
    print(f"  ratio cold / warm: {cold_median / warm:.1f}x")
    print(f"  training part (the student's fit_collab, run in the sandbox): {train_time:.2f} s")
    score = f"{result.score:g}/{result.max_score:g}"
    print(f"  whole submission warm: {result.seconds:.2f} s, score {score}")


if __name__ == "__main__":
    main()
