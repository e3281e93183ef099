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
import secrets
import select
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load, save_file

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
        self.uid = iso.sandbox_uid()
        self.note = iso.limits_note(self.isolation)
        self._root = Path(tempfile.mkdtemp(prefix="dlf-grader-", dir=_reachable_tmp(self.uid)))
        self._jobs = self._root / "jobs"
        # Only the trusted side may create entries here: the sandbox's user (another one
        # when we are root) can reach a job folder only by its unguessable name.
        self._jobs.mkdir(mode=0o700)
        if self.uid != os.getuid():
            self._root.chmod(0o711)
            self._jobs.chmod(0o711)
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
            cmd = iso.bwrap_command(self._jobs, self.device, self.options, self._root / "stage")
        else:
            cmd = iso.plain_command(self.options)
        log = open(self._root / "zygote.log", "ab")  # noqa: SIM115 - closed with the process
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"}
        if self.device.startswith("cuda"):  # which GPU (a Dask worker's), where libcuda is
            for name in ("CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"):
                if name in os.environ:
                    env[name] = os.environ[name]
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            bufsize=0,
            cwd="/",
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
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
        return value if isinstance(value, dict) else None

    def _tasks(self) -> int:
        """The user's task count, recounted at most every few seconds (reading /proc costs
        milliseconds; ``extra_processes`` leaves room for what changed since)."""
        now = time.monotonic()
        if self._task_count is None or now - self._task_count[0] > TASK_COUNT_SECONDS:
            self._task_count = (now, _tasks_of_uid(self.uid))
        return self._task_count[1]

    def _fresh_job_dir(self) -> Path:
        """A new job folder with an unguessable name, made here and checked to be the real,
        empty folder just made (never one a submission prepared)."""
        for entry in self._jobs.iterdir():  # nothing a previous job left may be read later
            _remove(entry)
        self._counter += 1
        job_dir = self._jobs / f"{self._counter}-{secrets.token_hex(16)}"
        job_dir.mkdir(mode=0o700)
        info = os.lstat(job_dir)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or any(job_dir.iterdir()):
            raise SandboxError(f"{job_dir} is not the empty folder the grader made")
        return job_dir

    def _hand_over(self, folder: Path) -> None:
        """Let the sandbox's user write in ``folder`` (when it is another user)."""
        if self.uid != os.geteuid():
            os.chown(folder, self.uid, self.uid, follow_symlinks=False)

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
            for name in ("job.json", "probes.safetensors"):  # readable, not writable
                (part_dir / name).chmod(0o444)
            self._hand_over(part_dir)
            parts.append({"dir": str(index), "timeout": limits.wall, "cpu": float(limits.cpu)})
        self._hand_over(job_dir)
        every = [limits for _, _, limits in jobs]
        inside = iso.SANDBOX_JOB if self.isolation == "bwrap" else str(job_dir)
        request = {
            "job": inside,
            "name": job_dir.name,
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
            _remove(job_dir)
            return outcomes
        outcomes = []
        for index, item in enumerate(results[: len(jobs)]):
            item = item if isinstance(item, dict) else {}
            outcome = JobOutcome(
                str(item.get("status"))[:100],
                _number(item.get("seconds")),
                _number(item.get("cpu")),
            )
            self._collect(job_dir / str(index), outcome)
            outcomes.append(outcome)
        _remove(job_dir)
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
        """Read back tensors and notes, refusing anything oversized or malformed (the files
        were written by the student's process: no link is followed, nothing is trusted)."""
        text = _read_bounded(job_dir / "output.txt", MAX_TEXT, truncate=True)
        if text is not None:
            outcome.output_text = text.decode(errors="replace")
        raw = _read_bounded(job_dir / "meta.json", MAX_META_BYTES)
        if raw is not None:
            try:
                outcome.meta = clean_meta(json.loads(raw.decode(errors="replace")))
            except (ValueError, RecursionError, MemoryError):
                outcome.problem = "the submission's notes (meta.json) were not valid, plain JSON"
        elif (job_dir / "meta.json").exists():
            outcome.problem = "the submission's notes (meta.json) could not be read back safely"
        out = job_dir / "out.safetensors"
        if os.path.lexists(out):
            data = _read_bounded(out, MAX_OUTPUT_BYTES)
            if data is None:
                outcome.problem = "the submission's outputs were too large or not a plain file"
                return
            try:
                outcome.outputs = load(data)
            except Exception as err:  # noqa: BLE001 - safetensors raises several kinds
                outcome.problem = f"the outputs could not be read back safely ({str(err)[:200]})"


MAX_NOTES = 200  # cases, failures: more than any part has


def _text(value, limit: int = 1500) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def clean_meta(value) -> dict:
    """The child's notes reduced to what the grader reads, with the types it expects
    (anything else is dropped): ``finished``, ``load_failures``, ``cases`` (each case's
    ``error``, ``forbidden`` and ``wrong_device``: output key -> the device it came back on)."""
    if not isinstance(value, dict):
        return {}
    cases = value.get("cases") if isinstance(value.get("cases"), list) else []
    failures = value.get("load_failures")
    failures = failures if isinstance(failures, list) else []
    return {
        "finished": value.get("finished") is True,
        "load_failures": [t for t in map(_text, failures[:MAX_NOTES]) if t is not None],
        "cases": [_clean_case(c) if isinstance(c, dict) else None for c in cases[:MAX_NOTES]],
    }


def _clean_case(case: dict) -> dict:
    cleaned = {"error": _text(case.get("error")), "forbidden": _text(case.get("forbidden"), 300)}
    where = case.get("wrong_device")
    if isinstance(where, dict):
        pairs = [(_text(k, 100), _text(v, 100)) for k, v in list(where.items())[:MAX_NOTES]]
        cleaned["wrong_device"] = {k: v for k, v in pairs if k is not None and v is not None}
    return cleaned


def _number(value) -> float:
    return float(value) if isinstance(value, int | float) and 0 <= value < 1e9 else 0.0


def _read_bounded(path: Path, limit: int, truncate: bool = False) -> bytes | None:
    """The bytes of ``path`` if it is a plain file (not a link, FIFO or device) of at most
    ``limit`` bytes (or its first ``limit`` bytes, with ``truncate``); else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (info.st_size > limit and not truncate):
            return None
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(limit)
    except OSError:
        return None
    finally:
        os.close(fd)


def _reachable_tmp(uid: int) -> str:
    """A temporary folder the sandbox's user can reach (``TMPDIR`` may sit in a folder only
    the grader's user may enter: then the system's)."""
    candidates = [tempfile.gettempdir()] + (["/tmp", "/var/tmp"] if uid != os.getuid() else [])
    for candidate in candidates:
        folders = [Path(candidate), *Path(candidate).parents]
        if all(os.stat(f).st_mode & 0o001 for f in folders if f.exists()):
            return candidate
    return tempfile.gettempdir()


def _remove(path: Path) -> None:
    """Remove a file or a folder tree without following links."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass
