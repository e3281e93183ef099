"""The trusted side of the sandbox: start a warm zygote, hand it jobs, read back tensors.

Words, the same throughout the sandbox: a *job* is one submission's parts, run in order in
one child forked from the warm zygote (one job folder, one request); a *part* is one graded
part of it, with its own folder (``part.json``, ``probes.safetensors`` in; tensors, notes and
printed output back: :mod:`autograder.sandbox.readback`) and its own :class:`Limits`; a
*case* is one probe of a part. A :class:`Sandbox` keeps the zygote (torch already imported)
alive across jobs, so a job costs a ``fork`` rather than a Python start-up. A hang, a crash
or a kill ends the part it happened in, and the parts after it are left for the caller to
run in a fresh child. If the zygote itself dies or stops answering, it is restarted and
the part that was running is reported as failed, never retried blindly.
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
from pathlib import Path

import torch
from safetensors.torch import save_file

from autograder.sandbox import isolation as iso
from autograder.sandbox.limits import Limits
from autograder.sandbox.readback import PartOutcome, collect

START_TIMEOUT = 120.0
TASK_COUNT_SECONDS = 2.0

# What the sandbox runs for one part: its request (``part.json``: see
# :mod:`autograder.drivers.runtime`), its probe tensors and its limits.
PartRequest = tuple[dict, dict[str, torch.Tensor], Limits]


class SandboxError(RuntimeError):
    """The sandbox could not be started or stopped answering."""


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

    def run(self, part: dict, probes: dict[str, torch.Tensor], limits: Limits) -> PartOutcome:
        """Run one part alone, as a job of its own (see :mod:`autograder.drivers.runtime`
        for ``part``'s keys)."""
        outcomes = self.run_parts([(part, probes, limits)])
        return outcomes[0] if outcomes else PartOutcome("sandbox-failed: nothing ran", 0.0)

    def run_parts(self, requests: list[PartRequest]) -> list[PartOutcome]:
        """Run one submission's parts as one job: in order, in one fresh child, each with its
        own limits. One outcome per part that started: if one is stopped (a hang, a crash),
        the list ends with it, and the parts after it have not run."""
        self.start()
        job_dir = self._fresh_job_dir()
        parts = []
        for index, (part, probes, limits) in enumerate(requests):
            part_dir = job_dir / str(index)
            part_dir.mkdir(mode=0o700)
            with open(part_dir / "part.json", "w") as fh:
                json.dump({**part, "threads": limits.threads}, fh)
            tensors = {k: v.contiguous() for k, v in probes.items()}
            save_file(tensors, part_dir / "probes.safetensors")
            for name in ("part.json", "probes.safetensors"):  # readable, not writable
                (part_dir / name).chmod(0o444)
            self._hand_over(part_dir)
            parts.append({"dir": str(index), "timeout": limits.wall, "cpu": float(limits.cpu)})
        self._hand_over(job_dir)
        every = [limits for _, _, limits in requests]
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
            return [PartOutcome("sandbox-failed: the sandbox had stopped", 0.0)]
        answer = self._readline(sum(x.wall for x in every) + 60)
        seconds = time.monotonic() - started
        results = answer.get("parts") if answer and answer.get("job") == inside else None
        if not isinstance(results, list) or not results:
            self._kill()
            outcomes = self._salvage(job_dir, len(requests), seconds)
            _remove(job_dir)
            return outcomes
        outcomes = []
        for index, item in enumerate(results[: len(requests)]):
            item = item if isinstance(item, dict) else {}
            outcome = PartOutcome(
                str(item.get("status"))[:100],
                _number(item.get("seconds")),
                _number(item.get("cpu")),
            )
            collect(job_dir / str(index), outcome)
            outcomes.append(outcome)
        _remove(job_dir)
        return outcomes

    def _salvage(self, job_dir: Path, count: int, seconds: float) -> list[PartOutcome]:
        """The zygote died or stopped answering during a job: the parts that finished keep
        their results; the one that was running is the one that failed."""
        outcomes = []
        for index in range(count):
            outcome = PartOutcome("ok", 0.0)
            collect(job_dir / str(index), outcome)
            if not outcome.finished:
                outcome.status = "sandbox-failed: the sandbox stopped answering"
                outcome.seconds = seconds
                outcomes.append(outcome)
                break
            outcomes.append(outcome)
        return outcomes


def _number(value) -> float:
    return float(value) if isinstance(value, int | float) and 0 <= value < 1e9 else 0.0


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
