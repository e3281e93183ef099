"""The trusted side of the sandbox: start a warm zygote, hand it jobs, read back tensors.

A :class:`Sandbox` keeps one zygote (torch already imported) alive across jobs, so a job
costs a ``fork`` rather than a Python start-up. A job is one submission's parts, run in
order in one child, each with its own limits: a hang, a crash or a kill ends that part,
and the parts after it are left for the caller to run in a fresh child. If the zygote
itself dies or stops answering, it is restarted and the part that was running is reported
as failed, never retried blindly.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from autograder.sandbox import isolation as iso

MAX_OUTPUT_BYTES = 512 << 20
MAX_META_BYTES = 1 << 20
MAX_TEXT = 4000
START_TIMEOUT = 120.0
TASK_COUNT_SECONDS = 2.0


class SandboxError(RuntimeError):
    """The sandbox could not be started or stopped answering."""


@dataclass
class Limits:
    """Per-job limits: wall and CPU seconds, extra memory in bytes, processes, threads.

    The defaults suit a part whose probes are small (its reference needs well under a
    second of CPU): an endless loop is stopped by the CPU limit after ``cpu`` seconds, a
    process that sleeps or waits by the wall limit. Parts that train or loop over large
    inputs declare more; ``autograder build`` checks every limit leaves the reference
    solution 10x headroom."""

    wall: float = 20.0
    cpu: float = 5.0
    memory: int = 3 << 30
    extra_processes: int = 64
    file_size: int = 256 << 20
    threads: int = 1


@dataclass
class JobOutcome:
    """What came back from one job: the process status, tensors, and the child's notes."""

    status: str  # "ok", "timeout", "signal:SIGKILL", "exit:N" or "sandbox-failed: ..."
    seconds: float
    cpu_seconds: float = 0.0  # the CPU time the job's process used
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    output_text: str = ""
    problem: str | None = None  # unreadable output and the like

    @property
    def finished(self) -> bool:
        return self.status == "ok" and bool(self.meta.get("finished"))


def _tasks_of_uid(uid: int) -> int:
    """How many tasks (threads) the user owns now: RLIMIT_NPROC counts these."""
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields.get("Threads", "1").strip())
        except (OSError, KeyError, ValueError):
            continue
    return count


class Sandbox:
    """A warm zygote in bubblewrap (or, failing that, under resource limits only)."""

    def __init__(
        self,
        device: str = "cpu",
        isolation: str = "auto",
        warm_optimizers=False,
        gpu_memory_fraction: float | None = None,
    ):
        self.device = device
        # The share of the GPU's memory each child may cache (several workers, one GPU).
        self.gpu_memory_fraction = gpu_memory_fraction
        self.isolation = iso.choose(isolation)
        self.options = ("--warm-optimizers",) if warm_optimizers else ()
        self._root = Path(tempfile.mkdtemp(prefix="dlf-grader-"))
        self._jobs = self._root / "jobs"
        self._jobs.mkdir(mode=0o700)
        self._proc: subprocess.Popen | None = None
        self._ready = False
        self._counter = 0
        self._task_count: tuple[float, int] | None = None
        self.restarts = 0

    @property
    def description(self) -> str:
        return iso.DESCRIPTIONS[self.isolation]

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def launch(self) -> None:
        """Start the zygote's process without waiting for it (it imports torch for a second
        or two: the caller can get on with its own start-up meanwhile)."""
        if self._proc is not None and self._proc.poll() is None:
            return
        if self.isolation == "bwrap":
            cmd = iso.bwrap_command(self._jobs, self.device, self.options)
        else:
            cmd = iso.plain_command(self.options)
        log = open(self._root / "zygote.log", "ab")  # noqa: SIM115 - closed with the process
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"}
        if self.device.startswith("cuda"):  # which GPU (a Dask worker's), where libcuda is
            for name in ("CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"):
                if name in os.environ:
                    env[name] = os.environ[name]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env, bufsize=0
        )
        log.close()
        self._ready = False

    def start(self) -> None:
        """Launch the zygote if needed and wait until it is ready for jobs."""
        if self._proc is not None and self._proc.poll() is None and self._ready:
            return
        self.launch()
        line = self._readline(START_TIMEOUT)
        if line is None or not line.get("ready"):
            self._kill()
            tail = (self._root / "zygote.log").read_text(errors="replace")[-2000:]
            raise SandboxError(f"the sandbox did not start ({self.isolation}): {tail.strip()}")
        self._ready = True

    def close(self) -> None:
        self._kill()
        shutil.rmtree(self._root, ignore_errors=True)

    def _kill(self) -> None:
        self._ready = False
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            for pipe in (self._proc.stdin, self._proc.stdout):
                if pipe:
                    pipe.close()
        self._proc = None

    def _readline(self, timeout: float) -> dict | None:
        """One JSON line from the zygote, or None on timeout, EOF or garbage."""
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + timeout
        buffer = b""
        while not buffer.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._proc.stdout], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self._proc.stdout.fileno(), 65536)
            if not chunk:
                return None
            buffer += chunk
        try:
            value = json.loads(buffer.decode())
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        return value if isinstance(value, dict) else None

    def _tasks(self) -> int:
        """The user's task count, recounted at most every few seconds (reading /proc costs
        milliseconds; ``extra_processes`` leaves room for what changed since)."""
        now = time.monotonic()
        if self._task_count is None or now - self._task_count[0] > TASK_COUNT_SECONDS:
            self._task_count = (now, _tasks_of_uid(os.getuid()))
        return self._task_count[1]

    def _fresh_job_dir(self) -> Path:
        for entry in self._jobs.iterdir():  # nothing a previous job left may be read later
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink()
        self._counter += 1
        job_dir = self._jobs / str(self._counter)
        job_dir.mkdir(mode=0o700)
        return job_dir

    def run(self, job: dict, probes: dict[str, torch.Tensor], limits: Limits) -> JobOutcome:
        """Run one job (see :mod:`autograder.drivers.runtime` for ``job``'s keys)."""
        outcomes = self.run_parts([(job, probes, limits)])
        return outcomes[0] if outcomes else JobOutcome("sandbox-failed: nothing ran", 0.0)

    def run_parts(
        self, jobs: list[tuple[dict, dict[str, torch.Tensor], Limits]]
    ) -> list[JobOutcome]:
        """Run several jobs (one submission's parts) in order in one fresh child, each with
        its own limits. One outcome per job that started: if one is stopped (a hang, a crash),
        the list ends with it, and the jobs after it have not run."""
        self.start()
        job_dir = self._fresh_job_dir()
        parts = []
        for index, (job, probes, limits) in enumerate(jobs):
            part_dir = job_dir / str(index)
            part_dir.mkdir(mode=0o700)
            with open(part_dir / "job.json", "w") as fh:
                json.dump({**job, "device": self.device, "threads": limits.threads,
                           "gpu_memory_fraction": self.gpu_memory_fraction}, fh)  # fmt: skip
            tensors = {k: v.contiguous() for k, v in probes.items()}
            save_file(tensors, part_dir / "probes.safetensors")
            parts.append({"dir": str(index), "timeout": limits.wall, "cpu": float(limits.cpu)})
        every = [limits for _, _, limits in jobs]
        inside = f"{iso.SANDBOX_JOBS}/{job_dir.name}" if self.isolation == "bwrap" else str(job_dir)
        request = {
            "job": inside,
            "parts": parts,
            "memory": 0 if self.device.startswith("cuda") else max(x.memory for x in every),
            "nproc": self._tasks() + max(x.extra_processes for x in every),
            "file_size": max(x.file_size for x in every),
            "device": self.device,
            "gpu_memory_fraction": self.gpu_memory_fraction,
        }
        started = time.monotonic()
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write((json.dumps(request) + "\n").encode())
        except BrokenPipeError:
            self._kill()
            self.restarts += 1
            return [JobOutcome("sandbox-failed: the sandbox had stopped", 0.0)]
        answer = self._readline(sum(x.wall for x in every) + 60)
        seconds = time.monotonic() - started
        results = answer.get("parts") if answer and answer.get("job") == inside else None
        if not isinstance(results, list) or not results:
            self._kill()
            self.restarts += 1
            outcomes = self._salvage(job_dir, len(jobs), seconds)
            shutil.rmtree(job_dir, ignore_errors=True)
            return outcomes
        outcomes = []
        for index, item in enumerate(results[: len(jobs)]):
            item = item if isinstance(item, dict) else {}
            outcome = JobOutcome(
                str(item.get("status")),
                float(item.get("seconds", 0.0)),
                float(item.get("cpu", 0.0)),
            )
            self._collect(job_dir / str(index), outcome)
            outcomes.append(outcome)
        shutil.rmtree(job_dir, ignore_errors=True)
        return outcomes

    def _salvage(self, job_dir: Path, count: int, seconds: float) -> list[JobOutcome]:
        """The zygote died or stopped answering during a job: the parts that finished keep
        their results; the one that was running is the one that failed."""
        outcomes = []
        for index in range(count):
            outcome = JobOutcome("ok", 0.0)
            self._collect(job_dir / str(index), outcome)
            if not outcome.finished:
                outcome.status = "sandbox-failed: the sandbox stopped answering"
                outcome.seconds = seconds
                outcomes.append(outcome)
                break
            outcomes.append(outcome)
        return outcomes

    @staticmethod
    def _collect(job_dir: Path, outcome: JobOutcome) -> None:
        """Read back tensors and notes, refusing anything oversized or malformed."""
        text = job_dir / "output.txt"
        if text.is_file() and not text.is_symlink():
            with open(text, "rb") as fh:
                outcome.output_text = fh.read(MAX_TEXT).decode(errors="replace")
        meta = job_dir / "meta.json"
        if meta.is_file() and not meta.is_symlink() and meta.stat().st_size <= MAX_META_BYTES:
            try:
                value = json.loads(meta.read_text(errors="replace"))
                outcome.meta = value if isinstance(value, dict) else {}
            except json.JSONDecodeError:
                outcome.problem = "the submission's notes were not valid JSON"
        out = job_dir / "out.safetensors"
        if out.is_file() and not out.is_symlink():
            if out.stat().st_size > MAX_OUTPUT_BYTES:
                outcome.problem = "the submission's outputs were too large to read back"
                return
            try:
                outcome.outputs = load_file(out)
            except (SafetensorError, OSError, ValueError) as err:
                outcome.problem = f"the outputs could not be read back safely ({err})"
