"""The GPU autograder, checked against the CPU one: same points, part by part.

Run on a machine with an NVIDIA GPU (``make gpu-check``); elsewhere it runs the CPU half and
says plainly that the GPU half was not run. It

1. grades, on the CPU and (with CUDA) on the GPU, every assignment's reference (must earn
   every point), its release (must earn none) and the known-wrong variants: those the tests
   use (``WRONG`` in ``tests/test_<id>.py``) and the ``Mistake`` patches of
   ``autograder/assignments``; prints a table part by part (CPU points, CUDA points, seconds
   each) and fails on any part whose points differ;
2. asks a part inside the sandbox what it sees: TF32 off (a float32 matrix product as
   accurate as full float32), new tensors on the part's device, and only the NVIDIA device
   nodes CUDA needs (none on the CPU);
3. grades a class of generated ``collab`` submissions (``benchmarks/bench_autograde.py``'s
   mix) with ``grade-class`` on the CPU, then ``--device cuda`` with the local pool and with
   a Dask ``LocalCluster`` whose workers declare ``GPU=1``; prints the seconds, the ratios
   to the CPU run, and fails if any student's score differs.

Exit status: 0 when everything agreed, 1 otherwise. Usage::

    python benchmarks/gpu_check.py [--quick] [--assignments collab,rnns] [--students 50]
        [--workers N] [--max-variants N] [--no-class]

``--quick`` (what CI runs, in ``tests/test_gpu_check.py``): collab's small parts, two variants
of each kind, a class of six.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import nbformat  # noqa: E402
import torch  # noqa: E402

from autograder import assignments  # noqa: E402
from autograder.course.cycle import nbgrader_environment  # noqa: E402
from autograder.course.layout import Course  # noqa: E402
from autograder.course.results import ResultStore  # noqa: E402
from autograder.grade import Grader  # noqa: E402
from autograder.sandbox import Limits, Sandbox  # noqa: E402
from autograder.sandbox import isolation as iso  # noqa: E402
from tests.submissions import (  # noqa: E402
    append_code,
    release_notebook,
    replace_in_cell,
    source_notebook,
)

QUICK_PARTS = ["create_params", "embedding", "sigmoid_range", "dot_product", "embedding_dot_bias"]


def card_name() -> str:
    """The GPU's name, asked in a separate process (CUDA is never started in this one, whose
    graders' sandboxes start their own)."""
    code = "import torch; print(torch.cuda.get_device_name(0))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return done.stdout.strip() or f"unknown ({done.stderr.strip()[-200:]})"


def grade_table(ids: list[str], devices: list[str], args, workdir: Path) -> int:
    """Grade every variant on every device; print the table; the number of failures."""
    failures = 0
    header = f"{'assignment':14s} {'submission':44s} {'part':22s}"
    header += "".join(f" {d.upper() + ' pts':>9s} {d.upper() + ' s':>7s}" for d in devices)
    print(header + "  verdict", flush=True)
    for assignment_id in ids:
        assignment = assignments.get(assignment_id)
        only_parts = QUICK_PARTS if args.quick else None
        graders = {d: Grader(assignment, device=d) for d in devices}
        try:
            for name, notebook, only in variants(graders["cpu"], args.max_variants, args.quick):
                only = only or only_parts
                folder = workdir / "table" / assignment_id
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / "submission.ipynb"
                nbformat.write(notebook, path)
                results = {d: graders[d].grade(path, only=only) for d in devices}
                failures += _print_rows(assignment_id, name, results, devices)
        finally:
            for grader in graders.values():
                grader.close()
    return failures


def _print_rows(assignment_id: str, name: str, results: dict, devices: list[str]) -> int:
    failures = 0
    first = results[devices[0]]
    for index, part in enumerate(first.parts):
        rows = [results[d].parts[index] for d in devices]
        points = {r.points for r in rows}
        problem = ""
        if len(points) > 1:
            problem = "DISAGREE"
        elif name == "reference" and rows[0].points != rows[0].max_points:
            problem = "REFERENCE NOT FULL"
        elif name == "release" and rows[0].points != 0:
            problem = "RELEASE NOT ZERO"
        failures += bool(problem)
        cells = "".join(f" {r.points:9.2f} {r.seconds:7.2f}" for r in rows)
        print(f"{assignment_id:14s} {name[:44]:44s} {part.id[:22]:22s}{cells}  "
              f"{problem or 'ok'}", flush=True)  # fmt: skip
        if problem:
            for device, row in zip(devices, rows, strict=True):
                print(f"    {device}: {' | '.join(row.messages)[:400]}")
    return failures


# ----------------------------------------------------------------- 1. the submissions
def variants(grader: Grader, most: int | None, quick: bool):
    """(name, notebook, parts to grade or None for all) for the reference, the release and
    the known-wrong variants of ``grader``'s assignment: the tests' WRONG edits, then the
    assignment's Mistake patches (the patched definitions appended as a last cell)."""
    assignment_id = grader.assignment.id
    source = source_notebook(assignment_id)
    yield "reference", source, None
    yield "release", release_notebook(assignment_id), None
    try:
        wrong = __import__(f"tests.test_{assignment_id}", fromlist=["WRONG"]).WRONG
    except (ImportError, AttributeError):  # an assignment whose tests list no variants
        wrong = {}
    wanted = {p.id for p in grader.assignment.parts if not quick or p.id in QUICK_PARTS}
    tested = [(n, v) for n, v in sorted(wrong.items()) if v[3] in wanted]
    for name, (cell, old, new, part_id, _) in tested[:most]:
        yield f"test: {name}", replace_in_cell(source, cell, old, new), [part_id]
    patched = [(p, m) for p in grader.assignment.parts if p.id in wanted for m in p.mistakes]
    for part, mistake in patched[:most]:
        try:
            sources = grader.mistake_sources(mistake)
        except ValueError:  # the edit does not apply (tests/test_specs.py says so)
            continue
        yield f"mistake: {mistake.name}", append_code(source, "\n\n".join(sources)), [part.id]


# ----------------------------------------------------------------- 2. inside the sandbox
def sandbox_view(device: str) -> int:
    """Ask a part in the sandbox (``drivers/environment.py``) what it sees; the failures."""
    part = {"statements": [], "driver": "environment", "function": "report", "cases": [{}],
           "forbidden_ops": []}  # fmt: skip
    with Sandbox(device) as sandbox:
        outcome = sandbox.run(part, {}, Limits(cpu=20.0, wall=60.0))
        isolation = sandbox.isolation
        log = (sandbox._root / "zygote.log").read_text(errors="replace")[-1500:]
    record = (outcome.meta.get("cases") or [{}])[0]
    out = {k.split("/", 1)[1]: v for k, v in outcome.outputs.items()}
    if not outcome.finished or record.get("error") or "matmul_error" not in out:
        print(f"  {device}: the probe failed ({outcome.status}): {record.get('error')}\n{log}")
        return 1
    nodes = sorted(bytes(out["nodes"].tolist()).decode().split())
    error = float(out["matmul_error"])
    failures = []
    cuda = device.startswith("cuda")
    if cuda and (bool(out["tf32_matmul"]) or bool(out["tf32_cudnn"])):
        failures.append("TF32 is on")
    if error > 1e-4:  # full float32: about 1e-6; TF32: about 1e-3
        failures.append(f"a float32 product is {error:.1e} off: TF32 in effect?")
    if not bool(out["new_tensors_on_device"]):
        failures.append("new tensors are not made on the part's device")
    if cuda and not bool(out["cuda_available"]):
        failures.append("CUDA is not available inside the sandbox")
    expected = sorted(iso.gpu_nodes()) if cuda else []
    if isolation == "bwrap" and nodes != expected:
        failures.append(f"device nodes {nodes}, expected {expected}")
    tf32 = f"matmul {bool(out['tf32_matmul'])}, cuDNN {bool(out['tf32_cudnn'])}" if cuda else "n/a"
    print(f"  {device} ({isolation}): TF32 {tf32}; float32 512x512 product off by {error:.1e}; "
          f"new tensors on the part's device: {bool(out['new_tensors_on_device'])}; "
          f"/dev/nvidia*: {', '.join(nodes) or 'none'}  {'; '.join(failures) or 'ok'}")  # fmt: skip
    return len(failures)


# ----------------------------------------------------------------- 3. a class
def make_class(root: Path, students: int) -> Path:
    """A course folder with a generated class of collab submissions (bench_autograde.py's
    mix of correct, wrong, broken and hanging), collected as nbgrader would."""
    from bench_autograde import class_kinds

    from tests.course.students import submission, write_submission

    root.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder / "collab", root / folder / "collab")
    course = Course.open(root)
    for index, kind in enumerate(class_kinds(students)):
        work = submission("collab", kind, seed=index, hang="sigmoid_range")
        write_submission(course.submitted(f"student{index:03d}", "collab"), "collab.ipynb", work)
    return root


def class_run(workdir: Path, devices: list[str], students: int, workers: int, quick: bool) -> int:
    """Grade one generated class with grade-class (quick: collab's small parts) on every
    device (and with Dask on CUDA); print times and ratios; the number of students whose
    points differ from the CPU run's, and of runs that failed."""
    base = make_class(workdir / "base", students)
    parts = [f"--parts={','.join(QUICK_PARTS)}"] if quick else []
    runs = [("cpu", "local")]
    if "cuda" in devices:
        runs += [("cuda", "local"), ("cuda", "local-cluster")]
    seconds, points, failures = {}, {}, 0
    for device, scheduler in runs:
        root = workdir / f"{device}-{scheduler}"
        shutil.copytree(base, root)
        command = [sys.executable, "-m", "autograder", "grade-class", "collab", "--no-gradebook",
                   f"--course={root}", f"--workers={workers}", f"--device={device}",
                   f"--scheduler={scheduler}", *parts]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, env=nbgrader_environment(),
                              capture_output=True, text=True)  # fmt: skip
        seconds[(device, scheduler)] = time.monotonic() - started
        graded = ResultStore(Course.open(root), "collab").all()
        points[(device, scheduler)] = {
            s: [p.points for p in r.parts] for s, r in graded.items() if r.status == "graded"
        }
        ok = done.returncode in (0, 3) and len(graded) == students  # 3: some were not notebooks
        failures += not ok
        print(f"  {device:4s} {scheduler:13s} {students} students, {workers} workers: "
              f"{seconds[(device, scheduler)]:6.1f} s (exit {done.returncode})"
              f"{'' if ok else ' FAILED: ' + done.stderr[-600:]}", flush=True)  # fmt: skip
    cpu = points[("cpu", "local")]
    for run in runs[1:]:
        differ = sorted(s for s in cpu if points[run].get(s) != cpu[s])
        failures += len(differ)
        ratio = seconds[("cpu", "local")] / seconds[run]
        print(
            f"  {run[0]} {run[1]}: {ratio:.2f}x the CPU run's speed (CPU seconds / these); "
            f"{len(differ)} students' points differ from the CPU run's {differ[:5]}"
        )
    if len(runs) == 1:
        print("  the CUDA runs were NOT made (no CUDA device)")
    print(f"  mean points per student (cpu): {sum(map(sum, cpu.values())) / max(1, len(cpu)):.2f}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small check CI runs")
    parser.add_argument("--assignments", help="comma-separated ids (default: all)")
    parser.add_argument("--students", type=int, help="class size (default 50; quick: 6)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--max-variants", type=int, help="wrong variants of each kind, per "
                        "assignment (default: all; quick: 2)")  # fmt: skip
    parser.add_argument("--no-class", action="store_true", help="skip the class runs")
    parser.add_argument("--keep", help="keep the generated files here")
    args = parser.parse_args(argv)
    if args.quick:
        args.max_variants = args.max_variants or 2
        args.workers = min(args.workers, 2)
    args.students = args.students or (6 if args.quick else 50)
    ids = args.assignments.split(",") if args.assignments else assignments.ASSIGNMENT_IDS
    ids = ["collab"] if args.quick and not args.assignments else ids
    cuda = torch.cuda.is_available()
    devices = ["cpu", "cuda"] if cuda else ["cpu"]
    card = card_name() if cuda else "none"
    print(f"torch {torch.__version__}; {os.cpu_count()} CPU cores; load average "
          f"{os.getloadavg()[0]:.1f}; GPU: {card}", flush=True)  # fmt: skip
    if not cuda:
        print("NO CUDA DEVICE HERE: the GPU half was NOT run; only the CPU half follows.")
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="dlf-gpu-check-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    failures = 0
    try:
        print("\n== 1. grades, part by part", flush=True)
        failures += grade_table(ids, devices, args, workdir)
        print(f"(section 1: {time.monotonic() - started:.0f} s)")
        print("\n== 2. inside the sandbox", flush=True)
        for device in devices:
            failures += sandbox_view(device)
        if not args.no_class:
            print(f"\n== 3. a class, graded by grade-class ({args.students} students, "
                  f"{args.workers} workers)", flush=True)  # fmt: skip
            failures += class_run(
                workdir / "class", devices, args.students, args.workers, args.quick
            )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{failures} failure(s) in {time.monotonic() - started:.0f} s; GPU half "
          f"{'run' if cuda else 'NOT run (no CUDA device)'}")  # fmt: skip
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
